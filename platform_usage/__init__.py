"""Usage of the platform per research group, from its Prometheus (make usage-report)."""
