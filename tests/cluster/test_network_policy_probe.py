"""ansible/playbooks/network-policy-probe.yml (run by validate.yml) against the local cluster, which runs the
same NetworkPolicy engine manifest as the Ansible-built one: the probe passes with the engine on and fails,
saying so, with it switched off. The playbook's kubectl runs here, on the controller."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.cluster.network_policy_engine import switch
from tests.support.cluster import ROOT, kubeconfig

pytestmark = pytest.mark.e2e


def run_probe(tmp_path: Path) -> tuple[int, str]:
    inventory = tmp_path / "inventory.ini"
    inventory.write_text("[control_plane]\nlocal-cluster ansible_connection=local ansible_become=false "
                         f"ansible_python_interpreter={sys.executable}\n")
    playbook = Path(sys.executable).parent / "ansible-playbook"
    result = subprocess.run(
        [str(playbook), "-i", str(inventory), "-e", f"validate_kubeconfig={kubeconfig()}", "playbooks/network-policy-probe.yml"],
        cwd=ROOT / "ansible", capture_output=True, text=True, timeout=600)
    return result.returncode, result.stdout + result.stderr


def test_the_probe_passes_with_the_engine_and_fails_without_it(tmp_path):
    code, output = run_probe(tmp_path)
    assert code == 0, f"the probe failed with the engine on:\n{output[-3000:]}"
    assert "allowed: open" in output, output[-3000:]
    assert "denied: closed" in output, output[-3000:]

    switch(on=False)
    try:
        code, output = run_probe(tmp_path)
    finally:
        switch(on=True)
    assert code != 0, f"the probe passed with the engine switched off:\n{output[-3000:]}"
    assert "NetworkPolicies are NOT enforced" in output, output[-3000:]
