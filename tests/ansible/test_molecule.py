"""Molecule scenarios of the roles that can run in a container (common, containerd): converge, idempotence
and a testinfra verify, each in a Debian 12 container with systemd as PID 1.

Needs root and Docker (installed and started by offline/images/debian-systemd.sh, which also builds the
image from the configured Debian mirror, cached). Molecule's docker driver needs the community.docker and
ansible.posix collections; Galaxy is out of reach, so they come from the `ansible` wheel on PyPI, cached per
version (only the driver uses them: the roles use ansible.builtin alone).
"""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import REPO, ROLES_DIR, run_tool, tool_env

MOLECULE_ROLES = ["common", "containerd"]
# The `ansible` release that matches ansible-core 2.19, and the collections of it that the driver uses.
ANSIBLE_PACKAGE = "ansible==12.3.0"
DRIVER_COLLECTIONS = ("community/docker", "ansible/posix")
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mlops-platform" / "ansible-collections"


def _driver_collections(tmp_path):
    collections = CACHE / ANSIBLE_PACKAGE.replace("==", "-")
    if all((collections / "ansible_collections" / name / "MANIFEST.json").is_file() for name in DRIVER_COLLECTIONS):
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
    return collections


@pytest.fixture(scope="session")
def molecule_env(tmp_path_factory):
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("Molecule scenarios need root on a Debian-family machine (Docker is installed and started)")
    subprocess.run([str(REPO / "offline" / "images" / "debian-systemd.sh")], check=True, stdout=subprocess.DEVNULL)
    env = tool_env(ANSIBLE_COLLECTIONS_PATH=str(_driver_collections(tmp_path_factory.mktemp("wheel"))))
    env.pop("ANSIBLE_CONFIG")  # Molecule writes its own
    return env


@pytest.mark.molecule
@pytest.mark.parametrize("role", MOLECULE_ROLES)
def test_molecule_converge_idempotence_verify(role, molecule_env):
    result = run_tool(["molecule", "test"], cwd=ROLES_DIR / role, env={**molecule_env, "NO_COLOR": "1"}, timeout=1800)
    assert result.returncode == 0, result.stdout[-8000:]
    assert "idempotence: Executed: Successful" in result.stdout, "the second converge changed something"
