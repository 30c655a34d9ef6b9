"""The database and ML Metadata images checked for real with docker, against the images `make up` built
(`make image-checks`, its own target: `make test` is at its time budget, 45 minutes warm):
- offline/images/mariadb/check.sh: KFP's and ML Metadata's MariaDB on a volume prepared like a Kubernetes
  fsGroup volume: refuses to start without a root password, logins, init scripts, uid 999, SIGTERM shutdown,
  data kept across a restart;
- offline/images/metadata/check.sh: the MLMD server against PostgreSQL through the ml_metadata gRPC client
  (writes and reads, NOT_FOUND / ALREADY_EXISTS / UNIMPLEMENTED, clean SIGTERM, data kept across its restart and
  PostgreSQL's), then the gRPC-Web proxy in front of it (both encodings; 404, 415 and 405 refusals).
Each script removes its containers, networks and volumes, failed or not. The image references come from the
image list (infra/images.toml)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def _image(name: str) -> str:
    ref = subprocess.run([sys.executable, str(ROOT / "infra" / "images.py"), "offline", name], capture_output=True, text=True, check=True)
    return ref.stdout.strip()


@pytest.fixture(scope="module", autouse=True)
def _docker():
    if shutil.which("docker") is None or subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:
        pytest.fail("these checks need a running Docker engine (offline/docker.sh starts one; make up runs it)")


def _run_check(script: Path, env: dict[str, str], *args: str) -> str:
    checked = subprocess.run(["bash", str(script), *args], capture_output=True, text=True, timeout=900, check=False, env={**os.environ, **env})
    output = checked.stdout + checked.stderr
    print(output)
    assert checked.returncode == 0, f"{script.relative_to(ROOT)} failed:\n{output[-6000:]}"
    return output


def test_the_mariadb_image_passes_its_check():
    output = _run_check(ROOT / "offline" / "images" / "mariadb" / "check.sh", {}, _image("mysql"))
    assert "== 0 failure(s)" in output, output[-3000:]
    assert "FAIL -" not in output, output[-3000:]


def test_the_metadata_server_and_its_grpc_web_proxy_pass_their_check():
    env = {"IMAGE": _image("mlmd-server"), "ENVOY_IMAGE": _image("kfp-metadata-envoy"), "PG_IMAGE": _image("postgres")}
    output = _run_check(ROOT / "offline" / "images" / "metadata" / "check.sh", env)
    assert "mlmd-check: PASSED" in output, output[-3000:]
