"""The platform's backup program. It runs in the cluster, in the pods of the CronJob
`platform-backup` and of the restore Job that `make restore` starts; `make backup` and
`make restore` (platform_backup/cli.py) use its `verify` on the operator's machine too.

It needs only the Python standard library and boto3 (the MLflow image has both), because the
platform mounts this one file into the pod from a ConfigMap.

    job.py store --dumps DIR --target DIR --retention N --platform FILE
        The init containers have dumped the databases into DIR (mlflow.pgdump,
        kubeflow-pipelines.sql); copy every bucket named in the platform file, write the backup
        as <target>/<id>/ (manifest.json last, then the folder renamed from <id>.partial), and
        keep the newest N backups.
    job.py verify BACKUP_DIR [--platform FILE]
        Exit 2, naming every problem, when the backup is incomplete, corrupt, or was taken from
        another version of the platform's schema-owning images than FILE describes.
    job.py restore-buckets BACKUP_DIR
        Put every object of the backup back into its bucket (the buckets must exist).

The S3 endpoint and keys come from S3_ENDPOINT, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.

Consistency: the databases are dumped before any bucket is listed, and nothing of the platform
deletes an artifact that a database row points at, so every artifact a dumped row names (a
registered model version's files, a KFP run's pipeline package) was written before the dump and
is in the copy. Objects written while the copy runs may be in it without a row: harmless.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import ssl
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

FORMAT = "mlops-platform-backup/1"
MANIFEST = "manifest.json"
PARTIAL_SUFFIX = ".partial"
# The dump file of each database the platform may hold, as the init containers write it (their
# commands live in infra/components/backup.py); the platform file lists the ones it has.
DATABASE_FILES = {"mlflow": "mlflow.pgdump", "kubeflow-pipelines": "kubeflow-pipelines.sql"}
# The model servers of the tenant namespaces (Deployments and Services), as the Kubernetes API
# returned them less what the cluster set; make restore applies them again.
MODEL_SERVERS_FILE = "kubernetes/model-servers.json"
_SERVICE_ACCOUNT = Path("/var/run/secrets/platform-backup")
_CLUSTER_FIELDS = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink")
_ID = re.compile(r"^\d{8}T\d{6}Z$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 20


class BackupError(Exception):
    """A problem that stops the program; the message says what and where."""


def backup_id(now: dt.datetime | None = None) -> str:
    return (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _log(message: str) -> None:
    print(f"[backup] {message}", flush=True)


def s3_client() -> Any:
    import boto3
    from botocore.config import Config

    missing = [name for name in ("S3_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY") if not os.environ.get(name)]
    if missing:
        raise BackupError(f"environment lacks {', '.join(missing)} (the Secret platform-backup-credentials)")
    return boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT"], region_name="us-east-1",
                        config=Config(retries={"max_attempts": 10, "mode": "standard"},
                                      s3={"addressing_style": "path"}))


def read_platform(path: Path) -> dict[str, Any]:
    try:
        platform = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BackupError(f"cannot read the platform description {path}: {exc}") from None
    if not isinstance(platform, dict) or not isinstance(platform.get("images"), dict) \
            or not isinstance(platform.get("buckets"), list) or not isinstance(platform.get("databases"), list):
        raise BackupError(f"{path} lacks `images` (a map), `buckets` or `databases` (lists)")
    unknown = sorted(set(platform["databases"]) - set(DATABASE_FILES))
    if unknown:
        raise BackupError(f"{path}: unknown databases {', '.join(unknown)}; known: {', '.join(DATABASE_FILES)}")
    return platform


def copy_bucket(s3: Any, bucket: str, objects_dir: Path) -> list[dict[str, Any]]:
    """Every object of `bucket` into objects_dir/<sha256> (content-addressed: an object stored in
    several buckets or keys is kept once; a key never becomes a path). Returns its entries."""
    entries = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            key = item["Key"]
            digest, size = hashlib.sha256(), 0
            with tempfile.NamedTemporaryFile(dir=objects_dir, prefix=".download-", delete=False) as handle:
                body = s3.get_object(Bucket=bucket, Key=key)["Body"]
                for chunk in body.iter_chunks(_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    handle.write(chunk)
            temporary, sha = Path(handle.name), digest.hexdigest()
            if (objects_dir / sha).exists():
                temporary.unlink()
            else:
                temporary.rename(objects_dir / sha)
            entries.append({"key": key, "size": size, "sha256": sha})
    return entries


def _kubernetes_get(path: str) -> dict[str, Any]:
    """GET from the Kubernetes API with the pod's projected ServiceAccount token (stdlib only)."""
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if not host or not (_SERVICE_ACCOUNT / "token").is_file():
        raise BackupError(f"no Kubernetes API credentials in {_SERVICE_ACCOUNT} (the pod's projected token)")
    context = ssl.create_default_context(cafile=str(_SERVICE_ACCOUNT / "ca.crt"))
    request = urllib.request.Request(f"https://{host}:{port}{path}", headers={
        "Authorization": f"Bearer {(_SERVICE_ACCOUNT / 'token').read_text().strip()}", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, context=context, timeout=60) as response:  # noqa: S310 (https only)
            return json.loads(response.read())
    except OSError as exc:
        raise BackupError(f"reading {path} from the Kubernetes API failed: {exc}") from None


def clean_object(item: dict[str, Any], kind: str, api_version: str) -> dict[str, Any]:
    """The object as it would be applied again: without status and the fields the cluster set."""
    metadata = {k: v for k, v in item["metadata"].items() if k not in _CLUSTER_FIELDS}
    metadata.get("annotations", {}).pop("deployment.kubernetes.io/revision", None)
    metadata.get("annotations", {}).pop("kubectl.kubernetes.io/last-applied-configuration", None)
    spec = dict(item["spec"])
    if kind == "Service":
        for key in ("clusterIP", "clusterIPs"):
            spec.pop(key, None)
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, "spec": spec}


def export_model_servers(namespaces: list[str], selector: str, get: Any = _kubernetes_get) -> list[dict[str, Any]]:
    items = []
    query = urllib.parse.urlencode({"labelSelector": selector})
    for namespace in namespaces:
        for api, plural, kind, version in (("/apis/apps/v1", "deployments", "Deployment", "apps/v1"),
                                           ("/api/v1", "services", "Service", "v1")):
            found = get(f"{api}/namespaces/{namespace}/{plural}?{query}")["items"]
            items += [clean_object(item, kind, version) for item in found]
    return items


def store(s3: Any, dumps: Path, target: Path, retention: int, platform: dict[str, Any],
          now: dt.datetime | None = None, get: Any = _kubernetes_get) -> Path:
    """Write one backup under `target` and prune to `retention`; returns its folder."""
    if retention < 1:
        raise BackupError(f"retention must be 1 or more, got {retention}")
    missing = [DATABASE_FILES[name] for name in platform["databases"] if not (dumps / DATABASE_FILES[name]).is_file()]
    if missing:
        raise BackupError(f"the database dumps {', '.join(missing)} are missing in {dumps}: an init container failed")
    ident = backup_id(now)
    partial = target / f"{ident}{PARTIAL_SUFFIX}"
    final = target / ident
    if final.exists():
        raise BackupError(f"{final} exists already: two backups in the same second")
    shutil.rmtree(partial, ignore_errors=True)
    (partial / "databases").mkdir(parents=True)
    (partial / "objects").mkdir()
    databases = {}
    for name in platform["databases"]:
        filename = DATABASE_FILES[name]
        path = partial / "databases" / filename
        shutil.copyfile(dumps / filename, path)
        databases[name] = {"file": f"databases/{filename}", "size": path.stat().st_size, "sha256": _sha256_file(path)}
        _log(f"database {name}: {databases[name]['size']} bytes")
    servers = platform.get("modelServers", {})
    objects = export_model_servers(servers.get("namespaces", []), servers.get("selector", ""), get) if servers else []
    path = partial / MODEL_SERVERS_FILE
    path.parent.mkdir()
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}, indent=1, sort_keys=True) + "\n")
    kubernetes = {"file": MODEL_SERVERS_FILE, "objects": len(objects), "size": path.stat().st_size,
                  "sha256": _sha256_file(path)}
    _log(f"model servers: {len(objects)} objects (Deployments, Services) in {servers.get('namespaces', [])}")
    buckets = {}
    for bucket in platform["buckets"]:
        buckets[bucket] = copy_bucket(s3, bucket, partial / "objects")
        _log(f"bucket {bucket}: {len(buckets[bucket])} objects, {sum(e['size'] for e in buckets[bucket])} bytes")
    manifest = {
        "format": FORMAT, "id": ident,
        "created": (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"),
        "platform": {"images": platform["images"], "databases": platform["databases"]},
        "databases": databases,
        "kubernetes": kubernetes,
        "buckets": buckets,
        "totals": {"objects": sum(len(e) for e in buckets.values()),
                   "bytes": sum(entry["size"] for e in buckets.values() for entry in e)},
    }
    (partial / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    partial.rename(final)
    _log(f"BACKUP_ID={ident} ({manifest['totals']['objects']} objects, {manifest['totals']['bytes']} bytes) in {final}")
    prune(target, retention)
    return final


def prune(target: Path, retention: int) -> list[str]:
    """Remove all but the newest `retention` complete backups and every leftover partial one."""
    complete = sorted(p.name for p in target.iterdir() if _ID.match(p.name) and (p / MANIFEST).is_file())
    removed = complete[:-retention] if len(complete) > retention else []
    removed += [p.name for p in target.iterdir() if p.name.endswith(PARTIAL_SUFFIX)]
    for name in removed:
        shutil.rmtree(target / name)
        _log(f"removed {name} (retention {retention})")
    return removed


def verify(backup: Path, platform: dict[str, Any] | None = None) -> list[str]:
    """Every problem of the backup folder: [] when it is complete, intact and (with `platform`)
    from the same versions of the schema-owning images."""
    if not backup.is_dir():
        return [f"{backup} is not a folder (BACKUP= names a backup folder, as `make backup` printed it)"]
    try:
        manifest = json.loads((backup / MANIFEST).read_text())
    except FileNotFoundError:
        return [f"{backup / MANIFEST} is missing: not a backup, or one that did not finish"]
    except ValueError as exc:
        return [f"{backup / MANIFEST} is not valid JSON ({exc}): the backup is corrupt"]
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        return [f"{backup / MANIFEST}: format {found!r}, expected {FORMAT!r}"]
    problems = []
    expected: dict[str, tuple[int, str]] = {}
    for name in manifest.get("platform", {}).get("databases", []):
        entry = manifest.get("databases", {}).get(name)
        if not entry:
            problems.append(f"the manifest lists no dump of database {name}")
            continue
        expected[entry["file"]] = (entry["size"], entry["sha256"])
    if "kubernetes" not in manifest:
        problems.append("the manifest lists no model servers (kubernetes)")
    else:
        expected[manifest["kubernetes"]["file"]] = (manifest["kubernetes"]["size"], manifest["kubernetes"]["sha256"])
    for bucket, entries in manifest.get("buckets", {}).items():
        for entry in entries:
            if not _SHA256.match(str(entry.get("sha256", ""))):
                problems.append(f"bucket {bucket}, key {entry.get('key')!r}: malformed checksum")
                continue
            expected[f"objects/{entry['sha256']}"] = (entry["size"], entry["sha256"])
    for relative, (size, sha) in sorted(expected.items()):
        if Path(relative).is_absolute() or ".." in Path(relative).parts:
            problems.append(f"{relative}: a path outside the backup folder")
            continue
        path = backup / relative
        if not path.is_file():
            problems.append(f"{relative} is missing")
        elif path.stat().st_size != size:
            problems.append(f"{relative}: {path.stat().st_size} bytes, the manifest says {size}")
        elif _sha256_file(path) != sha:
            problems.append(f"{relative}: checksum differs from the manifest (corrupt)")
    if platform is not None:
        taken = manifest.get("platform", {}).get("images", {})
        for name in sorted(set(taken) | set(platform["images"])):
            if taken.get(name) != platform["images"].get(name):
                problems.append(f"image {name}: the backup was taken with {taken.get(name)!r}, this platform runs "
                                f"{platform['images'].get(name)!r}; restore onto a platform of the backup's version "
                                "(the schema of its databases must match), then upgrade")
        databases = manifest.get("platform", {}).get("databases", [])
        if sorted(databases) != sorted(platform["databases"]):
            problems.append(f"the backup holds the databases {databases}, this platform has {platform['databases']}")
        missing = sorted(set(manifest.get("buckets", {})) - set(platform["buckets"]))
        if missing:
            problems.append(f"buckets {', '.join(missing)} of the backup do not exist on this platform "
                            "(a tenant removed from the stack?); add them back to the stack first")
    return problems


def restore_buckets(s3: Any, backup: Path) -> int:
    manifest = json.loads((backup / MANIFEST).read_text())
    count = 0
    for bucket, entries in sorted(manifest["buckets"].items()):
        for entry in entries:
            s3.upload_file(str(backup / "objects" / entry["sha256"]), bucket, entry["key"])
            count += 1
        _log(f"bucket {bucket}: {len(entries)} objects put back")
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="job.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_store = sub.add_parser("store")
    p_store.add_argument("--dumps", type=Path, required=True)
    p_store.add_argument("--target", type=Path, required=True)
    p_store.add_argument("--retention", type=int, required=True)
    p_store.add_argument("--platform", type=Path, required=True)
    p_verify = sub.add_parser("verify")
    p_verify.add_argument("backup", type=Path)
    p_verify.add_argument("--platform", type=Path)
    p_restore = sub.add_parser("restore-buckets")
    p_restore.add_argument("backup", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "store":
            store(s3_client(), args.dumps, args.target, args.retention, read_platform(args.platform))
        elif args.command == "verify":
            problems = verify(args.backup, read_platform(args.platform) if args.platform else None)
            for problem in problems:
                print(f"[backup] refused: {problem}", file=sys.stderr)
            if problems:
                return 2
            _log(f"{args.backup}: complete, every checksum matches")
        else:
            restore_buckets(s3_client(), args.backup)
    except BackupError as exc:
        print(f"[backup] error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
