"""The research groups' model server: MLflow's scoring server (the FastAPI app that `mlflow models
serve` runs: /invocations, /ping, /health, /version) with Prometheus metrics at GET /metrics on the
same port, which the platform's Prometheus scrapes (the Monitoring component, job `model-servers`):

    model_server_requests_total{path, method, status}       requests answered, by status code
    model_server_request_duration_seconds{path}              a histogram of their duration

    model_input_drift_psi{feature}                          the recent inputs' drift from the training data
    model_input_drift_window_rows                            how many recent input rows that compares

`path` is one of the scoring server's routes or `other` (the label's values stay few). Errors are the
requests with status 5xx (the alert ModelServerErrors). The server keeps its last input rows and
compares them with the training data's statistics that registration logged with the model
(mlops_components.drift): the gauges above (alert ModelInputDrift) and GET /drift (JSON, read by the
drift check that records it in MLflow). Standard library only besides what the pipeline image has
(mlflow, uvicorn).

    python -m mlops_components.serving --model-uri models:/<name>/<version> [--host H] [--port P]

The model is read from MLflow with the environment `mlflow models serve` uses (MLFLOW_TRACKING_URI,
MLFLOW_TRACKING_USERNAME/PASSWORD, MLFLOW_WORKSPACE; serving_manifests() sets them from the research
group's read-only identity).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
from collections import defaultdict

PATHS = ("/invocations", "/ping", "/health", "/version")
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
METRICS_PATH = "/metrics"
DRIFT_PATH = "/drift"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def drift_exposition(report: dict) -> str:
    """The drift gauges of a Window.report() in Prometheus's text format (no PSI below its min_rows)."""
    lines = ["# HELP model_input_drift_window_rows Recent input rows the drift compares with the training data.",
             "# TYPE model_input_drift_window_rows gauge", f"model_input_drift_window_rows {report['rows']}",
             "# HELP model_input_drift_psi Population stability index of the recent inputs against the training data.",
             "# TYPE model_input_drift_psi gauge"]
    lines += [f'model_input_drift_psi{{feature="{_label(name)}"}} {value}' for name, value in sorted(report["psi"].items())
              if not math.isnan(value)]
    return "\n".join(lines) + "\n"


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
    """ASGI: answers GET /metrics and GET /drift itself and measures every other HTTP request of `app`.
    A request whose handler raises counts as 500. `drift`: the Window of the model's recent inputs
    (None: the model has no training statistics; /drift says so)."""

    def __init__(self, app, metrics: RequestMetrics, drift=None) -> None:
        self.app = app
        self.metrics = metrics
        self.drift = drift

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == METRICS_PATH and scope["method"] == "GET":
            text = self.metrics.exposition() + (drift_exposition(self.drift.report()) if self.drift else "")
            await _answer(send, 200, b"text/plain; version=0.0.4; charset=utf-8", text.encode())
            return
        if scope["path"] == DRIFT_PATH and scope["method"] == "GET":
            if self.drift is None:
                body = {"error": "this model has no training statistics (drift/reference.json in its MLflow run): "
                                 "register it with mlops_components' register_model to follow its drift"}
                await _answer(send, 404, b"application/json", json.dumps(body).encode())
            else:
                await _answer(send, 200, b"application/json", json.dumps(self.drift.report()).encode())
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


async def _answer(send, status: int, content_type: bytes, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class RecordingModel:
    """The loaded model, noting every input it predicts for in `window` first."""

    def __init__(self, model, window) -> None:
        self._model = model
        self._window = window

    def predict(self, data, params=None):
        self._window.add(data)
        return self._model.predict(data, params=params)

    def __getattr__(self, name: str):
        return getattr(self._model, name)


def training_statistics(model) -> dict | None:
    """The drift reference registration logged in the model's MLflow run, or None (an older model)."""
    import mlflow

    from mlops_components.drift import REFERENCE_ARTIFACT

    run_id = getattr(model.metadata, "run_id", None)
    if not run_id:
        return None
    try:
        path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=REFERENCE_ARTIFACT)
    except Exception as exc:  # MLflow raises several kinds for a missing artifact
        print(f"model server: no drift reference in run {run_id} ({exc.__class__.__name__}): serving without drift",
              file=sys.stderr)
        return None
    with open(path) as file:
        return json.load(file)


def app_for(model_uri: str):
    """MLflow's scoring app for the model at `model_uri`, measured, following its inputs' drift."""
    import mlflow.pyfunc
    from mlflow.pyfunc import scoring_server

    from mlops_components.drift import Window

    model = mlflow.pyfunc.load_model(model_uri)
    stats = training_statistics(model)
    window = Window(stats) if stats else None
    served = RecordingModel(model, window) if window else model
    return MetricsMiddleware(scoring_server.init(served), RequestMetrics(), window)


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
