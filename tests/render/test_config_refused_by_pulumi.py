"""A bad stack config, run through the real `pulumi preview` as a sysadmin would: the message names
every bad key, shows no Python traceback, and nothing is declared (render mode, no cluster)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dev_cluster.workspace import Workspace

pytestmark = pytest.mark.render
ROOT = Path(__file__).resolve().parents[2]


def _preview(tmp_path: Path, config: dict) -> subprocess.CompletedProcess:
    if shutil.which("pulumi") is None:
        pytest.fail("pulumi is not on PATH: run `make tools` (make test puts it on PATH)")
    manifests = tmp_path / "manifests"
    lines = subprocess.run([sys.executable, str(ROOT / "dev_cluster" / "workspace.py"), "local", str(tmp_path), "--drop-secrets",
                            "--set", f"kubernetes:renderYamlToDirectory={manifests}"],
                           check=True, capture_output=True, text=True).stdout
    written = dict(line.split("=", 1) for line in lines.splitlines())
    workspace = Path(written["MLOPS_PULUMI_WORKSPACE"])
    env = {**Workspace.under(tmp_path, "local").process_env(), "KUBECONFIG": "/dev/null"}
    stack_file = workspace / "Pulumi.local.yaml"
    stack = yaml.safe_load(stack_file.read_text())
    stack["config"].update({f"mlops-platform:{key}": value for key, value in config.items()})
    stack_file.write_text(yaml.safe_dump(stack))
    subprocess.run(["pulumi", "stack", "init", "local", "--secrets-provider", "passphrase", "--non-interactive"],
                   cwd=workspace, env=env, check=True, capture_output=True)
    return subprocess.run(["pulumi", "preview", "--non-interactive", "--stack", "local"], cwd=workspace, env=env,
                          capture_output=True, text=True, timeout=300)


def test_system_namespace_and_system_group_are_refused_without_a_traceback(tmp_path):
    result = _preview(tmp_path, {
        "tenancy": {"namespacePrefix": ""},
        "tenants": [{"name": "kube-system", "members": ["alice"]},
                    {"name": "nlp", "groups": ["system:authenticated"]}],
    })
    output = result.stdout + result.stderr
    assert result.returncode != 0, f"pulumi preview accepted a tenant in kube-system:\n{output}"
    assert "mlops-platform:tenants[kube-system].name = 'kube-system' is invalid" in output, output
    assert "mlops-platform:tenants[nlp].groups = 'system:authenticated' is invalid" in output, output
    assert "Traceback" not in output, f"a config error must be a message, not a traceback:\n{output}"
    assert not (tmp_path / "manifests").exists() or not any((tmp_path / "manifests").rglob("*.yaml")), \
        "nothing may be declared when the config is invalid"
