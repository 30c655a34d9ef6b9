"""Serves the MLflow server's Prometheus metrics on a port of their own, for the chart's `metrics`
sidecar. MLflow (`--expose-prometheus DIR`, prometheus-flask-exporter in multiprocess mode) writes
its request counts and latencies to files in DIR, and serves them at /metrics only behind its basic
auth, which fails closed for every user but the admin on that route. This process reads the same
files (a shared emptyDir) and serves them without credentials; the chart's NetworkPolicy or the
platform's decides who may reach the port.
Environment: METRICS_DIR, METRICS_PORT. Needs prometheus_client (in the MLflow image).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector


def main() -> None:
    directory = Path(os.environ["METRICS_DIR"])
    # The server creates it too; whichever starts first.
    directory.mkdir(parents=True, exist_ok=True)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))
    port = int(os.environ["METRICS_PORT"])
    start_http_server(port, registry=registry)
    print(f"serving the metrics in {directory} on port {port}", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
