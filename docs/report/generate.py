"""Writes docs/report.md and its plots (docs/report/*.png) from the project's measured results in
docs/report/data/ (written by `make report`, which measures on what `make up` deployed):

  smoke.json        the smoke test's two runs (smoke_tests/test_smoke.py)
  overhead.json     pipeline vs. the same code in one pod (smoke_tests/measure_overhead.py)
  concurrency.json  N runs at once (smoke_tests/measure_concurrency.py)
  resources.json    the platform's requests and the nodes' memory (smoke_tests/measure_resources.py)
  network_policy.json  the NetworkPolicy engine's cost, on and off (smoke_tests/measure_network_policy.py)

and from the code itself (the components, the compiled pipeline). Nothing in the report is typed
by hand: rerun to regenerate.
    .venv/bin/python docs/report/generate.py [OUTPUT_DIR]    (default: docs/)
"""

from __future__ import annotations

import ast
import json
import statistics
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DATA = HERE / "data"
SOURCES = {
    "smoke.json": "MLOPS_MEASUREMENTS_DIR=docs/report/data make smoke",
    "overhead.json": ".venv/bin/python -m smoke_tests.measure_overhead 3 docs/report/data/overhead.json",
    "concurrency.json": ".venv/bin/python -m smoke_tests.measure_concurrency 2,4 docs/report/data/concurrency.json",
    "resources.json": ".venv/bin/python -m smoke_tests.measure_resources docs/report/data/resources.json",
    "network_policy.json": ".venv/bin/python -m smoke_tests.measure_network_policy 8 docs/report/data/network_policy.json",
}


def load(name: str) -> dict:
    path = DATA / name
    if not path.exists():
        raise SystemExit(f"{path} is missing: measure it with `{SOURCES[name]}` (after `make up`), "
                         "or run `make report`")
    return json.loads(path.read_text())


def reuse_facts() -> dict:
    """Counted from the code: the components package and the pipeline that composes it."""
    module = ROOT / "components" / "mlops_components" / "components.py"
    tree = ast.parse(module.read_text())
    components = [node.name for node in tree.body if isinstance(node, ast.FunctionDef)
                  and any(getattr(d, "id", "") in ("component", "torch_component") for d in node.decorator_list)]
    pipeline_src = ROOT / "smoke_tests" / "pipelines" / "train_pipeline.py"
    # The pipeline function and the helpers that compose its steps (shared with the PyTorch variant).
    composing = [node for node in ast.parse(pipeline_src.read_text()).body
                 if isinstance(node, ast.FunctionDef) and node.name != "compile_pipeline"]
    # The compiled file holds the pipeline spec, then the platform (Kubernetes) spec.
    compiled = next(yaml.safe_load_all((ROOT / "smoke_tests" / "pipelines" / "train_pipeline.yaml").read_text()))
    tasks = compiled["root"]["dag"]["tasks"]
    library = sum(len(p.read_text().splitlines()) for p in (ROOT / "components" / "mlops_components").glob("*.py"))
    return {"components": components, "pipeline_lines": sum(node.end_lineno - node.lineno + 1 for node in composing),
            "library_lines": library, "tasks": sorted(tasks)}


def plot_overhead(overhead: dict, out: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    series = [("KFP pipeline run", overhead["pipeline_s"]), ("same code, one pod", overhead["direct_pod_s"]),
              ("same code, in process", overhead["direct_in_process_s"])]
    for i, (_label, values) in enumerate(series):
        ax.barh(i, statistics.median(values), color=["#4c72b0", "#55a868", "#c44e52"][i])
        ax.plot(values, [i] * len(values), "k.", markersize=6)
        ax.text(max(values), i, f"  {statistics.median(values):.0f} s", va="center")
    ax.set_yticks(range(len(series)), [label for label, _ in series])
    ax.set_xlabel(f"seconds (median of {overhead['runs']}; dots: each run)")
    ax.set_title("Orchestration overhead: train, evaluate, register")
    ax.set_xlim(0, max(overhead["pipeline_s"]) * 1.25)
    fig.tight_layout()
    fig.savefig(out, dpi=110, metadata={"Software": None})
    plt.close(fig)


def plot_concurrency(points: list[tuple[int, float, float]], out: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    counts = [p[0] for p in points]
    ax.plot(counts, [p[1] for p in points], "o-", color="#4c72b0", label="makespan (s)")
    ax.set_xlabel("pipeline runs submitted at once")
    ax.set_ylabel("makespan (s)")
    ax.set_xticks(counts)
    ax2 = ax.twinx()
    ax2.plot(counts, [p[2] for p in points], "s--", color="#c44e52", label="runs per hour")
    ax2.set_ylabel("runs per hour")
    ax.set_ylim(bottom=0)
    ax2.set_ylim(bottom=0)
    ax.set_title("Concurrent pipeline runs")
    fig.legend(loc="upper left", bbox_to_anchor=(0.12, 0.88))
    fig.tight_layout()
    fig.savefig(out, dpi=110, metadata={"Software": None})
    plt.close(fig)


def plot_resources(resources: dict, out: Path) -> None:
    import matplotlib.pyplot as plt

    names = list(resources["namespaces"])
    fig, (cpu, mem) = plt.subplots(1, 2, figsize=(7.5, 3))
    for ax, key, unit in ((cpu, "cpu", "millicores"), (mem, "memory", "MiB")):
        suffix = "_m" if key == "cpu" else "_mib"
        requests = [resources["namespaces"][n][f"{key}_request{suffix}"] for n in names]
        limits = [resources["namespaces"][n][f"{key}_limit{suffix}"] for n in names]
        ax.barh(names, limits, color="#dddddd", label="limits")
        ax.barh(names, requests, color="#4c72b0", label="requests")
        ax.set_xlabel(unit)
        ax.set_title(f"{key} per namespace")
    cpu.legend(loc="lower right")
    mem.set_yticks(range(len(names)), [""] * len(names))
    fig.tight_layout()
    fig.savefig(out, dpi=110, metadata={"Software": None})
    plt.close(fig)


def render(out_dir: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    smoke, overhead = load("smoke.json"), load("overhead.json")
    concurrency, resources = load("concurrency.json"), load("resources.json")
    netpol = load("network_policy.json")
    reuse = reuse_facts()
    images = out_dir / "report"
    images.mkdir(parents=True, exist_ok=True)
    plot_overhead(overhead, images / "overhead.png")
    points = [(1, overhead["median_pipeline_s"], round(3600 / overhead["median_pipeline_s"], 1))]
    points += [(r["concurrent_runs"], r["makespan_s"], r["runs_per_hour"]) for r in concurrency["results"]
               if r["makespan_s"]]
    plot_concurrency(points, images / "concurrency.png")
    plot_resources(resources, images / "resources.png")

    runs = smoke["runs"]
    same_metrics = len({json.dumps(r["metrics"], sort_keys=True) for r in runs}) == 1
    same_model = len({r["model_sha256"] for r in runs}) == 1
    same_data = len({r["dataset_sha256"] for r in runs}) == 1
    metric_rows = "\n".join(
        f"| {i + 1} | `{r['run_id'][:8]}` | {r['state']} | {r['duration_s']:.0f} | {r['metrics']['accuracy']} | "
        f"{r['metrics']['f1_macro']} | `{r['model_sha256'][:12]}` | {', '.join(r['versions'])} |"
        for i, r in enumerate(runs))
    concurrency_rows = "\n".join(
        f"| {r['concurrent_runs']} | {r['succeeded']}/{r['concurrent_runs']} | {r['makespan_s']} | "
        f"{statistics.median([x['duration_s'] for x in r['runs'] if x['state'] == 'SUCCEEDED'] or [0]):.0f} | "
        f"{r['runs_per_hour']} |"
        for r in concurrency["results"])
    resource_rows = "\n".join(
        f"| {name} | {v['pods']} | {v['cpu_request_m']:.0f} | {v['cpu_limit_m']:.0f} | {v['memory_request_mib']:.0f} | "
        f"{v['memory_limit_mib']:.0f} |" for name, v in resources["namespaces"].items())
    totals = {key: sum(v[key] for v in resources["namespaces"].values())
              for key in ("cpu_request_m", "memory_request_mib")}
    node_rows = ", ".join(f"{name} {mib / 1024:.1f} GiB" for name, mib in resources["node_memory_mib"].items())
    single = overhead["median_pipeline_s"]
    failed = [(r["concurrent_runs"], run) for r in concurrency["results"] for run in r["runs"]
              if run["state"] != "SUCCEEDED"]
    failures = ("Failed runs, with the first failed step and Argo's message:\n\n" + "\n".join(
        f"- {count} at once, run `{run['run_id'][:8]}`: {run.get('failure', 'reason not recorded')}"
        for count, run in failed) + "\n\nNothing is resubmitted: a failed run is counted as failed here and "
        "fails the smoke test.\n"
        if failed else "Every run succeeded; nothing is resubmitted (neither here nor in the smoke test).\n")
    netpol_rows = "\n".join(
        f"| {state} | {netpol[state]['start_s_median']} | {netpol[state]['first_connection_s_median']} / "
        f"{netpol[state]['first_connection_s_max']} | {netpol[state]['engine_memory_mib'] or '-'} |" for state in ("on", "off"))
    machine = resources.get("machine") or overhead.get("machine") or "(machine not recorded)"
    text = f"""# Implementation report: reuse, reproducibility, scalability

Generated by `docs/report/generate.py` from the measurements in `docs/report/data/` (`make report`
measures them again on what `make up` deployed and regenerates this file). Every number below
comes from those files or from the code; none is typed by hand.

Where: {machine}; the local kind cluster of `make up`
({concurrency['nodes']} node(s), Kubeflow Pipelines resource profile `{concurrency['resource_profile']}`).
Measured at: smoke {smoke['measured_at']}, overhead {overhead['measured_at']},
concurrency {concurrency['measured_at']}, resources {resources['measured_at']},
NetworkPolicy engine {netpol['measured_at']}.
Not measured yet: GPU steps (no GPU machine was available), the university's kubeadm cluster.

## Reuse

The smoke pipeline is composed from the platform's component library, `mlops_components`
({reuse['library_lines']} lines of Python, {len(reuse['components'])} components:
{', '.join(f'`{c}`' for c in reuse['components'])}). The pipeline itself is
{reuse['pipeline_lines']} lines and runs {len(reuse['tasks'])} tasks ({', '.join(reuse['tasks'])}).
The same components and the same compiled pipeline run on KFP's local runner in `make test`
(no cluster) and on the cluster; the pipeline base image carries them, so a researcher's
pipeline installs nothing at run time.

## Reproducibility

The smoke test ran the pipeline twice with the same inputs (seed 42, iris, random forest), one
after the other, with KFP's cache off, at commit `{smoke['git_commit'][:12]}`:

| run | KFP run | state | seconds | accuracy | macro F1 | model file SHA-256 | registered version |
| --- | --- | --- | --- | --- | --- | --- | --- |
{metric_rows}

Identical metrics: **{'yes' if same_metrics else 'NO'}**; identical model files: **{'yes' if same_model else 'NO'}**;
identical dataset (SHA-256): **{'yes' if same_data else 'NO'}**. Every MLflow run records the git commit, the KFP run
id, the dataset's SHA-256 and the image and image digest of each step; the served model
answered HTTP {smoke['serving_status']}.

## Orchestration overhead

![overhead](report/overhead.png)

The pipeline (load, split, train, evaluate, register, render the serving manifests; six steps,
each a driver pod and a step pod) took a median **{overhead['median_pipeline_s']:.0f} s** over
{overhead['runs']} runs; the same code in one pod took **{overhead['median_direct_pod_s']:.0f} s**
(pod created to pod finished), of which {overhead['median_direct_in_process_s']:.1f} s in the
Python process. Ratio: **{overhead['overhead_ratio']}x**. For a training step of minutes or hours the
fixed cost per step (about {(overhead['median_pipeline_s'] - overhead['median_direct_pod_s']) / 6:.0f} s here) matters little;
for many tiny steps it dominates: merge them into fewer components.

## Scalability: concurrent runs

![concurrency](report/concurrency.png)

| runs at once | succeeded | makespan (s) | median succeeded run (s) | succeeded runs per hour |
| --- | --- | --- | --- | --- |
| 1 | {overhead['runs']}/{overhead['runs']} (one at a time) | {single:.0f} | {single:.0f} | {points[0][2]} |
{concurrency_rows}

{failures}
Most of a run's time is pods starting and waiting, not CPU: two runs at once finish in about the
time of one. On a real cluster, more nodes spread the step pods (Argo schedules each step as its
own pod).

## Resources of the platform

![resources](report/resources.png)

| namespace | pods | CPU requests (m) | CPU limits (m) | memory requests (MiB) | memory limits (MiB) |
| --- | --- | --- | --- | --- | --- |
{resource_rows}

The platform requests {totals['cpu_request_m']:.0f} millicores and {totals['memory_request_mib']:.0f} MiB in all
(profile `{resources['resource_profile']}`); the kind node containers used {node_rows} of memory
(Kubernetes itself included).

## The cost of enforcing NetworkPolicies

The kind cluster's engine, {netpol['engine']} (firewall only), measured with it on and then switched
off (its DaemonSet on no node, its rules removed), {netpol['pods_per_state']} pods each, one after the other,
in a research group's namespace (medians):

| engine | pod created to its process running (s) | its process to its first connection to S3 (s), median / max | engine memory (MiB) |
| --- | --- | --- | --- |
{netpol_rows}

Starting a pod costs about the same; a new pod's connections are refused until the engine has
seen its address, the second column. Pods that need a service at once wait for it (the tests'
pods do) or retry.
"""
    path = out_dir / "report.md"
    path.write_text(text)
    return path


if __name__ == "__main__":
    print(render(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs"))
