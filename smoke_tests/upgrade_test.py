"""`make upgrade-test`: the platform of the previous release tag, upgraded in place to this checkout
with a research group's data in it, on the local kind cluster (issue 20, point 3).

1. `make down` here (the cluster stays), then the previous release tag (the newest `v*` tag that
   is an ancestor of HEAD and not HEAD itself) checked out in build/upgrade/<tag> (git worktree)
   and deployed from there: `make up`, then its smoke test's training pipeline;
2. a snapshot of what the group has (smoke_tests/backup_drill.py: experiments, runs, registered
   versions, Kubeflow Pipelines runs, the model server's predictions);
3. `make up` from this checkout: the same Pulumi stack updated in place;
4. checked: a pre-upgrade backup Job ran and succeeded before MLflow and Kubeflow Pipelines were
   updated (the stack's state: their resources depend on the schema record), its backup copied off
   the cluster with every checksum matching and every artifact of the snapshot's runs in it; the
   snapshot again, equal; the smoke test's training pipeline again, succeeding;
5. a schema image changed for real (ML Metadata's, under another tag) with `pulumi up`: a backup
   first, finished before the metadata server's new ReplicaSet exists; `make up` goes back (and
   takes another).

Long (about 25 minutes on a 2-core VM): run by hand and reported, not part of `make test`.
Writes its timings and findings to build/upgrade-test.json. Leaves this checkout's platform up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from platform_backup import cli
from smoke_tests import backup_drill
from smoke_tests.backup_drill import SMOKE_ARGS, _log, _make, _objects, _snapshot
from tests.support.deployed import deployed, pulumi

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "build" / "upgrade-test.json"
WORKTREES = ROOT / "build" / "upgrade"
# The components that migrate a schema and must wait for the pre-upgrade backup (infra/deploy.py).
MIGRATING = ("mlops-platform:platform:Mlflow", "mlops-platform:platform:KubeflowPipelines")
WORKLOAD_TYPES = ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet")


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()


def previous_release() -> str:
    head = _git("rev-parse", "HEAD")
    for tag in _git("tag", "--list", "v*", "--sort=-creatordate").split():
        commit = _git("rev-list", "-n", "1", tag)
        is_ancestor = subprocess.run(["git", "merge-base", "--is-ancestor", commit, head], cwd=ROOT, check=False).returncode == 0
        if is_ancestor and commit != head:
            return tag
    raise SystemExit("[upgrade] no release tag (v*) before HEAD: tag the previous release (git tag -a vX.Y.Z)")


def _kubectl_json(*args: str) -> dict:
    return json.loads(cli.kubectl(*args, "-o", "json"))


def pre_upgrade_jobs(namespace: str) -> list[dict]:
    from infra.components.schema_versions import JOB_PREFIX

    return [job for job in _kubectl_json("get", "jobs", "-n", namespace)["items"]
            if job["metadata"]["name"].startswith(JOB_PREFIX)]


def stack_resources() -> list[dict]:
    """The local stack's resources from its Pulumi state."""
    return json.loads(_pulumi("stack", "export"))["deployment"]["resources"]


def migrating_dependencies() -> dict[str, object]:
    """For each migrating component: the workloads (Deployments, StatefulSets) below it that do not
    wait for the schema record (_waits), i.e. could change before the pre-upgrade backup ran."""
    resources = stack_resources()
    record = [r["urn"] for r in resources if r["urn"].endswith("::schema-versions")]
    if len(record) != 1:
        return {"schema-versions in the state": False}
    by_urn = {r["urn"]: r for r in resources}
    result: dict[str, object] = {}
    for component in MIGRATING:
        workloads = [r for r in resources if r.get("custom") and r["type"] in WORKLOAD_TYPES
                     and component in _ancestors(r, by_urn)]
        not_waiting = sorted(r["urn"].split("::")[-1] for r in workloads if not _waits(r, record[0], by_urn))
        result[component] = {"workloads": len(workloads), "not_waiting": not_waiting}
    return result


def _waits(resource: dict, record: str, by_urn: dict) -> bool:
    """The resource depends on the record itself, or is an object of a Helm chart that does: the
    provider registers a chart's objects only once the chart's dependencies are done."""
    if record in resource.get("dependencies", []):
        return True
    while resource.get("parent") in by_urn:
        resource = by_urn[resource["parent"]]
        if resource["type"] == "kubernetes:helm.sh/v4:Chart":
            return record in resource.get("dependencies", [])
    return False


def _ancestors(resource: dict, by_urn: dict) -> list[str]:
    types = []
    while resource.get("parent") in by_urn:
        resource = by_urn[resource["parent"]]
        types.append(resource["type"])
    return types


def all_wait(dependencies: dict[str, object]) -> bool:
    return all(isinstance(v, dict) and v["workloads"] and not v["not_waiting"] for v in dependencies.values())


def _pulumi(*args: str) -> str:
    """pulumi against the local stack's workspace and state (tests/support/deployed.py); a failure ends the drill."""
    try:
        return pulumi(*args)
    except RuntimeError as error:
        raise SystemExit(f"[upgrade] {error}") from None


def _created(item: dict, field: str) -> float:
    import datetime as dt
    return dt.datetime.fromisoformat(item[field].replace("Z", "+00:00")).timestamp()


def schema_image_change(backup_ns: str, timings: dict) -> tuple[dict, list[str]]:
    """A real schema-image change: ML Metadata's image under another tag (the same bytes, so
    nothing really migrates), deployed with `pulumi up`. The pre-upgrade backup must run and
    finish before the metadata server's new ReplicaSet is created; `make up` then goes back,
    with another backup."""
    from infra.components.kubeflow_pipelines.common import METADATA_WORKLOAD
    kfp_ns = deployed().kfp_namespace
    current = _pulumi("config", "get", "--path", "images.overrides.mlmd-server").strip()
    retagged = f"{current}-upgrade-test"
    subprocess.run(["docker", "tag", current, retagged], check=True)
    subprocess.run(["kind", "load", "docker-image", retagged, "--name", os.environ.get("MLOPS_CLUSTER_NAME", "mlops")],
                   check=True, capture_output=True)
    before = {job["metadata"]["name"] for job in pre_upgrade_jobs(backup_ns)}
    started = time.monotonic()
    _log(f"pulumi up with images.overrides.mlmd-server = {retagged}")
    _pulumi("config", "set", "--path", "images.overrides.mlmd-server", retagged)
    output = _pulumi("up", "--yes", "--skip-preview", "--non-interactive")
    timings["pulumi up (ML Metadata's image changed)"] = round(time.monotonic() - started, 1)
    jobs = [job for job in pre_upgrade_jobs(backup_ns) if job["metadata"]["name"] not in before]
    findings = {"retagged": retagged, "jobs": [job["metadata"]["name"] for job in jobs],
                "reason": [job["metadata"].get("annotations", {}).get("mlops-platform/reason") for job in jobs]}
    problems = []
    if len(jobs) != 1 or not jobs[0].get("status", {}).get("succeeded"):
        problems.append(f"an image change: expected one succeeded pre-upgrade backup Job, found {findings}")
        return findings, problems
    if f"mlmd-server {current} -> {retagged}" not in (findings["reason"][0] or ""):
        problems.append(f"the pre-upgrade Job's reason does not name the change: {findings['reason']}")
    replica_sets = [rs for rs in _kubectl_json("get", "replicasets", "-n", kfp_ns)["items"]
                    if rs["metadata"]["name"].startswith(METADATA_WORKLOAD)
                    and rs["spec"]["template"]["spec"]["containers"][0]["image"] == retagged]
    if len(replica_sets) != 1:
        problems.append(f"no ReplicaSet of {METADATA_WORKLOAD} with {retagged}")
        return findings, problems
    finished = _created(jobs[0]["status"], "completionTime")
    rolled = _created(replica_sets[0]["metadata"], "creationTimestamp")
    findings["backup_finished_s_before_the_new_replicaset"] = round(rolled - finished, 1)
    if finished > rolled:
        problems.append(f"ML Metadata's new ReplicaSet was created {finished - rolled:.0f} s before the backup finished")
    findings["pulumi_output_names_backup"] = "[pre-upgrade backup] backup " in output
    before = {job["metadata"]["name"] for job in pre_upgrade_jobs(backup_ns)}
    _make("up", timings=timings, label="make up (ML Metadata's image back)")
    back = [job["metadata"]["name"] for job in pre_upgrade_jobs(backup_ns) if job["metadata"]["name"] not in before]
    findings["jobs_going_back"] = back
    if len(back) != 1:
        problems.append(f"going back to {current}: expected one pre-upgrade backup Job, found {back}")
    subprocess.run(["docker", "rmi", retagged], check=False, capture_output=True)
    return findings, problems


def main() -> int:

    backup_drill.LOG_PREFIX = "upgrade"
    timings: dict[str, float] = {}
    tag = previous_release()
    tree = WORKTREES / tag
    if not tree.exists():
        WORKTREES.mkdir(parents=True, exist_ok=True)
        _git("worktree", "add", "--detach", str(tree), tag)
    _log(f"upgrading from {tag} ({_git('rev-parse', '--short', tag)}) to HEAD ({_git('rev-parse', '--short', 'HEAD')})")
    _make("down", timings=timings, label="make down (HEAD)")
    _make("up", timings=timings, label=f"make up ({tag})", cwd=tree)
    _make("smoke", f"PYTEST_ARGS={SMOKE_ARGS}", timings=timings, label=f"smoke ({tag})", cwd=tree)
    before = _snapshot()
    _log(f"snapshot on {tag}: {sum(len(r) for r in before['experiments'].values())} runs, "
         f"{sum(len(v) for v in before['models'].values())} model versions, {len(before['kfp_runs'])} KFP runs, "
         f"serving {before['serving']['status']}")
    backup_ns = deployed().backup_namespace
    jobs_before = {job["metadata"]["name"] for job in pre_upgrade_jobs(backup_ns)}
    _make("up", timings=timings, label="make up (HEAD, the upgrade)")
    new_jobs = [job for job in pre_upgrade_jobs(backup_ns) if job["metadata"]["name"] not in jobs_before]
    findings: dict = {"from": tag, "pre_upgrade_jobs": [job["metadata"]["name"] for job in new_jobs]}
    problems = []
    if len(new_jobs) != 1 or not new_jobs[0].get("status", {}).get("succeeded"):
        problems.append(f"expected one succeeded pre-upgrade backup Job, found {findings['pre_upgrade_jobs']}")
    findings["waits_for_backup"] = migrating_dependencies()
    if not all_wait(findings["waits_for_backup"]):
        problems.append(f"not every migrating workload waits for the pre-upgrade backup: {findings['waits_for_backup']}")
    if new_jobs:
        ident = cli.written_backup(backup_ns, new_jobs[0]["metadata"]["name"])
        fetched = ROOT / "build" / "upgrade-backups"
        fetched.mkdir(parents=True, exist_ok=True)
        if not (fetched / ident).exists():
            _make("backup-fetch", f"ID={ident}", f"BACKUP_DIR={fetched}", timings=timings, label="make backup-fetch")
        manifest = json.loads((fetched / ident / "manifest.json").read_text())
        findings["pre_upgrade_backup"] = {"id": ident, "objects": len(_objects(fetched / ident)),
                                          "images": manifest["platform"]["images"]}
        keys = {key for _, key, _ in _objects(fetched / ident)}
        run_ids = {run["run_id"] for runs in before["experiments"].values() for run in runs if run["artifacts"]}
        without = sorted(run for run in run_ids if not any(run in key for key in keys))
        if without:
            problems.append(f"runs of the snapshot with no object in the pre-upgrade backup: {without[:10]}")
    after = _snapshot()
    findings["snapshot_differences"] = [key for key in before if before[key] != after.get(key)]
    if findings["snapshot_differences"]:
        problems.append(f"the group's data changed across the upgrade: {findings['snapshot_differences']}")
    _make("smoke", f"PYTEST_ARGS={SMOKE_ARGS}", timings=timings, label="smoke (HEAD)")
    findings["image_change"], more = schema_image_change(backup_ns, timings)
    problems += more
    REPORT.write_text(json.dumps({"timings_s": timings, "findings": findings, "problems": problems,
                                  "before": before, "after": after}, indent=1, sort_keys=True) + "\n")
    _log(f"timings: {json.dumps(timings)}")
    _log(f"findings: {json.dumps(findings)}")
    _log(f"problems: {problems or 'none'}; report: {REPORT}")
    subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
