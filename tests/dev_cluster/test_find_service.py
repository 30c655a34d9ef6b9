"""dev_cluster/find-service.sh, the lookup `make dashboard` and `make alerts` start with, and the
cluster those commands talk to. make's recipes run with -e: when the lookup failed silently,
`make alerts` ended with "Error 1" and no word (make test's cluster lane, session 21's landing CI),
and a make run under make test's throw-away cluster looked at the kubeconfig of the cluster `mlops`.
The commands against a cluster run in tests/platform/test_monitoring.py; here, a cluster that cannot
be reached and a stand-in kubectl that answers as told."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.unit


def test_make_dashboard_against_an_unreachable_cluster_names_its_kubeconfig_and_fails(tmp_path):
    """MLOPS_CLUSTER_NAME (what make test's cluster lane exports) picks the kubeconfig; a cluster
    kubectl cannot reach is an error naming that kubeconfig, not a silent exit."""
    name = "no-such-cluster-find-service"
    cache = os.environ.get("MLOPS_CACHE_DIR") or str(Path.home() / ".cache" / "mlops-platform")
    env = {**os.environ, "MLOPS_CLUSTER_NAME": name, "MLOPS_CACHE_DIR": cache}
    env.pop("KUBECONFIG", None)
    result = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "dashboard"], env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode != 0, result.stdout + result.stderr
    assert f"KUBECONFIG={cache}/{name}.kubeconfig" in result.stderr, result.stderr


def _fake_kubectl(tmp_path: Path, output: str, rc: int) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(f"#!/usr/bin/env bash\necho \"$*\" >{tmp_path}/args\nprintf '%s' '{output}'\nexit {rc}\n")
    kubectl.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


@pytest.mark.parametrize(("answer", "namespace"), [("mlops-monitoring", "mlops-monitoring"),
                                                    ("mlops-monitoring other", "mlops-monitoring"), ("", "")])
def test_the_first_namespace_holding_the_service_is_printed_and_none_is_empty(tmp_path, answer, namespace):
    env = _fake_kubectl(tmp_path, answer, 0)
    result = subprocess.run(["bash", str(ROOT / "dev_cluster" / "find-service.sh"), "alertmanager"], env=env,
                            capture_output=True, text=True, timeout=30, check=True)
    assert result.stdout == f"{namespace}\n"
    assert "app.kubernetes.io/name=alertmanager,app.kubernetes.io/component=monitoring" in (tmp_path / "args").read_text()


def test_a_failing_kubectl_is_an_error_with_its_message(tmp_path):
    env = _fake_kubectl(tmp_path, "error: You must be logged in to the server (Unauthorized)", 1)
    result = subprocess.run(["bash", str(ROOT / "dev_cluster" / "find-service.sh"), "dashboard"], env=env,
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Unauthorized" in result.stderr, result.stderr
    assert "KUBECONFIG=" in result.stderr, result.stderr
