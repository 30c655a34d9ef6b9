"""The dashboard's server (platform_dashboard/server.py) on a port, against a stand-in Prometheus on
another: what the page draws, how it says what went wrong, and its panels' PromQL under promtool.
A fast layer; tests/platform/test_dashboard.py opens the deployed one in a real browser."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from platform_dashboard import server

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
NOW = 1_796_000_000.0


@contextlib.contextmanager
def _serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _stand_in(answers: dict[str, dict], seen: list[dict]) -> type[BaseHTTPRequestHandler]:
    """A Prometheus answering each query_range by the first key of `answers` found in the query
    (an empty matrix otherwise) and /api/v1/alerts with answers["alerts"]; `seen` gets the parameters."""
    class StandIn(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            params = {key: values[0] for key, values in urllib.parse.parse_qs(query).items()}
            seen.append({"path": path, **params})
            if path.endswith("/alerts"):
                body, status = {"status": "success", "data": {"alerts": answers.get("alerts", [])}}, 200
            else:
                found = next((answer for key, answer in answers.items() if key in params.get("query", "")), None)
                if found and found.get("status") == "error":
                    body, status = found, 400
                else:
                    body, status = {"status": "success", "data": {"resultType": "matrix", "result": found["result"] if found else []}}, 200
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_args: object) -> None:
            pass

    return StandIn


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - the test's own server
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@contextlib.contextmanager
def _dashboard(answers: dict[str, dict], seen: list[dict] | None = None) -> Iterator[str]:
    with _serving(_stand_in(answers, seen if seen is not None else [])) as prometheus, \
            _serving(server.handler(server.Prometheus(prometheus))) as dashboard:
        yield dashboard


def _panels(page: str) -> dict[str, str]:
    """panel title -> its section's data-series attribute."""
    return dict((title, count) for count, title in re.findall(r'<section class="panel" data-series="([^"]+)"><h2>([^<]+?) <small>', page))


def _matrix(*series: tuple[dict, list[tuple[float, float]]]) -> dict:
    return {"result": [{"metric": labels, "values": [[t, str(v)] for t, v in points]} for labels, points in series]}


def test_every_panel_draws_its_series_with_a_legend_of_the_last_values():
    points = [(NOW - 3600 + i * 15, i / 10) for i in range(241)]
    answers = {"container_memory_working_set_bytes": _matrix(({"group": "vision"}, points), ({"group": "nlp"}, points[:10])),
               "sum by (job) (up)": _matrix(({"job": "mlflow"}, [(NOW, 1)]))}
    with _dashboard(answers) as url:
        status, page = _get(url + "/")
    assert status == 200
    panels = _panels(page)
    assert set(panels) == {p.title for p in server.PANELS}
    assert panels["Memory by research group"] == "2"
    assert panels["Scrape targets up by job"] == "1"
    assert panels["Model server requests"] == "0"
    assert page.count('<p class="empty">no data in this period</p>') == len(server.PANELS) - 2
    memory = page.split("Memory by research group", 1)[1].split("</section>", 1)[0]
    assert memory.count("<polyline") == 2
    assert "nlp: 0.9 GiB" in memory, "the legend: each series' last value"
    assert memory.index("nlp: 0.9 GiB") < memory.index("vision: 24 GiB"), "sorted by name"
    assert "<circle" in page, "a series of one sample is a dot"
    assert '<section class="alerts" data-alerts="0">' in page


def test_a_series_with_a_gap_is_drawn_as_two_lines():
    step = 15
    points = [(NOW - 3600 + i * step, 1.0) for i in range(100)] + [(NOW - 3600 + i * step, 2.0) for i in range(150, 241)]
    with _dashboard({"container_memory_working_set_bytes": _matrix(({"group": "vision"}, points))}) as url:
        _, page = _get(url + "/")
    memory = page.split("Memory by research group", 1)[1].split("</section>", 1)[0]
    assert memory.count("<polyline") == 2


def test_the_period_sets_the_range_and_the_step_of_every_query():
    seen: list[dict] = []
    with _dashboard({}, seen) as url:
        status, page = _get(url + "/?hours=24")
    ranges = [s for s in seen if s["path"].endswith("/query_range")]
    assert status == 200
    assert len(ranges) == len(server.PANELS)
    assert all(float(s["end"]) - float(s["start"]) == pytest.approx(86400, abs=1) for s in ranges)
    assert {s["step"] for s in ranges} == {"360"}, "240 points over the day"
    assert '<a href="?hours=24" class=current>' in page


@pytest.mark.parametrize("query", ["hours=5", "hours=abc", "hours=1&hours=6", "hours="])
def test_a_period_not_offered_is_refused_with_the_ones_that_are(query):
    with _dashboard({}) as url:
        status, body = _get(f"{url}/?{query}")
    assert (status, body) == (400, "hours must be one of 1, 6, 24, 168\n")


def test_health_and_unknown_paths():
    with _dashboard({}) as url:
        assert _get(url + "/healthz") == (200, "ok\n")
        assert _get(url + "/metrics")[0] == 404


def test_a_refused_query_is_shown_in_its_panel_and_the_others_still_draw():
    answers = {"argo_workflows_gauge": {"status": "error", "errorType": "bad_data", "error": "parse error: unexpected <by>"},
               "sum by (job) (up)": _matrix(({"job": "mlflow"}, [(NOW - 60, 1), (NOW, 1)]))}
    with _dashboard(answers) as url:
        status, page = _get(url + "/")
    assert status == 200
    panels = _panels(page)
    assert panels["Pipeline runs by status"] == "error"
    assert panels["Scrape targets up by job"] == "1"
    assert "Prometheus refused query_range: parse error: unexpected &lt;by&gt;" in page


def test_an_unreachable_prometheus_is_said_in_every_panel_not_a_server_error():
    with _serving(server.handler(server.Prometheus("http://127.0.0.1:9", timeout=5))) as url:
        status, page = _get(url + "/")
    assert status == 200
    assert set(_panels(page).values()) == {"error"}
    assert page.count("Prometheus at http://127.0.0.1:9 did not answer") == len(server.PANELS) + 1, "panels and alerts"


def test_label_values_and_alerts_are_escaped():
    hostile = "<script>alert(1)</script>"
    alert = {"state": "firing", "labels": {"alertname": "ModelServerDown", "severity": "critical"},
             "annotations": {"summary": f"Model server research-nlp/{hostile} serves nothing"}, "activeAt": "2026-12-07T03:00:00Z"}
    answers = {"model_server_requests_total": _matrix(({"namespace": "research-nlp", "app": hostile}, [(NOW, 1)])),
               "alerts": [alert, {**alert, "state": "inactive"},
                          {"state": "firing", "labels": {"alertname": "Watchdog", "severity": "none"}, "annotations": {}}]}
    with _dashboard(answers) as url:
        _, page = _get(url + "/")
    assert "<script>" not in page
    assert "research-nlp/&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert '<section class="alerts" data-alerts="1">' in page, "inactive alerts and the Watchdog (severity none) are not listed"
    assert "Watchdog" not in page
    assert '<tr class="firing"><td>firing</td><td>ModelServerDown</td><td>critical</td>' in page


def test_the_axis_top_is_a_round_number_above_the_highest_value():
    assert [server._nice_top(v) for v in (0, 0.3, 1, 1.2, 2.4, 3, 7, 42)] == [1, 0.5, 1, 2, 2.5, 5, 10, 50]


def test_the_program_needs_a_prometheus_url(capsys):
    with pytest.raises(SystemExit) as exited:
        server.main(["--prometheus", "prometheus:9090"])
    assert exited.value.code == 2
    assert "give Prometheus's http(s) URL" in capsys.readouterr().err


@pytest.fixture(scope="module")
def promtool() -> str:
    built = subprocess.run(["bash", str(ROOT / "offline" / "promtool.sh")], capture_output=True, text=True, check=False)
    assert built.returncode == 0, f"offline/promtool.sh failed:\n{built.stderr[-3000:]}"
    return built.stdout.strip().splitlines()[-1]


def _panel(title: str) -> server.Panel:
    (found,) = [p for p in server.PANELS if p.title == title]
    return found


def test_the_research_group_panels_sum_the_groups_namespaces_only(promtool, tmp_path):
    """promtool evaluates the panels' PromQL over made-up series: two namespaces of one group add up,
    a namespace of no group is left out, a GPU pod counts while it runs only, a group's queued steps
    are counted from its ClusterQueues whatever their status (once: a follower Kueue's count is left out)."""
    gib = 2**30
    series = [
        {"series": 'kube_namespace_labels{namespace="research-vision",label_mlops_platform_tenant="vision"}', "values": "1x10"},
        {"series": 'kube_namespace_labels{namespace="research-vision-2",label_mlops_platform_tenant="vision"}', "values": "1x10"},
        {"series": 'kube_namespace_labels{namespace="research-nlp",label_mlops_platform_tenant="nlp"}', "values": "1x10"},
        {"series": 'container_memory_working_set_bytes{namespace="research-vision",pod="a",container="c"}', "values": f"{gib}x10"},
        {"series": 'container_memory_working_set_bytes{namespace="research-vision-2",pod="b",container="c"}', "values": f"{2 * gib}x10"},
        {"series": 'container_memory_working_set_bytes{namespace="research-nlp",pod="c",container="c"}', "values": f"{gib // 2}x10"},
        {"series": 'container_memory_working_set_bytes{namespace="mlops-mlflow",pod="d",container="c"}', "values": f"{8 * gib}x10"},
        # The pod's own total (container="") is not counted twice.
        {"series": 'container_memory_working_set_bytes{namespace="research-nlp",pod="c",container=""}', "values": f"{gib}x10"},
        {"series": 'container_cpu_usage_seconds_total{namespace="research-nlp",pod="c",container="c"}', "values": "0+30x10"},
        {"series": 'kube_pod_container_resource_requests{namespace="research-vision",pod="g",container="c",resource="nvidia_com_gpu"}',
         "values": "2x10"},
        {"series": 'kube_pod_status_phase{namespace="research-vision",pod="g",phase="Running"}', "values": "1x10"},
        {"series": 'kube_pod_container_resource_requests{namespace="research-nlp",pod="p",container="c",resource="nvidia_com_gpu"}',
         "values": "1x10"},
        {"series": 'kube_pod_status_phase{namespace="research-nlp",pod="p",phase="Running"}', "values": "0x10"},
        # Kueue's pending workloads by ClusterQueue (named after the tenant namespace) and status.
        {"series": 'kueue_pending_workloads{job="kueue",cluster_queue="research-vision",status="active",replica_role="leader"}',
         "values": "3x10"},
        {"series": 'kueue_pending_workloads{job="kueue",cluster_queue="research-vision",status="active",replica_role="follower"}',
         "values": "3x10"},
        {"series": 'kueue_pending_workloads{job="kueue",cluster_queue="research-vision",status="inadmissible"}', "values": "1x10"},
        {"series": 'kueue_pending_workloads{job="kueue",cluster_queue="research-vision-2",status="active"}', "values": "2x10"},
        {"series": 'kueue_pending_workloads{job="kueue",cluster_queue="research-nlp",status="active"}', "values": "0x10"},
        {"series": 'kueue_pending_workloads{job="kueue",cluster_queue="no-tenant",status="active"}', "values": "7x10"},
    ]
    tests = {"tests": [{"interval": "1m", "input_series": series, "promql_expr_test": [
        {"expr": _panel("Memory by research group").promql, "eval_time": "5m",
         "exp_samples": [{"labels": '{group="vision"}', "value": 3}, {"labels": '{group="nlp"}', "value": 0.5}]},
        {"expr": _panel("CPU by research group").promql, "eval_time": "5m",
         "exp_samples": [{"labels": '{group="nlp"}', "value": 0.5}]},
        {"expr": _panel("GPUs allocated by research group").promql, "eval_time": "5m",
         "exp_samples": [{"labels": '{group="vision"}', "value": 2}]},
        {"expr": _panel("Pipeline steps waiting in the queue by research group").promql, "eval_time": "5m",
         "exp_samples": [{"labels": '{group="vision"}', "value": 6}, {"labels": '{group="nlp"}', "value": 0}]},
    ]}]}
    path = tmp_path / "panels.test.yml"
    path.write_text(yaml.safe_dump(tests))
    checked = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_panel_is_valid_promql(promtool, tmp_path):
    rules = {"groups": [{"name": "panels", "rules": [{"record": f"panel:{i}", "expr": p.promql} for i, p in enumerate(server.PANELS)]}]}
    path = tmp_path / "panels.yml"
    path.write_text(yaml.safe_dump(rules))
    checked = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
