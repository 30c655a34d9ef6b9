"""What `pulumi up` deployed, as the local stack's outputs say (names in infra/outputs.py): the smoke
tests and the drills take namespaces, buckets and research groups from here instead of re-reading
stacks/Pulumi.local.yaml, so they test what was deployed. pulumi runs against the workspace and
state dev_cluster/up.sh wrote: $MLOPS_STATE_DIR (a throwaway one in `make test`), else the cache.
tests/render/test_stack_outputs.py reads the outputs of the stacks `make render` deployed the same way."""

from __future__ import annotations

import functools
import json
import subprocess
from dataclasses import dataclass

from dev_cluster.workspace import Workspace, state_dir
from infra import outputs


def local_workspace() -> Workspace:
    """The local stack's, where dev_cluster/up.sh keeps it: under $MLOPS_STATE_DIR, else the cache."""
    return Workspace.under(state_dir(), "local")


def pulumi(*args: str, stack: str = "local", workspace: Workspace | None = None) -> str:
    """`pulumi ARGS --stack STACK` in `workspace` (default: the local stack's, as dev_cluster/up.sh runs
    it); its stdout. A failure raises RuntimeError with pulumi's own output."""
    where = workspace or local_workspace()
    if not where.directory.is_dir():
        raise RuntimeError(f"no Pulumi workspace of stack {stack} in {where.directory}: run `make up` first "
                           "(or set MLOPS_STATE_DIR to the state folder of the cluster under test)")
    result = subprocess.run(["pulumi", *args, "--stack", stack], cwd=where.directory, env=where.process_env(),
                            capture_output=True, text=True, check=False)
    if result.returncode:
        raise RuntimeError(f"pulumi {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout


@dataclass(frozen=True)
class Tenant:
    """A research group as deployed (the stack output `tenants`)."""

    name: str
    namespace: str
    bucket: str
    experiment_prefix: str
    credentials_secret: str


@dataclass(frozen=True)
class Deployed:
    kfp_namespace: str           # "" when Kubeflow Pipelines is off
    mlflow_namespace: str
    object_store_namespace: str
    monitoring_namespace: str    # "" when monitoring is off
    backup_namespace: str        # "" when backup is off
    queueing_namespace: str      # "" when no Kueue runs (queueing off or no research group)
    tenants: dict[str, Tenant]

    def tenant(self, name: str) -> Tenant:
        if name not in self.tenants:
            raise LookupError(f"the deployed stack has no research group {name!r} (its groups: "
                              f"{', '.join(sorted(self.tenants)) or 'none'}); see stacks/Pulumi.local.yaml's tenancy")
        return self.tenants[name]


def parse_outputs(values: dict) -> Deployed:
    """The outputs of `pulumi stack output --json` as a Deployed; a missing output is named."""
    required = (outputs.MLFLOW_NAMESPACE, outputs.OBJECT_STORE_NAMESPACE, outputs.TENANTS)
    missing = [name for name in required if name not in values]
    if missing:
        raise LookupError(f"the local stack has no output {', '.join(missing)}: was it deployed by this checkout's infra/?")
    return Deployed(
        kfp_namespace=values.get(outputs.KFP_NAMESPACE, ""),
        mlflow_namespace=values[outputs.MLFLOW_NAMESPACE],
        object_store_namespace=values[outputs.OBJECT_STORE_NAMESPACE],
        monitoring_namespace=values.get(outputs.MONITORING_NAMESPACE, ""),
        backup_namespace=values.get(outputs.BACKUP_NAMESPACE, ""),
        queueing_namespace=values.get(outputs.QUEUEING_NAMESPACE, ""),
        tenants={name: Tenant(name, t["namespace"], t["bucket"], t["experimentPrefix"], t["credentialsSecret"])
                 for name, t in values[outputs.TENANTS].items()})


def read_outputs(stack: str = "local", workspace: Workspace | None = None) -> Deployed:
    """A stack's outputs (secrets stay hidden)."""
    return parse_outputs(json.loads(pulumi("stack", "output", "--json", stack=stack, workspace=workspace)))


@functools.cache
def deployed() -> Deployed:
    """The local stack's outputs, as `make up` deployed it (read once per test session)."""
    return read_outputs()
