"""The platform's dashboard: charts drawn from its Prometheus, served in the cluster (make dashboard)."""
