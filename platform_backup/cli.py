"""`make backup` and `make restore`: the operator's side of the platform's backups, run where
kubectl reaches the cluster (KUBECONFIG). The work in the cluster is done by platform_backup/job.py
in the pods of the CronJobs that infra/components/backup.py declares.

    python -m platform_backup.cli backup [--output DIR]
        Start a Job from the CronJob platform-backup now, wait for it, copy the backup it wrote
        off the cluster into DIR/<id>/ and check every checksum there.
    python -m platform_backup.cli fetch ID [--output DIR]
        Copy a backup already on the cluster's volume (a scheduled or pre-upgrade one) into
        DIR/<id>/ and check every checksum there.
    python -m platform_backup.cli restore BACKUP_DIR
        Refuse a missing, incomplete or corrupt backup, or one taken with other versions of the
        schema-owning images, before anything changes. Then copy it onto the backups volume, stop
        the servers that write the databases, run the restore Job (databases, then buckets) and
        start the servers again.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from infra.components.backup import (
    BACKUP_CRONJOB,
    BACKUP_UID,
    BACKUPS_PATH,
    COMPONENT,
    PLATFORM_FILE,
    PROGRAM_CONFIGMAP,
    RESTORE_CRONJOB,
    VOLUME_CLAIM,
)
from infra.components.common import CONTAINER_SECURITY, pod_security
from platform_backup import job

DEFAULT_OUTPUT = Path(__file__).resolve().parents[1] / "backups"
# Why a backup Job was started, when not by hand or on schedule (the pre-upgrade backup's).
REASON_ANNOTATION = "mlops-platform/reason"
POLL_S = 5


class CliError(Exception):
    """Stops the command; the message says what happened and what to do."""


def _log(message: str) -> None:
    print(f"[{dt.datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


def kubectl(*args: str, namespace: str | None = None, stdin: str | None = None, check: bool = True,
            timeout_s: int = 300) -> str:
    command = ["kubectl", *(["-n", namespace] if namespace else []), *args]
    try:
        result = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=timeout_s, check=False)
    except FileNotFoundError:
        raise CliError("kubectl is not on PATH (make backup/restore put the toolchain's on it)") from None
    except subprocess.TimeoutExpired:
        raise CliError(f"`{' '.join(command)}` did not answer in {timeout_s} s") from None
    if check and result.returncode != 0:
        raise CliError(f"`{' '.join(command)}` failed: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout


def find_namespace() -> str:
    found = json.loads(kubectl("get", "cronjobs", "-A", "-l", f"app.kubernetes.io/component={COMPONENT}", "-o", "json"))
    namespaces = sorted({item["metadata"]["namespace"] for item in found["items"]
                         if item["metadata"]["name"] == BACKUP_CRONJOB})
    if len(namespaces) != 1:
        raise CliError(f"expected the CronJob {BACKUP_CRONJOB} in one namespace of this cluster, found it in "
                       f"{namespaces or 'none'}: deploy the platform with backup.enabled (make up), or point "
                       "KUBECONFIG at the platform's cluster")
    return namespaces[0]


def platform_description(namespace: str) -> dict[str, Any]:
    configmap = json.loads(kubectl("get", "configmap", PROGRAM_CONFIGMAP, "-o", "json", namespace=namespace))
    try:
        return json.loads(configmap["data"][PLATFORM_FILE])
    except (KeyError, ValueError) as exc:
        raise CliError(f"ConfigMap {namespace}/{PROGRAM_CONFIGMAP} holds no valid {PLATFORM_FILE}: {exc}") from None


def _pod_progress(namespace: str, job_name: str) -> str:
    pods = json.loads(kubectl("get", "pods", "-l", f"job-name={job_name}", "-o", "json", namespace=namespace))["items"]
    if not pods:
        return "no pod yet"
    pod = pods[-1]
    states = []
    for status in pod["status"].get("initContainerStatuses", []) + pod["status"].get("containerStatuses", []):
        state = next(iter(status.get("state", {})), "waiting")
        detail = status["state"].get(state, {}).get("reason", "")
        states.append(f"{status['name']} {state}{' (' + detail + ')' if detail else ''}")
    return f"pod {pod['metadata']['name']} {pod['status'].get('phase')}: " + (", ".join(states) or "starting")


def wait_for_job(namespace: str, job_name: str, timeout_s: int) -> None:
    """Wait for the Job, printing each change of its pod's containers; on failure show their logs."""
    deadline, last = time.monotonic() + timeout_s, ""
    while True:
        status = json.loads(kubectl("get", "job", job_name, "-o", "json", namespace=namespace)).get("status", {})
        progress = _pod_progress(namespace, job_name)
        if progress != last:
            _log(f"{job_name}: {progress}")
            last = progress
        if status.get("succeeded"):
            return
        failed = any(c["type"] == "Failed" and c["status"] == "True" for c in status.get("conditions", []))
        if failed or time.monotonic() > deadline:
            logs = kubectl("logs", f"job/{job_name}", "--all-containers", "--prefix", "--tail=40",
                           namespace=namespace, check=False)
            why = "failed" if failed else f"did not finish in {timeout_s} s"
            raise CliError(f"Job {namespace}/{job_name} {why}; last state: {progress}\n{logs.rstrip()}")
        time.sleep(POLL_S)


class VolumePod:
    """A short-lived pod that mounts the backups volume, to copy backups off it and onto it."""

    def __init__(self, namespace: str, image: str, read_only: bool) -> None:
        self.namespace = namespace
        self.name = f"platform-backup-transfer-{int(time.time())}"
        self.manifest = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": self.name, "labels": {"app.kubernetes.io/component": COMPONENT}},
            "spec": {
                "restartPolicy": "Never", "automountServiceAccountToken": False,
                "securityContext": pod_security(BACKUP_UID),
                "containers": [{"name": "transfer", "image": image, "imagePullPolicy": "IfNotPresent",
                                "command": ["sleep", "3600"], "securityContext": CONTAINER_SECURITY,
                                "resources": {"requests": {"cpu": "10m", "memory": "32Mi"},
                                              "limits": {"cpu": "500m", "memory": "256Mi"}},
                                "volumeMounts": [{"name": "backups", "mountPath": BACKUPS_PATH, "readOnly": read_only}]}],
                "volumes": [{"name": "backups", "persistentVolumeClaim": {"claimName": VOLUME_CLAIM}}],
            },
        }

    def __enter__(self) -> VolumePod:
        kubectl("create", "-f", "-", namespace=self.namespace, stdin=json.dumps(self.manifest))
        kubectl("wait", "--for=condition=Ready", f"pod/{self.name}", "--timeout=180s", namespace=self.namespace)
        return self

    def __exit__(self, *_: object) -> None:
        kubectl("delete", "pod", self.name, "--wait=false", namespace=self.namespace, check=False)

    def exec_command(self, *args: str, interactive: bool = False) -> list[str]:
        return ["kubectl", "-n", self.namespace, "exec", *(["-i"] if interactive else []), self.name, "--", *args]


def _pipe(producer: list[str], consumer: list[str], what: str) -> None:
    with subprocess.Popen(producer, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as first:
        second = subprocess.run(consumer, stdin=first.stdout, capture_output=True, check=False)
        first.stdout.close()
        first_err = first.stderr.read().decode()
        first.wait()
    if first.returncode or second.returncode:
        raise CliError(f"{what} failed: {first_err.strip()} {second.stderr.decode().strip()}")


def _cronjob_image(namespace: str) -> str:
    cronjob = json.loads(kubectl("get", "cronjob", BACKUP_CRONJOB, "-o", "json", namespace=namespace))
    return cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["image"]


def take_backup(namespace: str, job_name: str, timeout_s: int, reason: str = "") -> str:
    """Start a Job from the backup CronJob, wait for it and return the id of the backup it wrote
    on the volume. `reason` is kept on the Job (annotation mlops-platform/reason)."""
    _log(f"starting Job {namespace}/{job_name} from CronJob {BACKUP_CRONJOB} (databases, then every bucket)")
    kubectl("create", "job", f"--from=cronjob/{BACKUP_CRONJOB}", job_name, namespace=namespace)
    if reason:
        kubectl("annotate", "job", job_name, f"{REASON_ANNOTATION}={reason}", namespace=namespace)
    wait_for_job(namespace, job_name, timeout_s)
    return written_backup(namespace, job_name)


def written_backup(namespace: str, job_name: str) -> str:
    """The id of the backup a finished backup Job wrote (its store container logs BACKUP_ID=...)."""
    logs = kubectl("logs", f"job/{job_name}", "-c", "store", namespace=namespace)
    ids = [line.split("BACKUP_ID=", 1)[1].split()[0] for line in logs.splitlines() if "BACKUP_ID=" in line]
    if len(ids) != 1:
        raise CliError(f"Job {job_name} succeeded but its log names no backup (BACKUP_ID=...):\n{logs}")
    return ids[0]


def fetch(namespace: str, ident: str, output: Path) -> Path:
    """Copy the backup `ident` off the volume into output/ident and check every checksum there."""
    output.mkdir(parents=True, exist_ok=True, mode=0o700)
    if (output / ident).exists():
        raise CliError(f"{output / ident} exists already; move it away and run the command again")
    _log(f"copying backup {ident} off the cluster into {output / ident}")
    with VolumePod(namespace, _cronjob_image(namespace), read_only=True) as pod:
        listing = subprocess.run(pod.exec_command("ls", "-1", BACKUPS_PATH), capture_output=True, text=True, check=False)
        on_volume = [name for name in listing.stdout.split() if not name.endswith(".partial") and name != "lost+found"]
        if ident not in on_volume:
            raise CliError(f"no backup {ident!r} on the volume {namespace}/{VOLUME_CLAIM}; it holds: "
                           f"{', '.join(on_volume) or 'none'}")
        _pipe(pod.exec_command("tar", "-C", BACKUPS_PATH, "-cf", "-", ident), ["tar", "-C", str(output), "-xf", "-"],
              f"copying {ident} off the volume")
    problems = job.verify(output / ident)
    if problems:
        raise CliError(f"the copy in {output / ident} does not match its manifest:\n  " + "\n  ".join(problems))
    manifest = json.loads((output / ident / job.MANIFEST).read_text())
    _log(f"backup {ident}: {manifest['totals']['objects']} objects ({manifest['totals']['bytes']} bytes) in "
         f"{len(manifest['buckets'])} buckets, databases {', '.join(manifest['databases'])}; every checksum matches")
    _log(f"restore it with: make restore BACKUP={output / ident}")
    return output / ident


def backup(output: Path, timeout_s: int) -> Path:
    namespace = find_namespace()
    ident = take_backup(namespace, f"{BACKUP_CRONJOB}-now-{dt.datetime.now(dt.UTC).strftime('%Y%m%d%H%M%S')}", timeout_s)
    return fetch(namespace, ident, output)


def _replicas(writer: dict[str, str]) -> int:
    return int(kubectl("get", writer["kind"].lower(), writer["name"], "-o", "jsonpath={.spec.replicas}",
                       namespace=writer["namespace"]) or 0)


def _scale(writers: list[dict[str, str]], replicas: dict[str, int], wait: bool) -> None:
    for writer in writers:
        target = f"{writer['kind'].lower()}/{writer['name']}"
        kubectl("scale", target, f"--replicas={replicas[writer['name']]}", namespace=writer["namespace"])
    if not wait:
        return
    for writer in writers:
        target = f"{writer['kind'].lower()}/{writer['name']}"
        kubectl("rollout", "status", target, "--timeout=600s", namespace=writer["namespace"], timeout_s=660)


def _wait_stopped(writers: list[dict[str, str]], timeout_s: int = 300) -> None:
    """Wait until no pod of the writers is left, terminating ones included (they may hold connections)."""
    deadline = time.monotonic() + timeout_s
    for writer in writers:
        workload = json.loads(kubectl("get", writer["kind"].lower(), writer["name"], "-o", "json", namespace=writer["namespace"]))
        selector = ",".join(f"{k}={v}" for k, v in workload["spec"]["selector"]["matchLabels"].items())
        while True:
            pods = kubectl("get", "pods", "-l", selector, "-o", "name", namespace=writer["namespace"]).split()
            if not pods:
                break
            if time.monotonic() > deadline:
                raise CliError(f"{writer['namespace']}/{writer['name']} still has pods {pods} after {timeout_s} s")
            time.sleep(2)


def restore(backup_dir: Path, timeout_s: int) -> None:
    namespace = find_namespace()
    platform = platform_description(namespace)
    _log(f"checking {backup_dir} (every checksum, and the images against this platform's)")
    problems = job.verify(backup_dir, platform)
    if problems:
        raise CliError("nothing was changed; the backup is refused:\n  " + "\n  ".join(problems))
    ident = json.loads((backup_dir / job.MANIFEST).read_text())["id"]
    running = [item["metadata"]["name"] for item in json.loads(kubectl("get", "jobs", "-o", "json",
                                                                         namespace=namespace))["items"]
               if not item.get("status", {}).get("completionTime") and not item.get("status", {}).get("failed")]
    if running:
        raise CliError(f"nothing was changed; a backup or restore Job is running in {namespace}: {', '.join(running)}; "
                       "wait for it and run make restore again")
    _log(f"copying backup {ident} onto the volume {namespace}/{VOLUME_CLAIM}")
    with VolumePod(namespace, _cronjob_image(namespace), read_only=False) as pod:
        _pipe(["tar", "-C", str(backup_dir.resolve().parent), f"--transform=s,^{backup_dir.resolve().name},{ident},",
               "-cf", "-", backup_dir.resolve().name],
              pod.exec_command("tar", "-C", BACKUPS_PATH, "-xf", "-", interactive=True), f"copying {ident} onto the volume")
    writers = platform["writers"]
    replicas = {writer["name"]: _replicas(writer) for writer in writers}
    _log("stopping the servers that write the databases: " + ", ".join(f"{w['namespace']}/{w['name']}" for w in writers))
    job_name = f"{RESTORE_CRONJOB}-{ident.lower()}-{int(time.time()) % 100000}"
    try:
        _scale(writers, dict.fromkeys(replicas, 0), wait=False)
        _wait_stopped(writers)
        cronjob = json.loads(kubectl("get", "cronjob", RESTORE_CRONJOB, "-o", "json", namespace=namespace))
        template = cronjob["spec"]["jobTemplate"]
        pod_spec = template["spec"]["template"]["spec"]
        for container in pod_spec["initContainers"] + pod_spec["containers"]:
            container.setdefault("env", []).append({"name": "BACKUP_ID", "value": ident})
        # Owned by the CronJob, as the Jobs it starts itself: deleting the platform (make down,
        # pulumi destroy) deletes the Job and its pod, which would otherwise keep the volume.
        owner = {"apiVersion": "batch/v1", "kind": "CronJob", "name": RESTORE_CRONJOB,
                 "uid": cronjob["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}
        manifest = {"apiVersion": "batch/v1", "kind": "Job",
                    "metadata": {"name": job_name, "labels": template["metadata"].get("labels", {}),
                                 "ownerReferences": [owner]},
                    "spec": template["spec"]}
        _log(f"starting Job {namespace}/{job_name}: verify, MLflow's database, Kubeflow Pipelines' databases, buckets")
        kubectl("create", "-f", "-", namespace=namespace, stdin=json.dumps(manifest))
        wait_for_job(namespace, job_name, timeout_s)
    finally:
        _log("starting the servers again")
        _scale(writers, replicas, wait=True)
    restore_model_servers(backup_dir)
    _log(f"restored backup {ident}: databases, buckets and model servers are back, the servers are running")


def restore_model_servers(backup_dir: Path) -> None:
    """Apply the tenants' model servers the backup recorded, and wait until they serve."""
    listing = json.loads((backup_dir / job.MODEL_SERVERS_FILE).read_text())
    deployments = [item for item in listing["items"] if item["kind"] == "Deployment"]
    if not listing["items"]:
        _log("the backup records no model servers")
        return
    _log(f"applying {len(listing['items'])} model-server objects: "
         + ", ".join(f"{i['kind']} {i['metadata']['namespace']}/{i['metadata']['name']}" for i in listing["items"]))
    kubectl("apply", "-f", "-", stdin=json.dumps(listing))
    for item in deployments:
        # A model server loads its model from MLflow when it starts: minutes on a small node.
        kubectl("rollout", "status", f"deployment/{item['metadata']['name']}", "--timeout=900s",
                namespace=item["metadata"]["namespace"], timeout_s=960)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="platform_backup.cli", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_backup = sub.add_parser("backup", help="take a backup now and copy it off the cluster")
    p_backup.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"folder for the copy ({DEFAULT_OUTPUT})")
    p_backup.add_argument("--timeout", type=int, default=3600, help="seconds to wait for the Job")
    p_fetch = sub.add_parser("fetch", help="copy a backup on the cluster's volume off the cluster")
    p_fetch.add_argument("id", nargs="?", default="", help="the backup's id (ID=...; the folder name on the volume)")
    p_fetch.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"folder for the copy ({DEFAULT_OUTPUT})")
    p_restore = sub.add_parser("restore", help="restore a backup folder that make backup wrote")
    p_restore.add_argument("backup", nargs="?", default="", help="the backup folder (BACKUP=...)")
    p_restore.add_argument("--timeout", type=int, default=3600, help="seconds to wait for the Job")
    args = parser.parse_args(argv)
    try:
        if args.command == "backup":
            backup(args.output, args.timeout)
        elif args.command == "fetch":
            if not args.id:
                raise CliError("name the backup: make backup-fetch ID=<id> (a wrong id lists the volume's backups)")
            fetch(find_namespace(), args.id, args.output)
        else:
            if not args.backup:
                raise CliError("name the backup: make restore BACKUP=<folder that make backup printed>")
            restore(Path(args.backup), args.timeout)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
