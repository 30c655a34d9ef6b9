"""`make usage-report`: how much CPU, memory and GPU each research group used per day, from the
platform's Prometheus (the Monitoring component), run where kubectl reaches the cluster (KUBECONFIG).

    python -m platform_usage.report [--days N] [--output DIR] [--prometheus URL]

A research group is a namespace labelled `mlops-platform/tenant` (the Tenants component), found
through kube-state-metrics' kube_namespace_labels. Per group and UTC day (today up to now):
  cpu_hours        CPU time its containers used (cAdvisor's container_cpu_usage_seconds_total)
  memory_gib_hours their working set, integrated over the day (container_memory_working_set_bytes)
  gpu_hours        GPUs held by its running pods (kube-state-metrics' nvidia.com/gpu requests of pods
                   in phase Running): what a GPU costs the others, whether the pod used it or not
Sampled every STEP_S (30) seconds: a pod that ran for less than that may not count. Prints the table and
writes DIR/usage.csv and DIR/usage.svg (a bar chart per measure). Without --prometheus it finds the
Service `prometheus` of the Monitoring component and reaches it with `kubectl port-forward`.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from platform_dashboard import server as dashboard

# The label the Tenants component puts on every tenant namespace (its value: the group's name), as
# kube-state-metrics exports it (--metric-labels-allowlist=namespaces=[mlops-platform/tenant]), and
# kube-state-metrics' name of the resource nvidia.com/gpu: the dashboard's.
TENANT_LABEL, GPU_RESOURCE = dashboard.TENANT_LABEL, dashboard.GPU_RESOURCE
STEP_S = 30
MEASURES = ("cpu_hours", "memory_gib_hours", "gpu_hours")
DEFAULT_OUTPUT = Path("build") / "usage"


class ReportError(Exception):
    """What went wrong, for the operator (no traceback)."""


@dataclass(frozen=True)
class Usage:
    tenant: str
    day: dt.date
    cpu_hours: float
    memory_gib_hours: float
    gpu_hours: float


def queries(namespaces: list[str], seconds: int) -> dict[str, str]:
    """The PromQL of each measure over the `seconds` before the query time, by namespace."""
    selector = f'namespace=~"{"|".join(sorted(namespaces))}"'
    window = f"{seconds}s"
    running = 'max by (namespace, pod) (kube_pod_status_phase{phase="Running"}) == 1'
    return {
        "cpu_hours": f'sum by (namespace) (increase(container_cpu_usage_seconds_total{{container!="",{selector}}}[{window}])) / 3600',
        "memory_gib_hours": f'sum_over_time((sum by (namespace) (container_memory_working_set_bytes{{container!="",{selector}}}))'
                            f'[{window}:{STEP_S}s]) * {STEP_S} / 3600 / 1073741824',
        "gpu_hours": f'sum_over_time((sum by (namespace) (kube_pod_container_resource_requests{{resource="{GPU_RESOURCE}",{selector}}}'
                     f' * on (namespace, pod) group_left () ({running})))[{window}:{STEP_S}s]) * {STEP_S} / 3600',
    }


def days(count: int, now: dt.datetime) -> list[tuple[dt.date, dt.datetime, dt.datetime]]:
    """The last `count` UTC days, oldest first, each (day, start, end); today ends now."""
    if count < 1:
        raise ReportError(f"--days {count}: give 1 or more")
    today = now.date()
    spans = []
    for back in range(count - 1, -1, -1):
        day = today - dt.timedelta(days=back)
        start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
        spans.append((day, start, min(start + dt.timedelta(days=1), now)))
    return spans


class Prometheus(dashboard.Prometheus):
    """The dashboard's client of Prometheus's HTTP API, with a day's queries' patience and the report's error."""

    def __init__(self, url: str) -> None:
        super().__init__(url, timeout=60)

    def get(self, path: str, **params: str) -> dict:
        try:
            return super().get(path, **params)
        except dashboard.PrometheusError as exc:
            raise ReportError(str(exc)) from None

    def by_namespace(self, promql: str, at: dt.datetime) -> dict[str, float]:
        result = self.get("query", query=promql, time=f"{at.timestamp():.3f}")["result"]
        return {sample["metric"]["namespace"]: float(sample["value"][1]) for sample in result}

    def tenants(self) -> dict[str, str]:
        """namespace -> research group, from kube-state-metrics."""
        result = self.get("query", query=f'max by (namespace, {TENANT_LABEL}) (kube_namespace_labels{{{TENANT_LABEL}!=""}})')["result"]
        return {sample["metric"]["namespace"]: sample["metric"][TENANT_LABEL] for sample in result}


def collect(prometheus: Prometheus, day_count: int, now: dt.datetime) -> list[Usage]:
    tenants = prometheus.tenants()
    if not tenants:
        raise ReportError("Prometheus knows no namespace labelled mlops-platform/tenant: are tenants configured, and "
                          "does kube-state-metrics run (monitoring.enabled)?")
    rows = []
    for day, start, end in days(day_count, now):
        seconds = int((end - start).total_seconds())
        if seconds < STEP_S:
            continue
        values = {measure: prometheus.by_namespace(promql, end) for measure, promql in queries(list(tenants), seconds).items()}
        for namespace, tenant in sorted(tenants.items(), key=lambda item: item[1]):
            rows.append(Usage(tenant, day, *(values[m].get(namespace, 0.0) for m in MEASURES)))
    return rows


def table(rows: list[Usage]) -> str:
    lines = [f"{'day':<10}  {'research group':<20}  {'CPU-hours':>10}  {'memory GiB-hours':>16}  {'GPU-hours':>9}"]
    lines += [f"{r.day.isoformat():<10}  {r.tenant:<20}  {r.cpu_hours:>10.3f}  {r.memory_gib_hours:>16.3f}  {r.gpu_hours:>9.3f}"
              for r in rows]
    return "\n".join(lines)


def write_csv(rows: list[Usage], path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["day", "tenant", *MEASURES])
        writer.writerows([r.day.isoformat(), r.tenant, *(getattr(r, m) for m in MEASURES)] for r in rows)


# One colour per research group (in name order), three panels side by side.
_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
_TITLES = {"cpu_hours": "CPU-hours", "memory_gib_hours": "memory GiB-hours", "gpu_hours": "GPU-hours"}


def svg(rows: list[Usage]) -> str:
    """A bar chart per measure: for each day, a bar per research group, with its value on top."""
    tenants = sorted({r.tenant for r in rows})
    day_list = sorted({r.day for r in rows})
    value = {(r.tenant, r.day, m): getattr(r, m) for r in rows for m in MEASURES}
    panel_w, panel_h, top, bottom, left = 320, 220, 40, 40, 50
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{panel_w * 3 + 20}" height="{panel_h + top + bottom + 30}" '
             'font-family="sans-serif" font-size="11">', '<rect width="100%" height="100%" fill="white"/>']
    for index, measure in enumerate(MEASURES):
        x0 = 10 + index * panel_w
        highest = max([value.get((t, d, measure), 0.0) for t in tenants for d in day_list] + [0.0])
        scale = (panel_h - 20) / highest if highest > 0 else 0.0
        parts.append(f'<text x="{x0 + panel_w / 2}" y="20" text-anchor="middle" font-size="13">{_TITLES[measure]}</text>')
        parts.append(f'<line x1="{x0 + left}" y1="{top + panel_h}" x2="{x0 + panel_w - 10}" y2="{top + panel_h}" stroke="black"/>')
        slot = (panel_w - left - 20) / max(len(day_list), 1)
        bar = slot * 0.8 / max(len(tenants), 1)
        for d_index, day in enumerate(day_list):
            sx = x0 + left + d_index * slot + slot * 0.1
            parts.append(f'<text x="{sx + slot * 0.4}" y="{top + panel_h + 15}" text-anchor="middle">{day.strftime("%m-%d")}</text>')
            for t_index, tenant in enumerate(tenants):
                amount = value.get((tenant, day, measure), 0.0)
                height = amount * scale
                bx, by = sx + t_index * bar, top + panel_h - height
                parts.append(f'<rect x="{bx:.1f}" y="{by:.1f}" width="{bar * 0.9:.1f}" height="{height:.1f}" '
                             f'fill="{_COLOURS[t_index % len(_COLOURS)]}"><title>{tenant} {day} {_TITLES[measure]}: {amount:.3f}</title></rect>')
                parts.append(f'<text x="{bx + bar * 0.45:.1f}" y="{by - 3:.1f}" text-anchor="middle" font-size="9">{amount:.3g}</text>')
    for t_index, tenant in enumerate(tenants):
        lx = 10 + left + t_index * 130
        ly = top + panel_h + bottom + 5
        parts.append(f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{_COLOURS[t_index % len(_COLOURS)]}"/>')
        parts.append(f'<text x="{lx + 14}" y="{ly}">{tenant}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _kubectl(*args: str) -> str:
    try:
        result = subprocess.run(["kubectl", *args], capture_output=True, text=True, timeout=60, check=False)
    except FileNotFoundError:
        raise ReportError("kubectl is not on PATH (make usage-report puts the toolchain's on it)") from None
    if result.returncode != 0:
        raise ReportError(f"`kubectl {' '.join(args)}` failed: {result.stderr.strip()}")
    return result.stdout


@contextlib.contextmanager
def port_forward() -> Iterator[str]:
    """The Monitoring component's Prometheus through `kubectl port-forward`; yields its URL."""
    services = json.loads(_kubectl("get", "services", "-A", "-l",
                                   "app.kubernetes.io/name=prometheus,app.kubernetes.io/component=monitoring", "-o", "json"))["items"]
    if len(services) != 1:
        raise ReportError(f"expected one Service of the platform's Prometheus, found {len(services)}: deploy the platform with "
                          "monitoring.enabled (make up), point KUBECONFIG at its cluster, or give --prometheus URL")
    namespace, name = services[0]["metadata"]["namespace"], services[0]["metadata"]["name"]
    port = services[0]["spec"]["ports"][0]["port"]
    process = subprocess.Popen(["kubectl", "port-forward", "-n", namespace, f"svc/{name}", f":{port}"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = process.stdout.readline() if process.stdout else ""
        if not line.startswith("Forwarding from 127.0.0.1:"):
            raise ReportError(f"kubectl port-forward to {namespace}/{name}: {line.strip() or 'no answer'}")
        yield f"http://127.0.0.1:{int(line.split(':')[1].split()[0])}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="platform_usage.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=7, help="how many UTC days, today included (7)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"folder for usage.csv and usage.svg ({DEFAULT_OUTPUT})")
    parser.add_argument("--prometheus", default="", help="Prometheus's URL (default: kubectl port-forward to the platform's)")
    args = parser.parse_args(argv)
    now = dt.datetime.now(dt.UTC)
    try:
        days(args.days, now)
        with contextlib.nullcontext(args.prometheus) if args.prometheus else port_forward() as url:
            rows = collect(Prometheus(url), args.days, now)
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.output.mkdir(parents=True, exist_ok=True)
    write_csv(rows, args.output / "usage.csv")
    (args.output / "usage.svg").write_text(svg(rows))
    print(table(rows))
    print(f"\nwritten: {args.output / 'usage.csv'}, {args.output / 'usage.svg'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
