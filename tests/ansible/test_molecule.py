"""Molecule scenarios, each in Debian 12 containers with systemd as PID 1:
- the roles that can run alone in a container (common, containerd): converge, idempotence, testinfra verify;
- nvidia_driver's detection and skip logic: a crafted NVIDIA GPU is detected and recorded, a node without
  one is left alone (no GPU on the test machines: the install itself is checked by `make gpu-check`);
- the cluster scenario (ansible/molecule/cluster): site.yml builds a kubeadm cluster of two node containers
  from the air-gapped artifact directory, idempotence, add_nodes.yml joins a third, testinfra checks Ready
  nodes and pods on the workers, reset.yml returns the nodes to clean.

Needs root and Docker (installed and started by offline/images/debian-systemd.sh, which also builds the
image from the configured Debian mirror, cached). Molecule's docker driver needs the community.docker and
ansible.posix collections; Galaxy is out of reach, so they come from the `ansible` wheel on PyPI, cached per
version (only the driver uses them: the roles use ansible.builtin alone).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import yaml
from conftest import REPO, ROLES_DIR, run_tool, tool_env

# (directory molecule runs in, scenario name)
SCENARIOS = {
    "common": (ROLES_DIR / "common", "default"),
    "containerd": (ROLES_DIR / "containerd", "default"),
    "nvidia_driver": (ROLES_DIR / "nvidia_driver", "default"),
    "cluster": (REPO / "ansible", "cluster"),
}
# The `ansible` release that matches ansible-core 2.19, and the collections of it that the driver uses.
ANSIBLE_PACKAGE = "ansible==12.3.0"
DRIVER_COLLECTIONS = ("community/docker", "ansible/posix")  # pinned in ansible/requirements.yml
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mlops-platform" / "ansible-collections"


def _pinned_collections():
    """{"community/docker": "4.8.5", ...} from ansible/requirements.yml."""
    requirements = yaml.safe_load((REPO / "ansible" / "requirements.yml").read_text())
    return {entry["name"].replace(".", "/"): entry["version"] for entry in requirements["collections"]}


def _check_versions(collections):
    for name, version in _pinned_collections().items():
        manifest = json.loads((collections / "ansible_collections" / name / "MANIFEST.json").read_text())
        found = manifest["collection_info"]["version"]
        assert found == version, f"{name} is {found} in {ANSIBLE_PACKAGE}, ansible/requirements.yml pins {version}"


def _driver_collections(tmp_path):
    collections = CACHE / ANSIBLE_PACKAGE.replace("==", "-")
    if all((collections / "ansible_collections" / name / "MANIFEST.json").is_file() for name in DRIVER_COLLECTIONS):
        _check_versions(collections)
        return collections
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", str(tmp_path), ANSIBLE_PACKAGE],
        check=True,
    )
    wheel = next(tmp_path.glob("ansible-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        prefixes = tuple(f"ansible_collections/{name}/" for name in DRIVER_COLLECTIONS)
        members = [name for name in archive.namelist() if name.startswith(prefixes)]
        archive.extractall(collections, members=members)
    _check_versions(collections)
    return collections


@pytest.fixture(scope="session")
def molecule_env(tmp_path_factory):
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("Molecule scenarios need root on a Debian-family machine (Docker is installed and started)")
    subprocess.run([str(REPO / "offline" / "images" / "debian-systemd.sh")], check=True, stdout=subprocess.DEVNULL)
    env = tool_env(ANSIBLE_COLLECTIONS_PATH=str(_driver_collections(tmp_path_factory.mktemp("wheel"))))
    env.pop("ANSIBLE_CONFIG")  # Molecule writes its own
    return env


def _step_seconds(output):
    """Seconds each playbook step took, from profile_tasks' last line per step (cumulative playbook time)."""
    seconds = {}
    step = None
    for line in output.splitlines():
        started = re.search(r"\[\S+ > (\w+)\] Executing", line)
        if started:
            step = started.group(1)
        elapsed = re.search(r"\(\d+:\d+:\d+\.\d+\)\s+(\d+):(\d+):(\d+\.\d+)", line)
        if elapsed and step:
            hours, minutes, secs = elapsed.groups()
            seconds[step] = round(int(hours) * 3600 + int(minutes) * 60 + float(secs), 1)
    return seconds


def _failure_excerpt(output):
    """The failed tasks with the lines before them, then the end of the output."""
    lines = output.splitlines()
    failed = [i for i, line in enumerate(lines) if line.startswith(("fatal:", "failed:", "[ERROR]"))]
    excerpts = ["\n".join(lines[max(0, i - 12) : i + 3])[:3000] for i in failed[:3]]
    return "\n...\n".join([*excerpts, "\n".join(lines)[-5000:]])


def _record(scenario, figures):
    """Prints the figures and keeps them in $MLOPS_MEASUREMENTS_DIR/molecule-<scenario>.json when that is set."""
    print(f"molecule {scenario}: {figures}")
    directory = os.environ.get("MLOPS_MEASUREMENTS_DIR")
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        (Path(directory) / f"molecule-{scenario}.json").write_text(json.dumps(figures, indent=2) + "\n")


@pytest.mark.molecule
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_molecule_converge_idempotence_verify(scenario, molecule_env):
    directory, name = SCENARIOS[scenario]
    env = {**molecule_env, "NO_COLOR": "1", "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks"}
    if scenario == "cluster":
        artifacts = subprocess.run(
            [str(REPO / "offline" / "ansible-artifacts.sh")], check=True, stdout=subprocess.PIPE, text=True
        ).stdout.strip()
        env["MLOPS_ANSIBLE_ARTIFACT_DIR"] = artifacts
        env["MLOPS_ANSIBLE_NETWORK_POLICY_IMAGE"] = (Path(artifacts) / "network-policy-image").read_text().strip()
    started = time.monotonic()
    result = run_tool(["molecule", "test", "--scenario-name", name], cwd=directory, env=env, timeout=3600)
    total = round(time.monotonic() - started, 1)
    log = REPO / "build" / "molecule" / f"{scenario}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(result.stdout)
    assert result.returncode == 0, _failure_excerpt(result.stdout)
    assert "idempotence: Executed: Successful" in result.stdout, "the second converge changed something"
    steps = _step_seconds(result.stdout)
    _record(scenario, {"total_s": total, "converge_s": steps.get("converge"), "idempotence_s": steps.get("idempotence"), "steps_s": steps})
    if scenario == "cluster":
        assert "side_effect: Executed: Successful" in result.stdout, "add_nodes.yml did not run"
        # validate.yml's network-policy probe ran (not skipped) and saw the policy enforced.
        assert "allowed: open" in result.stdout, f"the network-policy probe did not run or its allowed client failed (log: {log})"
        assert "denied: closed" in result.stdout, f"the network-policy probe's denied client got through (log: {log})"
        assert "cleanup: Executed: Successful" in result.stdout, "reset.yml did not leave the nodes clean"
