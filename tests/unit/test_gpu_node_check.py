"""gpu_node_check without a GPU: what check.py accepts and refuses in the stand-in kubelet's
reports and the CDI spec, its refusals on a machine that cannot run it (this one), and the
stand-in kubelet's Go tests against a fake device plugin. On a GPU machine `make gpu-node-check`
runs the real thing (gpu_node_check/README.md)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / "gpu_node_check" / "check.py"
spec = importlib.util.spec_from_file_location("gpu_node_check_check", CHECK)
check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check)

UUIDS = ["GPU-1111", "GPU-2222"]


def report(ids: list[str], requested: list[str], visible: str, resource: str = "nvidia.com/gpu") -> dict:
    """The envvar strategy's answer: NVIDIA_VISIBLE_DEVICES lists the GPUs."""
    return {"resource": resource, "devices": [{"id": i, "health": "Healthy"} for i in ids],
            "allocation": {"requested": requested, "envs": {"NVIDIA_VISIBLE_DEVICES": visible}}}


def mounts_report(ids: list[str], requested: list[str], mounted: list[str]) -> dict:
    """The volume-mounts strategy's answer (the Gpu component's): one mount per GPU."""
    return {"resource": "nvidia.com/gpu", "devices": [{"id": i, "health": "Healthy"} for i in ids],
            "allocation": {"requested": requested, "envs": {"NVIDIA_VISIBLE_DEVICES": "/var/run/nvidia-container-devices"},
                           "mounts": [f"/var/run/nvidia-container-devices/{m}" for m in mounted]}}


def test_the_volume_mounts_strategy_exposes_exactly_the_mounted_gpu():
    assert check.check_devices(mounts_report(UUIDS, ["GPU-2222"], ["GPU-2222"]), UUIDS, 1) == []
    problems = check.check_devices(mounts_report(UUIDS, ["GPU-2222"], UUIDS), UUIDS, 1)
    assert any("exposes ['GPU-1111', 'GPU-2222']" in p for p in problems), problems
    problems = check.check_devices(mounts_report(UUIDS, ["GPU-2222"], []), UUIDS, 1)
    assert any("exposes no GPU" in p for p in problems), problems


def test_one_device_per_gpu_and_an_allocation_of_exactly_the_requested_gpu_pass():
    assert check.check_devices(report(UUIDS, ["GPU-1111"], "GPU-1111"), UUIDS, 1) == []


def test_time_slicing_replicas_are_counted_per_gpu():
    ids = [f"{u}::{n}" for u in UUIDS for n in range(2)]
    assert check.check_devices(mounts_report(ids, ["GPU-2222::1"], ["GPU-2222"]), UUIDS, 2) == []
    problems = check.check_devices(mounts_report(ids, ["GPU-2222::1"], ["GPU-2222"]), UUIDS, 3)
    assert any("2 devices advertised, expected 3" in p for p in problems), problems


@pytest.mark.parametrize(("case", "bad", "expected"), [
    ("a GPU missing", report(["GPU-1111"], ["GPU-1111"], "GPU-1111"), "GPU-2222: 0 devices advertised"),
    ("a device nvidia-smi does not know", report([*UUIDS, "GPU-9999"], ["GPU-1111"], "GPU-1111"), "GPU-9999"),
    ("every GPU exposed", report(UUIDS, ["GPU-1111"], "all"), "expected exactly ['GPU-1111']"),
    ("another GPU exposed", report(UUIDS, ["GPU-1111"], "GPU-2222"), "exposes ['GPU-2222']"),
    ("another resource", report(UUIDS, ["GPU-1111"], "GPU-1111", resource="example.com/gpu"), "expected nvidia.com/gpu"),
    ("no allocation", {**report(UUIDS, [], ""), "allocation": None}, "no Allocate answer"),
])
def test_what_the_device_check_refuses(case, bad, expected):
    problems = check.check_devices(bad, UUIDS, 1)
    assert any(expected in p for p in problems), f"{case}: {problems}"


def test_unhealthy_devices_fail():
    bad = report(UUIDS, ["GPU-1111"], "GPU-1111")
    bad["devices"][1]["health"] = "Unhealthy"
    assert any("unhealthy devices: ['GPU-2222']" in p for p in check.check_devices(bad, UUIDS, 1))


def test_the_cdi_spec_must_name_every_gpu():
    spec = {"kind": "nvidia.com/gpu", "devices": [{"name": "0", "containerEdits": {"env": ["NVIDIA_VISIBLE_DEVICES=void"]}},
                                                 {"name": "GPU-1111"}]}
    assert check.check_cdi_spec(spec, ["GPU-1111"]) == []
    assert check.check_cdi_spec(spec, UUIDS) == ["GPU-2222 is not in the CDI spec"]


def test_refusals_name_the_reason(tmp_path):
    with pytest.raises(check.Refused, match="run it as root"):
        check.preflight(is_root=False, kubelet_socket=tmp_path / "kubelet.sock")
    (tmp_path / "kubelet.sock").touch()
    with pytest.raises(check.Refused, match="a kubelet runs on this machine"):
        check.preflight(is_root=True, kubelet_socket=tmp_path / "kubelet.sock")
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver' >&2\nexit 9\n")
    fake.chmod(0o755)
    with pytest.raises(check.Refused, match=r"finds no NVIDIA GPU \(exit 9\)"):
        check.gpu_uuids(str(fake))


def test_the_check_refuses_on_this_machine_without_a_gpu():
    if shutil.which("nvidia-smi"):
        pytest.skip("LOUD SKIP: this machine has nvidia-smi; the refusal is shown on machines without a GPU")
    result = subprocess.run([sys.executable, str(CHECK)], capture_output=True, text=True, check=False,
                            env={**os.environ, "PATH": "/usr/bin:/bin"})
    assert result.returncode == 2, result
    assert "REFUSED: no nvidia-smi on PATH" in result.stderr


def test_the_stand_in_kubelets_go_tests():
    go = shutil.which("go") or "/usr/local/go/bin/go"
    assert Path(go).exists(), "Go is needed for the stand-in kubelet's tests (the toolchain builds need it too)"
    result = subprocess.run([go, "test", "-count=1", "./..."], cwd=ROOT / "gpu_node_check", capture_output=True,
                            text=True, check=False, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok  \tmlops-platform/gpu-node-check/standin" in result.stdout
