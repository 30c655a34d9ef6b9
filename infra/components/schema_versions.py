"""The versions of the images that own the platform's database schemas, recorded in the stack's
state, and the backup taken before an update changes one of them.

MLflow, PostgreSQL, MySQL, Kubeflow Pipelines' API server and ML Metadata migrate their schemas
(or their data files) when a new version starts, and there is no way back without a backup. The
components that run them depend on SchemaVersions, so Pulumi updates it first; its hooks start a
Job from the backup CronJob in the cluster and wait for it before anything of MLflow or Kubeflow
Pipelines changes:
- before_update: when a recorded image differs from the new one;
- before_create: when the platform was deployed before by a version that kept no record (its
  backup CronJob exists already); on a first install there is nothing to back up.
Hooks run in `pulumi up` only (never in a preview, nor in render mode), with kubectl and the same KUBECONFIG as the
Kubernetes provider. If the backup fails, the update stops there: nothing that migrates has
changed. PLATFORM_PRE_UPGRADE_BACKUP=skip in the environment of `pulumi up` goes on without one
(said loudly), for a platform whose backup cannot run; docs/operations.md runbook 11.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider, UpdateResult

SKIP_VARIABLE = "PLATFORM_PRE_UPGRADE_BACKUP"
# The pre-upgrade backup Job's name starts so (platform-backup-pre-upgrade-<UTC time>).
JOB_PREFIX = "platform-backup-pre-upgrade"
# At most as long as the backup CronJob's own deadline (activeDeadlineSeconds, 6 h).
TIMEOUT_S = 6 * 3600


class _RecordProvider(ResourceProvider):
    """Keeps its inputs; an update (never a replacement) when they change."""

    def create(self, props):
        return CreateResult(id_=uuid.uuid4().hex, outs=dict(props))

    def diff(self, _id, olds, news):
        keys = ("images", "backupNamespace")
        changed = any(olds.get(key) != news.get(key) for key in keys)
        return DiffResult(changes=changed, replaces=[], delete_before_replace=False)

    def update(self, _id, _olds, news):
        return UpdateResult(outs=dict(news))


def changed_images(old: dict[str, str] | None, new: dict[str, str]) -> dict[str, tuple[str | None, str | None]]:
    """name -> (old reference, new reference) of every schema image that differs."""
    old = old or {}
    return {name: (old.get(name), new.get(name)) for name in sorted(set(old) | set(new)) if old.get(name) != new.get(name)}


def _log(message: str) -> None:
    pulumi.log.info(f"[pre-upgrade backup] {message}")


def pre_upgrade_backup(namespace: str, reason: str) -> str | None:
    """Take a backup in the cluster now (a Job from the backup CronJob) and wait for it; the
    backup's id, or None when skipped (first install, or PLATFORM_PRE_UPGRADE_BACKUP=skip)."""
    from platform_backup import cli  # the operator's CLI; imported here: it imports infra.components.backup

    if os.environ.get(SKIP_VARIABLE, "").lower() == "skip":
        pulumi.log.warn(f"[pre-upgrade backup] SKIPPED ({SKIP_VARIABLE}=skip): {reason}; no backup was taken "
                        "before the schemas may migrate")
        return None
    try:
        found = cli.kubectl("get", "cronjob", cli.BACKUP_CRONJOB, "--ignore-not-found", "-o", "name", namespace=namespace)
        if not found.strip():
            _log(f"no CronJob {namespace}/{cli.BACKUP_CRONJOB}: a first install, nothing to back up")
            return None
        job_name = f"{JOB_PREFIX}-{dt.datetime.now(dt.UTC).strftime('%Y%m%d%H%M%S')}"
        _log(f"{reason}: taking a backup before MLflow and Kubeflow Pipelines change (Job {namespace}/{job_name}; "
             f"follow it with kubectl -n {namespace} logs -f job/{job_name} --all-containers)")
        ident = cli.take_backup(namespace, job_name, TIMEOUT_S, reason=reason[:200])
    except cli.CliError as exc:
        raise RuntimeError(
            f"the backup before a schema change failed, so nothing of MLflow or Kubeflow Pipelines was changed: {exc}\n"
            f"Fix what the message names and run pulumi up again; to go on without a backup (say why in your "
            f"change log), run it with {SKIP_VARIABLE}=skip.") from None
    _log(f"backup {ident} is on the volume {namespace}/{cli.VOLUME_CLAIM}; copy it off the cluster with "
         f"make backup-fetch ID={ident}")
    return ident


def _before_create(args: pulumi.ResourceHookArgs) -> None:
    inputs = args.new_inputs or {}
    pre_upgrade_backup(inputs["backupNamespace"], "schema images recorded for the first time")


def _before_update(args: pulumi.ResourceHookArgs) -> None:
    old, new = args.old_inputs or {}, args.new_inputs or {}
    changes = changed_images(old.get("images"), new.get("images") or {})
    if not changes:
        return
    reason = "schema images change: " + ", ".join(f"{name} {was} -> {now}" for name, (was, now) in changes.items())
    pre_upgrade_backup(old.get("backupNamespace") or new["backupNamespace"], reason)


class SchemaVersions(Resource):
    """`images`: image name -> reference of the schema-owning images; `backupNamespace`: where the
    backup CronJob runs. Make the components that migrate depend on it."""

    images: pulumi.Output[dict]

    def __init__(self, name: str, images: dict[str, str], backup_namespace: str,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        # Registered with the engine here, not at import (one SchemaVersions per program). Not in
        # render mode (dev_cluster/render.sh): no cluster is contacted there, so nothing to back up.
        if not pulumi.Config("kubernetes").get("renderYamlToDirectory"):
            hooks = pulumi.ResourceHookBinding(
                before_create=[pulumi.ResourceHook(f"{name}-backup-on-first-record", _before_create)],
                before_update=[pulumi.ResourceHook(f"{name}-backup-on-change", _before_update)])
            opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(hooks=hooks))
        super().__init__(_RecordProvider(), name, {"images": dict(images), "backupNamespace": backup_namespace}, opts)
