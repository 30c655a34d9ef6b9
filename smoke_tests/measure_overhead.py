"""Orchestration overhead of Kubeflow Pipelines on what `make up` deployed: the smoke pipeline's
wall time (KFP's created_at -> finished_at, one run at a time, no cache, deploy_mode='manifest') against
the same training code (mlops_components.core: load, split, train, evaluate, register in MLflow)
run directly in one pod of the same image (pod created -> pod finished, as seen from here).
Prints and writes the medians of N runs each (default 3) and their ratio as JSON.
    .venv/bin/python -m smoke_tests.measure_overhead [N] [OUTPUT.json]
"""

import json
import statistics
import sys
import time
import uuid
from pathlib import Path

from mlops_components.contract import PIPELINE_ENV_SECRET

from infra.config import parse
from tests.support.platform import kfp_api, person_token, pipeline_image, run_script_pod, tenant_named
from tests.support.scripts import pod_script
from tests.support.stacks import stack_values

CFG = parse(*stack_values("local"))
COMPILED = Path(__file__).parents[1] / "pipelines" / "train_pipeline.yaml"

PIPELINE_SCRIPT = pod_script("overhead_pipeline")

DIRECT_SCRIPT = pod_script("overhead_direct")


def machine() -> str:
    """This machine in one line: CPU model and count, memory, kernel."""
    import os
    import platform

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown CPU")
    mem_kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal"))
    return f"{os.cpu_count()} x {cpu}, {mem_kib / 2**20:.0f} GiB memory, Linux {platform.release()}"


PERSON = "alice"  # a member of the tenant vision on the local stack


def image_and_env() -> tuple[str, str, list[dict]]:
    """vision's namespace (where alice's runs execute), the pipeline base image and the env of
    the tenant's Secret `mlops-credentials`."""
    image = pipeline_image()
    return tenant_named("vision").namespace, image, [{"secretRef": {"name": PIPELINE_ENV_SECRET}}]


def submitter_env(namespace: str, person: str = PERSON) -> list[dict]:
    """How a script pod reaches the KFP API as `person` (alice): host, their token and the namespace."""
    return [{"name": "KFP_HOST", "value": kfp_api()}, {"name": "KFP_TOKEN", "value": person_token(person)},
            {"name": "NAMESPACE", "value": namespace}]


def main(count: int = 3, output: Path | None = None) -> dict:
    namespace, image, env_from = image_and_env()
    pipeline, direct, in_process = [], [], []
    for i in range(count):
        result = run_script_pod(namespace, "overhead-pipeline", image, PIPELINE_SCRIPT, [
            {"name": "PIPELINE_YAML", "value": COMPILED.read_text()},
            {"name": "ARGUMENTS", "value": json.dumps({"deploy_mode": "manifest", "model_name": "vision-iris-overhead",
                                                       "experiment_name": "/vision/overhead-pipeline"})},
            {"name": "MARKER", "value": uuid.uuid4().hex[:8]}, *submitter_env(namespace)],
            env_from=env_from, timeout=1200)
        if result["state"] != "SUCCEEDED":
            raise SystemExit(f"pipeline run {i + 1} ended {result['state']}")
        pipeline.append(result["seconds"])
        started = time.monotonic()
        result = run_script_pod(namespace, "overhead-direct", image, DIRECT_SCRIPT, [], env_from=env_from, timeout=600)
        direct.append(round(time.monotonic() - started, 1))
        in_process.append(result["in_process_s"])
        print(f"[overhead] round {i + 1}: pipeline {pipeline[-1]} s, direct pod {direct[-1]} s "
              f"(in process {in_process[-1]} s)", flush=True)
    summary = {
        "runs": count, "pipeline_s": pipeline, "direct_pod_s": direct, "direct_in_process_s": in_process,
        "median_pipeline_s": statistics.median(pipeline), "median_direct_pod_s": statistics.median(direct),
        "median_direct_in_process_s": statistics.median(in_process),
        "overhead_ratio": round(statistics.median(pipeline) / statistics.median(direct), 2),
        **measured(),
    }
    return report(summary, output)


def measured() -> dict[str, str]:
    """When and where a measurement was taken: its summary's `measured_at` and `machine`."""
    return {"measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": machine()}


def report(summary: dict, output: Path | None) -> dict:
    """Prints the summary as JSON and, given `output`, writes it there too (docs/report reads it)."""
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3, Path(sys.argv[2]) if len(sys.argv) > 2 else None)
