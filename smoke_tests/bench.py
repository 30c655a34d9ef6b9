"""`make bench`: many researchers at once on what `make up` deployed, measured from the cluster's
own records (smoke_tests/timeline.py says how each number is taken).

1. Alone: ALONE runs of the training pipeline, one after another, by alice (group vision): the
   run time and the per-step overhead with its breakdown (queue, schedule, start, driver,
   launcher, executor, exit, argo).
2. Contention: RUNS runs submitted at once, half by alice (vision), half by bob (nlp), each from a
   pod in their group's namespace with their own token. When a node advertises `nvidia.com/gpu`
   the pipeline is pipelines/bench_pipeline.yaml, whose training step holds one GPU (the local
   cluster's are fake: `make cluster MLOPS_FAKE_GPUS=2`; scikit-learn trains on the CPU), so the
   groups contend for GPUs through Kueue; otherwise the smoke pipeline, and no GPU share.
   Reported: makespan (first run created -> last finished), median run time, queue wait per tenant
   (created -> quota reserved, per pod), each tenant's share of admitted GPU time while both had
   GPU work, and the breakdown under contention.

No run is resubmitted: a failed run is reported with its first failed pod's message and the
bench exits non-zero. A pod that Argo started again because the platform made it fail
(kubeflowPipelines.platformFaultRetries: Kueue reclaiming a borrowed GPU, a driver refused while
the NetworkPolicy engine caught up) is counted, with its cause. KFP's
cache is off; the model is registered (deploy_mode='manifest': the serving manifests are
rendered, not applied).
    .venv/bin/python -m smoke_tests.bench [--runs N] [--alone K] [--output FILE.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mlops_components.contract import GPU_RESOURCE, PIPELINE_ENV_SECRET

from smoke_tests import timeline
from smoke_tests.measure_overhead import CFG, measured, submitter_env
from tests.support.cluster import kubectl
from tests.support.platform import pipeline_image, run_script_pod, tenant_named
from tests.support.scripts import pod_script

SUBMITTERS = {"vision": "alice", "nlp": "bob"}  # the local stack's groups and one member of each
PIPELINES = Path(__file__).parents[1] / "pipelines"
# The training step on a GPU (pipelines/bench_pipeline.py) or, without GPUs, the smoke pipeline.
GPU_PIPELINE, CPU_PIPELINE = PIPELINES / "bench_pipeline.yaml", PIPELINES / "train_pipeline.yaml"

SUBMIT_SCRIPT = pod_script("bench_submit")


def advertised_gpus() -> int:
    nodes = json.loads(kubectl("get", "nodes", "-o", "json"))["items"]
    return sum(int(node["status"].get("allocatable", {}).get(GPU_RESOURCE, "0")) for node in nodes)


def submit(tenant: str, count: int, pipeline_yaml: str, n_estimators: int, marker: str) -> list[dict]:
    """`count` runs by the tenant's member, submitted at once from a pod in its namespace."""
    namespace = tenant_named(tenant).namespace
    arguments = {"experiment_name": f"/{tenant}/bench", "model_name": f"{tenant}-iris-bench",
                 "n_estimators": n_estimators, "deploy_mode": "manifest"}
    runs = run_script_pod(namespace, "bench-submit", pipeline_image(), SUBMIT_SCRIPT, [
        {"name": "PIPELINE_YAML", "value": pipeline_yaml}, {"name": "ARGUMENTS", "value": json.dumps(arguments)},
        {"name": "COUNT", "value": str(count)}, {"name": "MARKER", "value": marker},
        *submitter_env(namespace, SUBMITTERS[tenant])],
        env_from=[{"secretRef": {"name": PIPELINE_ENV_SECRET}}], timeout=3600)
    return [{**run, "tenant": tenant} for run in runs]


def failure(workflow: dict, pods: list[dict], namespace: str) -> str:
    """The first failed pod of a run, Argo's message and what its pod said: the fatal line of its
    log (KFP's driver and launcher log `F...` or panic), or, for a pod deleted, the event that
    deleted it (Kueue's preemption names the preemptor)."""
    failed = sorted((node for node in workflow.get("status", {}).get("nodes", {}).values()
                     if node.get("type") == "Pod" and node.get("phase") in ("Failed", "Error")),
                    key=lambda node: node.get("finishedAt") or "")
    if not failed:
        return workflow.get("status", {}).get("message") or "no failed pod recorded"
    node = failed[0]
    summary = f"{node.get('displayName')}: {(node.get('message') or '')[:200]}"
    pod = next((p["metadata"]["name"] for p in pods
                if p["metadata"].get("annotations", {}).get("workflows.argoproj.io/node-id") == node["id"]), None)
    if pod:
        log = kubectl("logs", "-n", namespace, pod, "-c", "main", check=False)
        fatal = next((line for line in log.splitlines()
                      if line.startswith("F1") or line.startswith("panic:") or "rpc error" in line), "")
        if fatal:
            # KFP's fatal lines repeat the whole task spec before the cause: keep the cause.
            cause = fatal.split(") failed: ", 1)[-1].strip()
            return f"{summary}; {cause[:500]}"
    # Argo names a node's pod <workflow>-<template>-<the number ending the node's id>.
    suffix = "-" + node["id"].rsplit("-", 1)[-1]
    events = json.loads(kubectl("get", "events", "-n", namespace, "-o", "json", check=False) or '{"items": []}')["items"]
    said = [event["message"] for event in events
            if event["involvedObject"].get("kind") == "Pod" and event["reason"] in ("Stopped", "Preempted", "Evicted")
            and event["involvedObject"].get("name", "").startswith(workflow["metadata"]["name"])
            and event["involvedObject"]["name"].endswith(suffix)]
    return f"{summary}; {said[0][:400]}" if said else summary


def collect(runs: list[dict]) -> list[timeline.RunTimeline]:
    """The RunTimeline of each run from its namespace's Workflow, pods, Kueue Workloads and step logs.
    A run that did not succeed gets its failure recorded in its dict and no timeline."""
    timelines = []
    for tenant in sorted({run["tenant"] for run in runs}):
        namespace = tenant_named(tenant).namespace
        workflows = {wf["metadata"].get("labels", {}).get("pipeline/runid"): wf for wf in
                     json.loads(kubectl("get", "workflows.argoproj.io", "-n", namespace, "-o", "json"))["items"]}
        pods = json.loads(kubectl("get", "pods", "-n", namespace, "-l", "pipeline/runid", "-o", "json"))["items"]
        workloads = {wl["metadata"]["name"]: wl for wl in json.loads(
            kubectl("get", "workloads.kueue.x-k8s.io", "-n", namespace, "-o", "json"))["items"]}
        for run in (run for run in runs if run["tenant"] == tenant):
            workflow = workflows.get(run["run_id"])
            if workflow is None:
                run["failure"] = "no Argo Workflow found for the run"
                continue
            run["workflow"] = workflow["metadata"]["name"]
            run["restarts"] = timeline.restarts(workflow)
            own = [pod for pod in pods if pod["metadata"]["labels"].get("pipeline/runid") == run["run_id"]]
            if run["state"] != "SUCCEEDED":
                run["failure"] = failure(workflow, own, namespace)
                continue
            records = []
            for pod in own:
                log = ""
                if timeline.pod_kind(pod) == "step":
                    log = kubectl("logs", "-n", namespace, pod["metadata"]["name"], "-c", "main", "--timestamps",
                                  check=False)
                records.append(timeline.pod_times(pod, workloads, log))
            tl = timeline.RunTimeline(run["run_id"], tenant, timeline.seconds(workflow["metadata"]["creationTimestamp"]),
                                      timeline.seconds(workflow["status"]["finishedAt"]), records)
            run.update(seconds=round(tl.seconds, 1), steps=tl.steps, phases=tl.phases(),
                       overhead_per_step_s=round(tl.overhead_per_step(), 2), step_overheads_s=tl.step_overheads())
            timelines.append(tl)
    return timelines


def alone(count: int, pipeline_yaml: str, n_estimators: int) -> dict:
    runs = []
    for i in range(count):
        runs += submit("vision", 1, pipeline_yaml, n_estimators, uuid.uuid4().hex[:8])
        print(f"[bench] alone {i + 1}/{count}: {runs[-1]['state']}", flush=True)
    timelines = collect(runs)
    return {"runs": runs, "summary": timeline.summarize(timelines)}


def contention(count: int, pipeline_yaml: str, n_estimators: int) -> dict:
    marker = uuid.uuid4().hex[:8]
    split = {"vision": count - count // 2, "nlp": count // 2}
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(submit, tenant, n, pipeline_yaml, n_estimators, marker) for tenant, n in split.items()]
        runs = [run for future in futures for run in future.result()]
    timelines = collect(runs)
    makespan = (round(max(tl.finished for tl in timelines) - min(tl.started for tl in timelines), 1)
                if timelines else None)
    succeeded = sum(run["state"] == "SUCCEEDED" for run in runs)
    restarted = [restart for run in runs for restart in run.get("restarts", [])]
    return {"runs_at_once": count, "per_tenant": split, "succeeded": succeeded, "makespan_s": makespan,
            "steps_restarted": len(restarted),
            "restart_causes": dict(sorted(Counter(r["cause"] for r in restarted).items())),
            "runs_per_hour": round(succeeded * 3600 / makespan, 1) if makespan else 0.0,
            "queue_wait": timeline.queue_waits(timelines), "gpu": timeline.gpu_shares(timelines),
            "summary": timeline.summarize(timelines), "runs": runs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="runs submitted at once by the two groups (default 10)")
    parser.add_argument("--alone", type=int, default=3, help="runs one after another first (default 3)")
    parser.add_argument("--n-estimators", type=int, default=300,
                        help="trees of the random forest: how long the (GPU) training step holds its GPU")
    parser.add_argument("--output", type=Path, help="write the results here as JSON")
    args = parser.parse_args(argv)
    if args.runs < 2 or args.alone < 0:
        parser.error("--runs must be 2 or more (half per group) and --alone 0 or more")
    gpus = advertised_gpus()
    if gpus:
        print(f"[bench] {gpus} nvidia.com/gpu advertised: each run's training step asks for one", flush=True)
    else:
        print("[bench] WARNING: no node advertises nvidia.com/gpu, so the runs ask for no GPU and the GPU share is "
              "not measured (a kind cluster with fake GPUs: make cluster MLOPS_FAKE_GPUS=2)", flush=True)
    pipeline_yaml = (GPU_PIPELINE if gpus else CPU_PIPELINE).read_text()
    result = {**measured(),
              "nodes": len(json.loads(kubectl("get", "nodes", "-o", "json"))["items"]),
              "resource_profile": CFG.kubeflow_pipelines.resource_profile,
              "workflow_requeue_seconds": CFG.kubeflow_pipelines.workflow_requeue_seconds,
              "gpus_advertised": gpus, "n_estimators": args.n_estimators}
    if args.alone:
        result["alone"] = alone(args.alone, pipeline_yaml, args.n_estimators)
        summary = result["alone"]["summary"]
        print(f"[bench] alone: median run {summary['median_run_s']} s, overhead per step "
              f"{summary['median_overhead_per_step_s']} s (median over runs)", flush=True)
    result["contention"] = contention(args.runs, pipeline_yaml, args.n_estimators)
    shown = {key: value for key, value in result["contention"].items() if key != "runs"}
    print(f"[bench] contention: {json.dumps(shown, indent=2)}", flush=True)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=2) + "\n")
        print(f"[bench] results: {args.output}", flush=True)
    failed = [run for part in ("alone", "contention") for run in result.get(part, {}).get("runs", [])
              if run["state"] != "SUCCEEDED"]
    for run in failed:
        print(f"[bench] FAILED run {run['run_id']} ({run['tenant']}): {run['state']}: {run.get('failure')}",
              file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
