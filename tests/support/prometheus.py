"""The platform's Prometheus (the Monitoring component) for the tests: its HTTP API through
`kubectl port-forward`."""

from __future__ import annotations

import contextlib
import json
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator

from infra.components.monitoring import PROMETHEUS_PORT, PROMETHEUS_SERVICE
from tests.support.platform import CFG, port_forward


@contextlib.contextmanager
def prometheus_api() -> Iterator[Callable[..., dict]]:
    """A function (path, **params) -> the `data` of Prometheus's answer, failing on an error."""
    with port_forward(CFG.monitoring.namespace, PROMETHEUS_SERVICE, PROMETHEUS_PORT) as port:
        def api(path: str, **params: str) -> dict:
            url = f"http://127.0.0.1:{port}/api/v1/{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
            with urllib.request.urlopen(url, timeout=30) as response:
                answer = json.load(response)
            assert answer["status"] == "success", answer
            return answer["data"]
        yield api


def query(api: Callable[..., dict], promql: str) -> list[dict]:
    """An instant query's vector."""
    return api("query", query=promql)["result"]
