"""Writes docs/report.md and its plots (docs/report/*.png) from the project's measured results in
docs/report/data/ (written by `make report`, which measures on what `make up` deployed):

  smoke.json        the smoke test's two runs (smoke_tests/test_smoke.py)
  overhead.json     pipeline vs. the same code in one pod (smoke_tests/measure_overhead.py)
  bench.json        runs alone and N at once by two groups, with each run's timeline (smoke_tests/bench.py)
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
    "bench.json": "make bench",
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
    module = ROOT / "pipeline_components" / "mlops_components" / "components.py"
    tree = ast.parse(module.read_text())
    components = [node.name for node in tree.body if isinstance(node, ast.FunctionDef)
                  and any(getattr(d, "id", "") in ("component", "torch_component") for d in node.decorator_list)]
    pipeline_src = ROOT / "pipelines" / "train_pipeline.py"
    # The pipeline function and the helpers that compose its steps (shared with the PyTorch variant).
    composing = [node for node in ast.parse(pipeline_src.read_text()).body
                 if isinstance(node, ast.FunctionDef) and node.name != "compile_pipeline"]
    # The compiled file holds the pipeline spec, then the platform (Kubernetes) spec.
    compiled = next(yaml.safe_load_all((ROOT / "pipelines" / "train_pipeline.yaml").read_text()))
    tasks = compiled["root"]["dag"]["tasks"]
    library = sum(len(p.read_text().splitlines()) for p in (ROOT / "pipeline_components" / "mlops_components").glob("*.py"))
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


def plot_bench(bench: dict, out: Path) -> None:
    """Per step, the median seconds of each phase (smoke_tests/timeline.py): alone and under contention."""
    import matplotlib.pyplot as plt

    from smoke_tests.timeline import PHASES

    rows = [(f"alone ({bench['alone']['summary']['runs']} runs)", bench["alone"]["summary"]),
            (f"{bench['contention']['runs_at_once']} at once", bench["contention"]["summary"])]
    colors = dict(zip(PHASES, ["#8172b3", "#937860", "#da8bc3", "#4c72b0", "#64b5cd", "#55a868", "#ccb974", "#c44e52"], strict=True))
    fig, ax = plt.subplots(figsize=(7, 2.6))
    for y, (_, summary) in enumerate(rows):
        left = 0.0
        for phase in PHASES:
            width = summary["median_phase_per_step_s"][phase] or 0.0
            ax.barh(y, width, left=left, color=colors[phase], label=phase if y == 0 else None)
            left += width
    ax.set_yticks(range(len(rows)), [label for label, _ in rows])
    ax.invert_yaxis()
    ax.set_xlabel("seconds per pipeline step (median over runs)")
    ax.set_title("Where a step's time goes")
    ax.legend(ncol=4, fontsize=7, loc="lower right")
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
    bench, resources = load("bench.json"), load("resources.json")
    netpol = load("network_policy.json")
    reuse = reuse_facts()
    images = out_dir / "report"
    images.mkdir(parents=True, exist_ok=True)
    plot_overhead(overhead, images / "overhead.png")
    plot_bench(bench, images / "bench.png")
    plot_resources(resources, images / "resources.png")

    runs = smoke["runs"]
    same_metrics = len({json.dumps(r["metrics"], sort_keys=True) for r in runs}) == 1
    same_model = len({r["model_sha256"] for r in runs}) == 1
    same_data = len({r["dataset_sha256"] for r in runs}) == 1
    metric_rows = "\n".join(
        f"| {i + 1} | `{r['run_id'][:8]}` | {r['state']} | {r['duration_s']:.0f} | {r['metrics']['accuracy']} | "
        f"{r['metrics']['f1_macro']} | `{r['model_sha256'][:12]}` | {', '.join(r['versions'])} |"
        for i, r in enumerate(runs))
    resource_rows = "\n".join(
        f"| {name} | {v['pods']} | {v['cpu_request_m']:.0f} | {v['cpu_limit_m']:.0f} | {v['memory_request_mib']:.0f} | "
        f"{v['memory_limit_mib']:.0f} |" for name, v in resources["namespaces"].items())
    totals = {key: sum(v[key] for v in resources["namespaces"].values())
              for key in ("cpu_request_m", "memory_request_mib")}
    node_rows = ", ".join(f"{name} {mib / 1024:.1f} GiB" for name, mib in resources["node_memory_mib"].items())
    alone, crowd = bench["alone"]["summary"], bench["contention"]
    gpu_note = (f"{bench['gpus_advertised']} `nvidia.com/gpu` advertised, fake: the kind node only advertises them; "
                "each run's training step holds one" if bench["gpus_advertised"]
                else "no node advertises `nvidia.com/gpu`: no step asks for one")
    from smoke_tests.timeline import PHASES

    phase_rows = "\n".join(
        f"| {phase} | {alone['median_phase_per_step_s'][phase]} | {crowd['summary']['median_phase_per_step_s'][phase]} |"
        for phase in PHASES)
    queue_rows = "\n".join(
        f"| {tenant} | {crowd['per_tenant'][tenant]} | {wait['pods']} | {wait['median_pod_wait_s']} | "
        f"{wait['max_pod_wait_s']} | {wait['median_run_wait_s']} |" for tenant, wait in crowd["queue_wait"].items())
    gpu_rows = "\n".join(f"| {tenant} | {share['gpu_s']} | {share['share']} |"
                          for tenant, share in crowd["gpu"]["tenants"].items()) or "| (no GPU work measured) | | |"
    failed = [run for part in ("alone", "contention") for run in bench[part]["runs"] if run["state"] != "SUCCEEDED"]
    failures = ("Failed runs, with the first failed step and Argo's message:\n\n" + "\n".join(
        f"- run `{run['run_id'][:8]}` ({run['tenant']}): {run.get('failure', 'reason not recorded')}"
        for run in failed) + "\n\nNothing is resubmitted: a failed run is counted as failed here.\n"
        if failed else "Every run succeeded; nothing was resubmitted (neither here nor in the smoke test).\n")
    causes = crowd.get("restart_causes", {})
    restarts = (f"\nPods started again by Argo because the platform, not the step, made them fail "
                f"(`kubeflowPipelines.platformFaultRetries`): **{crowd['steps_restarted']}** "
                f"({', '.join(f'{n} x {cause}' for cause, n in causes.items())}).\n"
                if crowd.get("steps_restarted") else
                "\nNo pod was started again (`kubeflowPipelines.platformFaultRetries`: the platform made none fail).\n"
                if "steps_restarted" in crowd else "")  # measured before restarts were counted
    netpol_rows = "\n".join(
        f"| {state} | {netpol[state]['start_s_median']} | {netpol[state]['first_connection_s_median']} / "
        f"{netpol[state]['first_connection_s_max']} | {netpol[state]['engine_memory_mib'] or '-'} |" for state in ("on", "off"))
    machine = resources.get("machine") or overhead.get("machine") or "(machine not recorded)"
    text = f"""# Implementation report: reuse, reproducibility, scalability

Generated by `docs/report/generate.py` from the measurements in `docs/report/data/` (`make report`
measures them again on what `make up` deployed and regenerates this file). Every number below
comes from those files or from the code; none is typed by hand.

Where: {machine}; the local kind cluster of `make up`
({bench['nodes']} node(s), Kubeflow Pipelines resource profile `{bench['resource_profile']}`).
Measured at: smoke {smoke['measured_at']}, overhead {overhead['measured_at']},
bench {bench['measured_at']}, resources {resources['measured_at']},
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
Python process. Ratio: **{overhead['overhead_ratio']}x**.

### Where a step's time goes

![bench](report/bench.png)

`make bench` takes every run apart from the cluster's own records (smoke_tests/timeline.py):
Kueue's Workload of each pod, the pods' conditions and container times, and the step logs'
timestamps. Per step, the median seconds of each phase over {alone['runs']} runs alone (one after
another) and over the {crowd['runs_at_once']} runs submitted at once below; Argo's controller
looks at a workflow again {bench['workflow_requeue_seconds']} s after one of its pods changed
(`kubeflowPipelines.workflowRequeueSeconds`):

| phase | alone (s per step) | {crowd['runs_at_once']} at once (s per step) |
| --- | --- | --- |
{phase_rows}

queue: pod created to Kueue's quota reservation; schedule: to the scheduler's placement; start:
to the main container running (sandbox, Argo's init container, KFP's launcher copy); driver: KFP's
driver pod at work; launcher: the step's launcher around the component; executor: the component's
own Python; exit: Argo's wait container saving the result; argo: no pod of the run alive, the
workflow controller between one pod and the next.

Overhead per step, two ways. What one more step costs (from the previous step's end to this
step's end, less its executor; median over {len(alone['step_overheads_s'])} steps): **{alone['median_step_overhead_s']} s** alone,
{crowd['summary']['median_step_overhead_s']} s with {crowd['runs_at_once']} runs at once. The run's wall time less all
executors, per step (the root driver and the run's start and end included): median
**{alone['median_overhead_per_step_s']} s** alone (median run {alone['median_run_s']} s),
{crowd['summary']['median_overhead_per_step_s']} s with {crowd['runs_at_once']} runs at once.
For a training step of minutes or hours this fixed cost matters little; for many tiny steps it dominates: merge them into fewer components.

## Scalability: many researchers at once

{crowd['runs_at_once']} runs submitted at once by two research groups ({', '.join(f'{n} by {t}' for t, n in crowd['per_tenant'].items())}),
each from a pod in its own namespace with a member's token, through its own Kueue queue
({gpu_note}):
**{crowd['succeeded']} of {crowd['runs_at_once']} succeeded**, makespan **{crowd['makespan_s']} s**
(first run created to last finished), median run {crowd['summary']['median_run_s']} s,
{crowd['runs_per_hour']} runs per hour (one run alone: {alone['median_run_s']} s).

Queue wait (pod created to Kueue's quota reservation):

| group | runs submitted | pods of its succeeded runs | median pod wait (s) | max pod wait (s) | median wait per run (s) |
| --- | --- | --- | --- | --- | --- |
{queue_rows}

GPU time admitted to the succeeded runs while both groups had GPU work ({crowd['gpu']['contended_window_s']} s;
each group's nominal quota is one GPU, and either may borrow the other's idle one):

| group | GPU-seconds | share |
| --- | --- | --- |
{gpu_rows}

{failures}{restarts}
Most of a run's time is pods starting and waiting, not CPU; on a real cluster, more nodes spread
the step pods (Argo schedules each step as its own pod).

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
