"""The model server (mlops_components.serving): its metrics middleware on a stand-in app, and the real
thing, MLflow's scoring server for a registered model on a real port, answering predictions and
counting them at /metrics."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest
from mlops_components import core, serving


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


def test_the_server_predicts_with_a_registered_model_and_counts_at_metrics(tmp_path, monkeypatch):
    import mlflow
    import uvicorn

    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    train, test = core.split(core.load_dataset("iris"), 0.25, seed=42)
    model = core.train(train, "logistic_regression", seed=42)
    path = str(tmp_path / "model.joblib")
    core.save_model(model, path)
    registered = core.register(path, test, "/unit/serving", "unit-serving", {}, core.evaluate(model, test), {})
    assert mlflow.get_run(registered["run_id"])

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(serving.app_for(registered["model_uri"]), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            assert time.monotonic() < deadline, "the model server did not start within 60 s"
            time.sleep(0.2)
        inputs = core.features(test)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations", method="POST", headers={"Content-Type": "application/json"},
            data=json.dumps({"dataframe_split": {"columns": list(inputs.columns), "data": inputs.values.tolist()}}).encode())
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the local server
            predictions = json.load(response)["predictions"]
        assert predictions == model.predict(inputs).tolist()
        bad = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", method="POST",
                                     headers={"Content-Type": "application/json"}, data=b'{"not": "an input"}')
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(bad, timeout=30)  # noqa: S310 - the local server
        assert refused.value.code == 400
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
            text = response.read().decode()
        assert 'model_server_requests_total{path="/invocations",method="POST",status="200"} 1' in text, text
        assert 'model_server_requests_total{path="/invocations",method="POST",status="400"} 1' in text, text
    finally:
        server.should_exit = True
        thread.join(timeout=30)
