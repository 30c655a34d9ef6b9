"""`make backup-drill`: the disaster drill of issue 20 on the local kind cluster, timed.

1. the smoke test's training pipeline (two runs: train, register, serve) on what `make up` deployed;
2. a snapshot of what a research group has: its MLflow experiments, runs (params, metrics, tags),
   registered versions, its Kubeflow Pipelines runs and the model server's predictions;
3. `make backup`; then `make down` and the kind cluster deleted;
4. `make up` (a new cluster, new generated passwords and keys) and `make restore BACKUP=...`;
5. the snapshot again: equal; a second backup whose every bucket object of the first (key and
   SHA-256) is there; and the smoke test again: new runs succeed on the restored platform.

Long (about 30 minutes on a 2-core VM): run by hand and reported, not part of `make test`.
Writes its timings and comparisons to build/backup-drill.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.support.scripts import pod_script

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "build" / "backup-drill.json"
SMOKE_ARGS = "-k training_pipeline"

# Runs in the tenant's namespace on the pipeline image as the tenant (mlops-credentials) and as
# alice (KFP token); prints everything the group would miss after a disaster, in a stable order.
SNAPSHOT_SCRIPT = pod_script("drill_snapshot")


# The log lines' prefix; make upgrade-test, which reuses these helpers, sets its own.
LOG_PREFIX = "drill"


def _log(message: str) -> None:
    print(f"[{LOG_PREFIX} {time.strftime('%H:%M:%S')}] {message}", flush=True)


def _make(*args: str, timings: dict, label: str, cwd: Path = ROOT) -> str:
    """`make ARGS` in cwd (this checkout, or another one: make upgrade-test's older release),
    timed into timings[label]; without this process's virtualenv variables, so that each
    checkout's Makefile uses its own."""
    started = time.monotonic()
    where = "" if cwd == ROOT else f"({cwd.name}) "
    _log(f"{where}make {' '.join(args)}")
    env = {key: value for key, value in os.environ.items() if key not in ("VIRTUAL_ENV", "PYTHONPATH")}
    result = subprocess.run(["make", *args], cwd=cwd, env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, check=False)
    timings[label] = round(time.monotonic() - started, 1)
    print(result.stdout[-3000:], flush=True)
    if result.returncode:
        raise SystemExit(f"[{LOG_PREFIX}] {where}make {' '.join(args)} failed ({result.returncode}) after {timings[label]} s")
    return result.stdout


def _snapshot() -> dict:
    from smoke_tests.smoke import MODEL_NAME, PERSON, tenant
    from tests.support.deployed import deployed
    from tests.support.platform import person_token, pipeline_image, run_script_pod

    kfp_namespace = deployed().kfp_namespace
    return run_script_pod(tenant().namespace, "backup-drill", pipeline_image(), SNAPSHOT_SCRIPT, [
        {"name": "KFP_HOST", "value": f"http://ml-pipeline.{kfp_namespace}.svc.cluster.local.:8888"},
        {"name": "KFP_TOKEN", "value": person_token(PERSON)}, {"name": "NAMESPACE", "value": tenant().namespace},
        {"name": "SERVING_URL", "value": f"http://model-{MODEL_NAME}.{tenant().namespace}.svc.cluster.local:8080"}],
        env_from=[{"secretRef": {"name": "mlops-credentials"}}], timeout=600, needs=())


def _objects(backup: Path) -> set[tuple[str, str, str]]:
    manifest = json.loads((backup / "manifest.json").read_text())
    return {(bucket, e["key"], e["sha256"]) for bucket, entries in manifest["buckets"].items() for e in entries}


def _newest(folder: Path, before: set[str]) -> Path:
    created = sorted(p for p in folder.iterdir() if p.name not in before)
    if len(created) != 1:
        raise SystemExit(f"[drill] expected one new backup in {folder}, found {created}")
    return created[0]


def main() -> int:
    timings: dict[str, float] = {}
    backups = ROOT / "build" / "drill-backups"
    backups.mkdir(parents=True, exist_ok=True)
    cluster = os.environ.get("MLOPS_CLUSTER_NAME", "mlops")
    _make("smoke", f"PYTEST_ARGS={SMOKE_ARGS}", timings=timings, label="smoke before")
    before = _snapshot()
    _log(f"snapshot: {len(before['experiments'])} experiments, {sum(len(r) for r in before['experiments'].values())} "
         f"runs, {sum(len(v) for v in before['models'].values())} model versions, {len(before['kfp_runs'])} KFP runs, "
         f"serving {before['serving']['status']}")
    if before["serving"]["status"] != 200:
        raise SystemExit(f"[drill] the model server does not answer before the backup: {before['serving']}")
    existing = {p.name for p in backups.iterdir()}
    _make("backup", f"BACKUP_DIR={backups}", timings=timings, label="make backup")
    first = _newest(backups, existing)
    _make("down", timings=timings, label="make down")
    started = time.monotonic()
    subprocess.run(["kind", "delete", "cluster", "--name", cluster], check=True)
    timings["cluster deleted"] = round(time.monotonic() - started, 1)
    _make("up", timings=timings, label="make up (new cluster)")
    _make("restore", f"BACKUP={first}", timings=timings, label="make restore")
    after = _snapshot()
    differences = [key for key in before if before[key] != after.get(key)]
    existing = {p.name for p in backups.iterdir()}
    _make("backup", f"BACKUP_DIR={backups}", timings=timings, label="make backup (restored)")
    second = _newest(backups, existing)
    missing = sorted(_objects(first) - _objects(second))
    _make("smoke", f"PYTEST_ARGS={SMOKE_ARGS}", timings=timings, label="smoke after")
    report = {"timings_s": timings, "first_backup": first.name, "second_backup": second.name,
              "snapshot_differences": differences, "objects_in_first": len(_objects(first)),
              "objects_missing_after_restore": missing[:20], "before": before, "after": after}
    REPORT.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    _log(f"timings: {json.dumps(timings)}")
    _log(f"snapshot differences: {differences or 'none'}; bucket objects of the first backup missing after the "
         f"restore: {len(missing)} of {len(_objects(first))}; report: {REPORT}")
    return 1 if differences or missing else 0


if __name__ == "__main__":
    sys.exit(main())
