"""platform.protectData: a real `pulumi destroy` against the state that `make render`'s real `pulumi up`
left (a copy of it) refuses to delete the namespaces that hold data, before it deletes anything; with
the key off (the local stack) the same command's preview would delete everything. (The provider of the
copied state still writes to the render's manifest folder: a destroy that went through would delete
those files, so the local stack's is a preview and the refusal is also checked on those files.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from dev_cluster.workspace import Workspace
from infra.config import parse
from tests.support.stacks import RENDER_DIR, stack_values

pytestmark = pytest.mark.render
STATE = Path(".pulumi") / "stacks" / "mlops-platform"


def resources(state: Path, stack: str) -> list[dict]:
    checkpoint = json.loads((state / STATE / f"{stack}.json").read_text())["checkpoint"]
    return checkpoint.get("latest", {}).get("resources", [])


def destroy_a_copy(stack: str, tmp_path: Path, *flags: str) -> tuple[subprocess.CompletedProcess, list[dict], list[dict]]:
    source = Workspace.under(RENDER_DIR / stack, stack)
    assert source.passphrase_file.is_file(), f"no rendered state in {RENDER_DIR / stack}: run `make render` (part of `make test`)"
    copy = Workspace.under(tmp_path, stack)
    for part in ("backend", "directory"):
        shutil.copytree(getattr(source, part), getattr(copy, part), symlinks=True)
    shutil.copy(source.passphrase_file, copy.passphrase_file)
    before = resources(copy.backend, stack)
    env = {**copy.process_env(), "KUBECONFIG": os.devnull}
    result = subprocess.run(["pulumi", "destroy", *(flags or ("--yes",)), "--non-interactive", "--stack", stack],
                            cwd=copy.directory, env=env, capture_output=True, text=True, timeout=300)
    return result, before, resources(copy.backend, stack)


def namespaces(state: list[dict]) -> dict[str, bool]:
    return {r["outputs"]["metadata"]["name"]: bool(r.get("protect"))
            for r in state if r["type"] == "kubernetes:core/v1:Namespace"}


def test_pulumi_destroy_refuses_to_delete_the_data_namespaces_and_changes_nothing(tmp_path):
    cfg = parse(*stack_values("university"))
    assert cfg.platform.protect_data
    manifests = sorted((RENDER_DIR / "university" / "manifests").rglob("*.yaml"))
    result, before, after = destroy_a_copy("university", tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0, f"pulumi destroy deleted the university stack:\n{output[-2000:]}"
    protected = {name for name, on in namespaces(before).items() if on}
    data = {cfg.object_store.namespace, cfg.mlflow.namespace, cfg.kubeflow_pipelines.namespace, cfg.backup.namespace} | \
        {tenant.namespace for tenant in cfg.tenancy.tenants}
    assert protected == data, f"protected namespaces {sorted(protected)}, the ones holding data {sorted(data)}"
    # Pulumi names the protected namespaces its preview reached and stops there.
    assert "because it is protected" in output, output[-3000:]
    assert len(after) == len(before), f"{len(before) - len(after)} resources were deleted before the refusal"
    assert sorted((RENDER_DIR / "university" / "manifests").rglob("*.yaml")) == manifests, "rendered objects were deleted"


def test_without_protect_data_pulumi_destroy_would_delete_everything(tmp_path):
    assert not parse(*stack_values("local")).platform.protect_data, "the local stack turns protectData off (make down)"
    result, before, _ = destroy_a_copy("local", tmp_path, "--preview-only")
    output = result.stdout + result.stderr
    assert not any(namespaces(before).values())
    assert result.returncode == 0, output[-2000:]
    planned = [r["urn"].rsplit("::", 1)[-1] for r in before if r["type"] == "kubernetes:core/v1:Namespace"]
    assert planned, "the local render has namespaces"
    for name in planned:
        assert f"kubernetes:core/v1:Namespace {name} delete" in output, f"{name} would not be deleted:\n{output[-2000:]}"
