"""The research groups' model server: MLflow's scoring server (the FastAPI app that `mlflow models
serve` runs: /invocations, /ping, /health, /version) with Prometheus metrics at GET /metrics on the
same port, which the platform's Prometheus scrapes (the Monitoring component, job `model-servers`):

    model_server_requests_total{path, method, status}       requests answered, by status code
    model_server_request_duration_seconds{path}              a histogram of their duration

`path` is one of the scoring server's routes or `other` (the label's values stay few). Errors are the
requests with status 5xx (the alert ModelServerErrors). Standard library only besides what the
pipeline image has (mlflow, uvicorn).

    python -m mlops_components.serving --model-uri models:/<name>/<version> [--host H] [--port P]

The model is read from MLflow with the environment `mlflow models serve` uses (MLFLOW_TRACKING_URI,
MLFLOW_TRACKING_USERNAME/PASSWORD, MLFLOW_WORKSPACE; serving_manifests() sets them from the research
group's read-only identity).
"""

from __future__ import annotations

import argparse
import threading
import time
from collections import defaultdict

PATHS = ("/invocations", "/ping", "/health", "/version")
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
METRICS_PATH = "/metrics"


class RequestMetrics:
    """Counts and durations of the requests answered, in Prometheus's text format."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, str], int] = defaultdict(int)
        self._buckets: dict[str, list[int]] = defaultdict(lambda: [0] * len(BUCKETS))
        self._sums: dict[str, float] = defaultdict(float)
        self._counts: dict[str, int] = defaultdict(int)

    def observe(self, path: str, method: str, status: int, seconds: float) -> None:
        label = path if path in PATHS else "other"
        with self._lock:
            self._requests[(label, method, str(status))] += 1
            buckets = self._buckets[label]
            for index, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    buckets[index] += 1
            self._sums[label] += seconds
            self._counts[label] += 1

    def exposition(self) -> str:
        lines = ["# HELP model_server_requests_total Requests the model server answered.",
                 "# TYPE model_server_requests_total counter"]
        with self._lock:
            for (path, method, status), count in sorted(self._requests.items()):
                lines.append(f'model_server_requests_total{{path="{path}",method="{method}",status="{status}"}} {count}')
            lines += ["# HELP model_server_request_duration_seconds How long the model server took to answer.",
                      "# TYPE model_server_request_duration_seconds histogram"]
            for path in sorted(self._counts):
                for bound, count in zip(BUCKETS, self._buckets[path], strict=True):
                    lines.append(f'model_server_request_duration_seconds_bucket{{path="{path}",le="{bound}"}} {count}')
                lines.append(f'model_server_request_duration_seconds_bucket{{path="{path}",le="+Inf"}} {self._counts[path]}')
                lines.append(f'model_server_request_duration_seconds_sum{{path="{path}"}} {self._sums[path]}')
                lines.append(f'model_server_request_duration_seconds_count{{path="{path}"}} {self._counts[path]}')
        return "\n".join(lines) + "\n"


class MetricsMiddleware:
    """ASGI: answers GET /metrics itself and measures every other HTTP request of `app`. A request
    whose handler raises counts as 500."""

    def __init__(self, app, metrics: RequestMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == METRICS_PATH and scope["method"] == "GET":
            body = self.metrics.exposition().encode()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/plain; version=0.0.4; charset=utf-8"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        status = 500
        start = time.perf_counter()

        async def send_and_note(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        except Exception:
            status = 500
            raise
        finally:
            self.metrics.observe(scope["path"], scope["method"], status, time.perf_counter() - start)


def app_for(model_uri: str):
    """MLflow's scoring app for the model at `model_uri`, measured."""
    import mlflow.pyfunc
    from mlflow.pyfunc import scoring_server

    return MetricsMiddleware(scoring_server.init(mlflow.pyfunc.load_model(model_uri)), RequestMetrics())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="mlops_components.serving", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-uri", required=True, help="models:/<name>/<version> or any MLflow model URI")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    import uvicorn

    uvicorn.run(app_for(args.model_uri), host=args.host, port=args.port, workers=1, log_level="info")


if __name__ == "__main__":
    main()
