"""The model server (mlops_components.serving): its metrics middleware on a stand-in app, and the real
thing, MLflow's scoring server for a registered model on a real port, answering predictions and
counting them at /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from mlops_components import core, drift, serving


def _call(app, method: str, path: str) -> tuple[int, bytes]:
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(app({"type": "http", "method": method, "path": path, "headers": []}, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


async def _answers(scope, receive, send):
    if scope["path"] == "/boom":
        raise RuntimeError("the model failed")
    status = 200 if scope["path"] in ("/ping", "/invocations") else 404
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def test_the_middleware_counts_by_route_and_status_and_serves_the_text_format():
    metrics = serving.RequestMetrics()
    app = serving.MetricsMiddleware(_answers, metrics)
    assert _call(app, "POST", "/invocations")[0] == 200
    assert _call(app, "GET", "/ping")[0] == 200
    assert _call(app, "GET", "/no/such/route/123")[0] == 404
    with pytest.raises(RuntimeError):
        _call(app, "POST", "/boom")
    status, body = _call(app, "GET", "/metrics")
    assert status == 200
    text = body.decode()
    assert 'model_server_requests_total{path="/invocations",method="POST",status="200"} 1' in text
    assert 'model_server_requests_total{path="other",method="GET",status="404"} 1' in text, "unknown paths share one label"
    assert 'model_server_requests_total{path="other",method="POST",status="500"} 1' in text, "a raising handler counts as 500"
    assert 'model_server_request_duration_seconds_count{path="/invocations"} 1' in text
    assert 'model_server_request_duration_seconds_bucket{path="/invocations",le="+Inf"} 1' in text
    assert "/metrics" not in text.replace("# ", ""), "the scrape itself is not counted"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def _serving(model_uri: str) -> Iterator[str]:
    """The model server for `model_uri` on a free local port; yields its URL."""
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(serving.app_for(model_uri), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            assert time.monotonic() < deadline, "the model server did not start within 60 s"
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _predict(url: str, inputs) -> list:
    request = urllib.request.Request(  # noqa: S310 - the local server
        f"{url}/invocations", method="POST", headers={"Content-Type": "application/json"},
        data=json.dumps({"dataframe_split": {"columns": list(inputs.columns), "data": inputs.values.tolist()}}).encode())
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the local server
        return json.load(response)["predictions"]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - the local server
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """A file-store MLflow, and iris split and trained on as the pipeline does."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    train, test = core.split(core.load_dataset("iris"), 0.25, seed=42)
    model = core.train(train, "logistic_regression", seed=42)
    path = str(tmp_path / "model.joblib")
    core.save_model(model, path)
    return model, path, train, test


def test_the_server_predicts_counts_at_metrics_and_follows_its_inputs_drift(registry):
    import mlflow

    model, path, train, test = registry
    registered = core.register(path, test, "/unit/serving", "unit-serving", {}, core.evaluate(model, test), {}, training=train)
    assert mlflow.get_run(registered["run_id"])
    with _serving(registered["model_uri"]) as url:
        inputs = core.features(test)
        assert _predict(url, inputs) == model.predict(inputs).tolist()
        bad = urllib.request.Request(f"{url}/invocations", method="POST",  # noqa: S310 - the local server
                                     headers={"Content-Type": "application/json"}, data=b'{"not": "an input"}')
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(bad, timeout=30)  # noqa: S310 - the local server
        assert refused.value.code == 400
        status, text = _get(f"{url}/metrics")
        assert status == 200
        assert 'model_server_requests_total{path="/invocations",method="POST",status="200"} 1' in text, text
        assert 'model_server_requests_total{path="/invocations",method="POST",status="400"} 1' in text, text
        assert f"model_input_drift_window_rows {len(test)}" in text
        assert "model_input_drift_psi{" not in text, f"no PSI below {drift.MIN_ROWS} rows"

        # Inputs like the training data's: no drift. Then inputs far from them (each feature 3 of its
        # standard deviations higher): drift over the threshold on every feature.
        _predict(url, core.features(train))
        quiet = json.loads(_get(f"{url}/drift")[1])
        assert quiet["rows"] == len(test) + len(train)
        assert quiet["max_psi"] < 0.1, quiet
        shifted = core.features(train)
        shifted = shifted + 3 * shifted.std()
        for _ in range(drift.WINDOW_ROWS // len(shifted) + 1):
            _predict(url, shifted)
        moved = json.loads(_get(f"{url}/drift")[1])
        assert moved["rows"] == drift.WINDOW_ROWS
        assert set(moved["psi"]) == set(inputs.columns)
        assert min(moved["psi"].values()) > drift.DRIFT_THRESHOLD, moved
        text = _get(f"{url}/metrics")[1]
        column = inputs.columns[0]
        assert f'model_input_drift_psi{{feature="{column}"}} {moved["psi"][column]}' in text, text

    # The drift check records it in MLflow: one run per model version, one step per check.
    version = registered["model_version"]
    run_id = drift.record(quiet, "unit-serving", version, now=1_796_000_000)
    assert drift.record(moved, "unit-serving", version, now=1_796_000_900) == run_id
    client = mlflow.MlflowClient()
    run = client.get_run(run_id)
    assert run.info.run_name == f"drift-unit-serving-v{version}"
    assert run.info.experiment_id == registered["experiment_id"]
    assert run.data.tags["mlops.drift.training_run"] == registered["run_id"]
    history = client.get_metric_history(run_id, "drift.max_psi")
    assert [(m.step, m.value) for m in history] == [(29_933_333, quiet["max_psi"]), (29_933_348, moved["max_psi"])]


def test_a_model_without_training_statistics_is_served_without_drift(registry):
    model, path, _, test = registry
    registered = core.register(path, test, "/unit/serving", "unit-plain", {}, core.evaluate(model, test), {})
    with _serving(registered["model_uri"]) as url:
        assert _predict(url, core.features(test)) == model.predict(core.features(test)).tolist()
        status, body = _get(f"{url}/drift")
        assert status == 404
        assert "no training statistics" in json.loads(body)["error"]
        assert "model_input_drift" not in _get(f"{url}/metrics")[1]
