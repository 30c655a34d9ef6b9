"""Scalability of pipeline runs on what `make up` deployed: for each N, N runs of the smoke
pipeline submitted at once (no cache, deploy_mode='manifest'), their makespan (first created ->
last finished, KFP's timestamps), each run's duration and state, and runs per hour. A run that
fails is recorded with its state, not retried.
    .venv/bin/python -m smoke_tests.measure_concurrency [N,N,...] [OUTPUT.json]    (default 2,4)
"""

import json
import sys
import time
import uuid
from pathlib import Path

from smoke_tests.measure_overhead import CFG, COMPILED, image_and_env, machine, submitter_env
from tests.cluster.test_local_cluster import kubectl
from tests.platform.test_platform import run_script_pod

SCRIPT = r"""
import json, os
from concurrent.futures import ThreadPoolExecutor
import kfp
with open("/tmp/pipeline.yaml", "w") as f:
    f.write(os.environ["PIPELINE_YAML"])
namespace = os.environ["NAMESPACE"]
client = kfp.Client(host=os.environ["KFP_HOST"], existing_token=os.environ["KFP_TOKEN"], namespace=namespace)
count = int(os.environ["COUNT"])
arguments = json.loads(os.environ["ARGUMENTS"])
ids = [client.create_run_from_pipeline_package("/tmp/pipeline.yaml", arguments=arguments,
                                               run_name=f"concurrency-{os.environ['MARKER']}-{i}",
                                               experiment_name="measurements", namespace=namespace,
                                               enable_caching=False).run_id
       for i in range(count)]
with ThreadPoolExecutor(count) as pool:
    done = list(pool.map(lambda run_id: client.wait_for_run_completion(run_id, timeout=1800), ids))
runs = [{"run_id": run_id, "state": str(run.state), "created_at": run.created_at.timestamp(),
         "finished_at": run.finished_at.timestamp() if run.finished_at else None} for run_id, run in zip(ids, done)]
print("RESULT " + json.dumps(runs))
"""


def failure_reasons(namespace: str, run_ids: list[str]) -> dict[str, str]:
    """Per failed KFP run, the first failed workflow node and its message (from Argo)."""
    workflows = json.loads(kubectl("get", "workflows.argoproj.io", "-n", namespace, "-o", "json"))
    reasons = {}
    for workflow in workflows["items"]:
        run_id = workflow["metadata"].get("labels", {}).get("pipeline/runid")
        if run_id not in run_ids:
            continue
        failed = [node for node in workflow.get("status", {}).get("nodes", {}).values()
                  if node.get("type") == "Pod" and node.get("phase") in ("Failed", "Error")]
        if failed:
            reasons[run_id] = f"{failed[0].get('displayName')}: {(failed[0].get('message') or '')[:400]}"
    return reasons


def measure(count: int) -> dict:
    namespace, image, env_from = image_and_env()
    runs = run_script_pod(namespace, "concurrency", image, SCRIPT, [
        {"name": "PIPELINE_YAML", "value": COMPILED.read_text()},
        {"name": "ARGUMENTS", "value": json.dumps({"deploy_mode": "manifest", "model_name": "vision-iris-concurrency",
                                                   "experiment_name": "/vision/concurrency"})},
        {"name": "COUNT", "value": str(count)}, {"name": "MARKER", "value": uuid.uuid4().hex[:8]},
        *submitter_env(namespace)],
        env_from=env_from, timeout=2400)
    finished = [run["finished_at"] for run in runs if run["finished_at"]]
    makespan = round(max(finished) - min(run["created_at"] for run in runs), 1) if finished else None
    for run in runs:
        run["duration_s"] = round(run["finished_at"] - run["created_at"], 1) if run["finished_at"] else None
    reasons = failure_reasons(namespace, [run["run_id"] for run in runs if run["state"] != "SUCCEEDED"])
    for run in runs:
        if run["run_id"] in reasons:
            run["failure"] = reasons[run["run_id"]]
    succeeded = sum(run["state"] == "SUCCEEDED" for run in runs)
    return {"concurrent_runs": count, "succeeded": succeeded, "makespan_s": makespan,
            "runs_per_hour": round(succeeded * 3600 / makespan, 1) if makespan else 0.0, "runs": runs}


def main(counts: list[int], output: Path | None) -> dict:
    results = []
    for count in counts:
        result = measure(count)
        print(f"[concurrency] {count} runs at once: {result['succeeded']} succeeded, makespan {result['makespan_s']} s, "
              f"{result['runs_per_hour']} runs/hour", flush=True)
        results.append(result)
    nodes = len(json.loads(kubectl("get", "nodes", "-o", "json"))["items"])
    summary = {"measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": machine(), "nodes": nodes,
               "resource_profile": CFG.kubeflow_pipelines.resource_profile, "results": results}
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main([int(n) for n in (sys.argv[1] if len(sys.argv) > 1 else "2,4").split(",")],
         Path(sys.argv[2]) if len(sys.argv) > 2 else None)
