"""The platform's dashboard: one page of charts drawn from Prometheus, served in the cluster.

Runs in the pod of the Deployment `dashboard` (the Monitoring component, infra/components/monitoring.py),
mounted from the ConfigMap `dashboard-program` on the MLflow image: standard library only. Each
request of the page queries Prometheus's range API for every panel and draws the answers as SVG
line charts on the server: the page needs no script, refreshes itself every minute, and shows what
Prometheus knows, or, panel by panel, why it could not.

    GET /             the overview over the last hour (?hours=6, 24 or 168 for longer)
    GET /healthz      "ok" (the readiness probe; asks Prometheus nothing)

    python3 server.py [--port 8080] [--prometheus http://prometheus:9090]   (or PROMETHEUS_URL)
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import json
import math
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# kube-state-metrics' label of the tenant namespaces (`mlops-platform/tenant`, allowlisted by the
# Monitoring component) and, renamed, the research group of every series the panels sum by it.
TENANT_LABEL = "label_mlops_platform_tenant"
_TENANTS = (f'label_replace(max by (namespace, {TENANT_LABEL}) (kube_namespace_labels{{{TENANT_LABEL}!=""}}), '
            f'"group", "$1", "{TENANT_LABEL}", "(.+)")')
GPU_RESOURCE = "nvidia_com_gpu"
_RUNNING = 'max by (namespace, pod) (kube_pod_status_phase{phase="Running"}) == 1'


def by_group(expr: str) -> str:
    """`expr`, a vector with a `namespace` label, summed by the research group owning the namespace."""
    return f"sum by (group) (({expr}) * on (namespace) group_left (group) {_TENANTS})"


@dataclass(frozen=True)
class Panel:
    title: str
    unit: str
    promql: str
    # The legend of a series: its labels' values, joined by "/".
    legend: tuple[str, ...]


PANELS = (
    Panel("CPU by research group", "cores",
          by_group('sum by (namespace) (rate(container_cpu_usage_seconds_total{container!=""}[5m]))'), ("group",)),
    Panel("Memory by research group", "GiB",
          by_group('sum by (namespace) (container_memory_working_set_bytes{container!=""})') + " / 1073741824", ("group",)),
    Panel("GPUs allocated by research group", "GPUs",
          by_group(f'sum by (namespace) (kube_pod_container_resource_requests{{resource="{GPU_RESOURCE}"}} '
                   f'* on (namespace, pod) group_left () ({_RUNNING}))'), ("group",)),
    # Kueue's workloads (pipeline steps) waiting for their group's queue; a ClusterQueue is named after its
    # tenant namespace (infra/components/queueing.py). Followers of a Kueue run with several replicas
    # report too: the leader's (or a lone replica's) count.
    Panel("Pipeline steps waiting in the queue by research group", "steps",
          by_group('label_replace(sum by (cluster_queue) (kueue_pending_workloads{job="kueue",replica_role!="follower"}), '
                   '"namespace", "$1", "cluster_queue", "(.+)")'), ("group",)),
    Panel("Model server requests", "requests/s",
          'sum by (namespace, app) (rate(model_server_requests_total{job="model-servers"}[5m]))', ("namespace", "app")),
    Panel("Model server latency, 95th percentile", "s",
          "histogram_quantile(0.95, sum by (namespace, app, le) "
          '(rate(model_server_request_duration_seconds_bucket{job="model-servers"}[5m])))', ("namespace", "app")),
    # The population stability index of the recent inputs against the training data (mlops_components.drift).
    Panel("Model input drift, largest PSI of a feature", "PSI",
          'max by (namespace, app) (model_input_drift_psi{job="model-servers"})', ("namespace", "app")),
    # Argo's workflows (the pipeline runs) that exist now, by their status.
    Panel("Pipeline runs by status", "runs", "sum by (status) (argo_workflows_gauge)", ("status",)),
    Panel("MLflow requests by status", "requests/s",
          'sum by (status) (rate(mlflow_http_request_total{job="mlflow"}[5m]))', ("status",)),
    Panel("CPU by namespace", "cores",
          'sum by (namespace) (rate(container_cpu_usage_seconds_total{container!=""}[5m]))', ("namespace",)),
    Panel("Scrape targets up by job", "targets", "sum by (job) (up)", ("job",)),
)
RANGES_H = (1, 6, 24, 168)
# Points per series: enough for a smooth line at the chart's width, few enough for a quick page.
POINTS = 240
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")
WIDTH, HEIGHT = 440, 170
_LEFT, _RIGHT, _TOP, _BOTTOM = 48, 8, 8, 22


class PrometheusError(Exception):
    """Prometheus did not answer, or refused the query: the panel says so."""


class Prometheus:
    def __init__(self, url: str, timeout: float = 20) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def get(self, path: str, **params: str) -> dict:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=self.timeout) as response:  # noqa: S310 - the configured Prometheus
                answer = json.load(response)
        except urllib.error.HTTPError as exc:
            try:
                answer = json.load(exc)
            except ValueError:
                raise PrometheusError(f"Prometheus answered {exc.code} to {path}") from None
        except (OSError, ValueError) as exc:
            raise PrometheusError(f"Prometheus at {self.url} did not answer {path}: {exc}") from None
        if answer.get("status") != "success":
            raise PrometheusError(f"Prometheus refused {path}: {answer.get('error', answer)}")
        return answer["data"]

    def range(self, promql: str, start: float, end: float, step: float) -> list[dict]:
        return self.get("query_range", query=promql, start=f"{start:.3f}", end=f"{end:.3f}", step=f"{step:g}")["result"]

    def alerts(self) -> list[dict]:
        return self.get("alerts")["alerts"]


@dataclass(frozen=True)
class Series:
    name: str
    points: tuple[tuple[float, float], ...]


def series(result: list[dict], legend: tuple[str, ...]) -> list[Series]:
    """Prometheus's matrix as named series, sorted by name; NaN and infinite values left out."""
    found = []
    for item in result:
        name = "/".join(item["metric"].get(label, "") for label in legend) or "(no label)"
        points = tuple((float(t), float(v)) for t, v in item["values"] if math.isfinite(float(v)))
        if points:
            found.append(Series(name, points))
    return sorted(found, key=lambda s: s.name)


def _nice_top(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten at or above `value` (the y axis' top)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 2.5, 5, 10) if step * power >= value)


def _number(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:.3g}"


def chart(found: list[Series], start: float, end: float, step: float) -> str:
    """An SVG line chart of `found` over [start, end]; a line breaks where a series has no sample."""
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM
    top = _nice_top(max((v for s in found for _, v in s.points), default=0))

    def x(t: float) -> float:
        return _LEFT + (t - start) / (end - start) * plot_w

    def y(v: float) -> float:
        return _TOP + plot_h - max(v, 0) / top * plot_h

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img">']
    for i in range(5):
        value = top * i / 4
        parts.append(f'<line x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}" stroke="#e3e3e3"/>')
        parts.append(f'<text x="{_LEFT - 4}" y="{y(value) + 4:.1f}" text-anchor="end" font-size="10" fill="#555">'
                     f"{_number(value)}</text>")
    for i in range(5):
        t = start + (end - start) * i / 4
        label = dt.datetime.fromtimestamp(t, dt.UTC).strftime("%H:%M" if end - start <= 86400 else "%d %H:%M")
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        parts.append(f'<text x="{x(t):.1f}" y="{HEIGHT - 6}" text-anchor="{anchor}" font-size="10" fill="#555">{label}</text>')
    for index, item in enumerate(found):
        color = PALETTE[index % len(PALETTE)]
        runs: list[list[tuple[float, float]]] = []
        previous = None
        for t, v in item.points:
            if previous is None or t - previous > step * 1.5:
                runs.append([])
            runs[-1].append((t, v))
            previous = t
        for run in runs:
            if len(run) == 1:
                (t, v), = run
                parts.append(f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="3" fill="{color}"/>')
            else:
                points = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in run)
                parts.append(f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2"/>')
    parts.append("</svg>")
    return "".join(parts)


def _legend(found: list[Series], unit: str) -> str:
    rows = "".join(f'<li><span class="swatch" style="background:{PALETTE[i % len(PALETTE)]}"></span>'
                   f"{html.escape(s.name)}: {_number(s.points[-1][1])} {html.escape(unit)}</li>"
                   for i, s in enumerate(found))
    return f'<ul class="legend">{rows}</ul>'


def panel_html(panel: Panel, prometheus: Prometheus, start: float, end: float, step: float) -> str:
    try:
        found = series(prometheus.range(panel.promql, start, end, step), panel.legend)
    except PrometheusError as exc:
        body = f'<p class="error">{html.escape(str(exc))}</p>'
        count = "error"
    else:
        count = str(len(found))
        body = chart(found, start, end, step) + (_legend(found, panel.unit) if found else '<p class="empty">no data in this period</p>')
    return (f'<section class="panel" data-series="{count}"><h2>{html.escape(panel.title)} '
            f'<small>({html.escape(panel.unit)})</small></h2>{body}</section>')


def alerts_html(prometheus: Prometheus) -> str:
    """The alerts pending or firing, firing first; not the Watchdog (severity `none`), which always fires:
    the heartbeat of the alerting path, for a dead man's switch, not something to act on."""
    try:
        alerts = [a for a in prometheus.alerts()
                  if a.get("state") in ("pending", "firing") and a["labels"].get("severity") != "none"]
    except PrometheusError as exc:
        return f'<section class="alerts"><h2>Alerts</h2><p class="error">{html.escape(str(exc))}</p></section>'
    if not alerts:
        return '<section class="alerts" data-alerts="0"><h2>Alerts</h2><p>none pending or firing</p></section>'
    order = {"firing": 0, "pending": 1}
    rows = "".join(
        f'<tr class="{a["state"]}"><td>{html.escape(a["state"])}</td><td>{html.escape(a["labels"].get("alertname", ""))}</td>'
        f'<td>{html.escape(a["labels"].get("severity", ""))}</td><td>{html.escape(a.get("annotations", {}).get("summary", ""))}</td>'
        f'<td>{html.escape(a.get("activeAt", "")[:19].replace("T", " "))}</td></tr>'
        for a in sorted(alerts, key=lambda a: (order[a["state"]], a["labels"].get("alertname", ""))))
    return (f'<section class="alerts" data-alerts="{len(alerts)}"><h2>Alerts</h2><table><tr><th>state</th><th>alert</th>'
            f"<th>severity</th><th>summary</th><th>since (UTC)</th></tr>{rows}</table></section>")


_STYLE = """
body { font-family: sans-serif; margin: 12px 16px; color: #222; background: #fafafa; }
header { display: flex; align-items: baseline; gap: 24px; }
h1 { font-size: 20px; margin: 0 0 8px; }
nav a { margin-right: 10px; } nav a.current { font-weight: bold; color: #222; text-decoration: none; }
.grid { display: grid; grid-template-columns: repeat(3, 456px); gap: 10px; }
.panel, .alerts { background: #fff; border: 1px solid #ddd; border-radius: 4px; padding: 6px 8px; }
h2 { font-size: 14px; margin: 0 0 4px; } small { color: #666; font-weight: normal; }
.legend { list-style: none; margin: 2px 0 0; padding: 0; font-size: 11px; columns: 2; }
.swatch { display: inline-block; width: 10px; height: 10px; margin-right: 4px; }
.error { color: #b00020; font-size: 12px; } .empty { color: #666; font-size: 12px; }
.alerts { margin-top: 10px; } table { border-collapse: collapse; font-size: 12px; }
td, th { border-bottom: 1px solid #eee; padding: 2px 8px; text-align: left; }
tr.firing td:first-child { color: #b00020; font-weight: bold; } tr.pending td:first-child { color: #a86b00; }
"""


def page(prometheus: Prometheus, hours: int, now: float) -> str:
    end = now
    start = end - hours * 3600
    step = max(15.0, hours * 3600 / POINTS)
    nav = " ".join(f'<a href="?hours={h}"{" class=current" if h == hours else ""}>{h if h < 168 else 7}'
                   f'{"h" if h < 168 else " days"}</a>' for h in RANGES_H)
    panels = "".join(panel_html(p, prometheus, start, end, step) for p in PANELS)
    stamp = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (f'<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="60">'
            f"<title>MLOps platform</title><style>{_STYLE}</style></head><body>"
            f"<header><h1>MLOps platform</h1><nav>{nav}</nav><span>{stamp}</span></header>"
            f'<div class="grid">{panels}</div>{alerts_html(prometheus)}</body></html>')


def parse_hours(query: str) -> int:
    """The `hours` parameter, one of RANGES_H (1 when absent); ValueError names the allowed ones."""
    values = urllib.parse.parse_qs(query, keep_blank_values=True).get("hours", ["1"])
    if len(values) != 1 or not values[0].isdigit() or int(values[0]) not in RANGES_H:
        raise ValueError(f"hours must be one of {', '.join(map(str, RANGES_H))}")
    return int(values[0])


def handler(prometheus: Prometheus) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "mlops-dashboard"

        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            if path == "/healthz":
                self._send(HTTPStatus.OK, "text/plain", "ok\n")
            elif path == "/":
                try:
                    hours = parse_hours(query)
                except ValueError as exc:
                    self._send(HTTPStatus.BAD_REQUEST, "text/plain", f"{exc}\n")
                    return
                self._send(HTTPStatus.OK, "text/html; charset=utf-8", page(prometheus, hours, time.time()))
            else:
                self._send(HTTPStatus.NOT_FOUND, "text/plain", "not found: the dashboard is at /\n")

        def _send(self, status: HTTPStatus, content_type: str, body: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--prometheus", default=os.environ.get("PROMETHEUS_URL", ""),
                        help="Prometheus's URL (default: $PROMETHEUS_URL)")
    args = parser.parse_args(argv)
    if not args.prometheus.startswith(("http://", "https://")):
        parser.error(f"--prometheus {args.prometheus!r}: give Prometheus's http(s) URL (or set PROMETHEUS_URL)")
    server = ThreadingHTTPServer(("", args.port), handler(Prometheus(args.prometheus)))
    print(f"dashboard on :{args.port}, drawing from {args.prometheus}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
