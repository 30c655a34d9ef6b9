"""The GPU node check of `make gpu-node-check`, run from its unpacked bundle on a machine with an
NVIDIA GPU, as root, without Kubernetes and without network (README.md beside it):

1. the NVIDIA device plugin (bin/nvidia-device-plugin) against the stand-in kubelet
   (bin/standin-kubelet), configured as the Gpu component configures it (config/): one device per
   GPU with the UUIDs nvidia-smi reports, and an Allocate answer that exposes exactly the
   requested GPU;
2. the same with time-slicing replicas 2: two devices per GPU;
3. `nvidia-ctk cdi generate` (bin/nvidia-ctk): every GPU in the CDI spec;
4. train_mlp (mlops_components.torch_mlp, the pipelines' PyTorch step) on CUDA twice: bitwise
   identical weights. Needs torch, numpy, pandas, scikit-learn and joblib on the machine (the
   bundle cannot carry torch); without them this stage is NOT RUN and the check is incomplete.

Exit status: 0 every stage passed; 1 a stage failed; 2 refused (no NVIDIA GPU or driver, not
root, a kubelet running here); 3 incomplete (a stage could not run). Standard library only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = HERE / "bin"
PLUGIN_DIR = Path("/var/lib/kubelet/device-plugins")
KUBELET_SOCKET = PLUGIN_DIR / "kubelet.sock"
RESOURCE = "nvidia.com/gpu"


class Refused(Exception):
    """This machine cannot run the check; the message says why and what to do."""


def log(message: str) -> None:
    print(f"[gpu-node-check {time.strftime('%H:%M:%S')}] {message}", flush=True)


def gpu_uuids(nvidia_smi: str | None = None) -> list[str]:
    """The GPUs' UUIDs as nvidia-smi reports them; Refused without a driver or a GPU."""
    nvidia_smi = nvidia_smi or shutil.which("nvidia-smi")
    if not nvidia_smi:
        raise Refused("no nvidia-smi on PATH: this machine has no NVIDIA driver (or no NVIDIA GPU). Run the check on "
                      "a GPU machine whose driver is installed (ansible role nvidia_driver, make gpu-check)")
    result = subprocess.run([nvidia_smi, "--query-gpu=uuid", "--format=csv,noheader"], capture_output=True, text=True,
                            check=False)
    uuids = [line.strip() for line in result.stdout.splitlines() if line.strip().startswith("GPU-")]
    if result.returncode != 0 or not uuids:
        raise Refused(f"nvidia-smi finds no NVIDIA GPU (exit {result.returncode}): "
                      f"{(result.stderr or result.stdout).strip()[:300]}")
    return uuids


def preflight(is_root: bool, kubelet_socket: Path = KUBELET_SOCKET) -> None:
    if not is_root:
        raise Refused("run it as root: the device plugin puts its socket in /var/lib/kubelet/device-plugins")
    if kubelet_socket.exists():
        raise Refused(f"{kubelet_socket} exists: a kubelet runs on this machine. This check is for a GPU machine "
                      "without Kubernetes; on a Kubernetes node the Gpu component's device plugin is checked instead")


# The device plugin's config files, written into the bundle from the Gpu component's own
# (infra.components.gpu.device_plugin_config, offline/gpu-node-check.sh): the plugin runs here
# exactly as the platform configures it (volume-mounts device list, UUIDs, device specs).
CONFIGS = {1: HERE / "config" / "replicas-1.yaml", 2: HERE / "config" / "replicas-2.yaml"}
# Where the volume-mounts strategy names each allocated GPU (the toolkit reads these paths).
VOLUME_MOUNTS_ROOT = "/var/run/nvidia-container-devices"


def exposed_gpus(allocation: dict) -> list[str]:
    """The GPUs an Allocate answer gives the container: the volume-mounts strategy names them as
    mounts under VOLUME_MOUNTS_ROOT, the envvar strategy in NVIDIA_VISIBLE_DEVICES."""
    mounted = [m.rsplit("/", 1)[1] for m in allocation.get("mounts") or [] if m.startswith(VOLUME_MOUNTS_ROOT + "/")]
    visible = (allocation.get("envs") or {}).get("NVIDIA_VISIBLE_DEVICES", "")
    listed = [] if visible.startswith("/") else [v for v in visible.split(",") if v]
    return sorted(set(mounted + listed))


def check_devices(report: dict, uuids: list[str], replicas: int) -> list[str]:
    """Problems with what the plugin advertised and allocated (empty: as expected)."""
    problems = []
    if report.get("resource") != RESOURCE:
        problems.append(f"registered resource {report.get('resource')!r}, expected {RESOURCE}")
    ids = [device["id"] for device in report.get("devices") or []]
    # With time-slicing the plugin names each replica <uuid>::<n>.
    per_gpu = {uuid: [i for i in ids if i == uuid or i.startswith(f"{uuid}::")] for uuid in uuids}
    for uuid, found in per_gpu.items():
        if len(found) != replicas:
            problems.append(f"{uuid}: {len(found)} devices advertised, expected {replicas}")
    strays = sorted(set(ids) - {i for found in per_gpu.values() for i in found})
    if strays:
        problems.append(f"devices that are no GPU of nvidia-smi: {strays}")
    unhealthy = [device["id"] for device in report.get("devices") or [] if device.get("health") != "Healthy"]
    if unhealthy:
        problems.append(f"unhealthy devices: {unhealthy}")
    allocation = report.get("allocation")
    if not allocation:
        problems.append("no Allocate answer")
        return problems
    requested = allocation["requested"]
    expected = sorted({i.split("::")[0] for i in requested})
    exposed = exposed_gpus(allocation)
    if exposed != expected:
        problems.append(f"Allocate {requested} exposes {exposed or 'no GPU'} (mounts {allocation.get('mounts')}, "
                        f"envs {allocation.get('envs')}), expected exactly {expected}")
    return problems


def check_cdi_spec(spec: dict, uuids: list[str]) -> list[str]:
    names = {device.get("name") for device in spec.get("devices") or []}
    text = json.dumps(spec)
    missing = [uuid for uuid in uuids if uuid not in names and uuid not in text]
    problems = [f"{uuid} is not in the CDI spec" for uuid in missing]
    if spec.get("kind") != RESOURCE:
        problems.append(f"CDI kind {spec.get('kind')!r}, expected {RESOURCE}")
    return problems


def run_plugin(replicas: int, workdir: Path) -> dict:
    """The device plugin against the stand-in kubelet; the stand-in's report."""
    config = CONFIGS[replicas]
    report_file = workdir / f"report-{replicas}.json"
    with report_file.open("w") as out, (workdir / f"standin-{replicas}.log").open("w") as err:
        standin = subprocess.Popen([str(BIN / "standin-kubelet"), "--timeout", "90s", "--allocate", "1"],
                                   stdout=out, stderr=err)
        for _ in range(50):  # the plugin registers once the kubelet socket exists
            if KUBELET_SOCKET.exists():
                break
            time.sleep(0.1)
        with (workdir / f"plugin-{replicas}.log").open("w") as plugin_log:
            plugin = subprocess.Popen([str(BIN / "nvidia-device-plugin"), "--config-file", str(config),
                                       "--fail-on-init-error=true"], stdout=plugin_log, stderr=subprocess.STDOUT)
            try:
                code = standin.wait(timeout=120)
            finally:
                plugin.terminate()
                try:
                    plugin.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    plugin.kill()
    if code != 0:
        raise RuntimeError(f"the stand-in kubelet failed ({code}): {(workdir / f'standin-{replicas}.log').read_text()[-800:]}"
                           f"\nthe plugin's log: {(workdir / f'plugin-{replicas}.log').read_text()[-1500:]}")
    return json.loads(report_file.read_text())


TRAIN_SCRIPT = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import numpy as np
from mlops_components.core import DATASETS, TARGET
from mlops_components.torch_mlp import train_mlp
data = DATASETS["iris"](as_frame=True)
frame = data.frame.rename(columns={"target": TARGET})
runs = [train_mlp(frame, seed=0) for _ in range(2)]
(first, record), (second, _) = runs
identical = all(np.array_equal(a, b) for a, b in zip(first.weights_ + first.biases_, second.weights_ + second.biases_))
print("RESULT " + json.dumps({"record": record, "bitwise_identical": identical}))
"""


def train_twice() -> dict:
    result = subprocess.run([sys.executable, "-c", TRAIN_SCRIPT, str(HERE)], capture_output=True, text=True, check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    if result.returncode != 0 or not lines:
        missing = "ModuleNotFoundError" in result.stderr or "ImportError" in result.stderr
        raise (ModuleNotFoundError if missing else RuntimeError)(result.stderr.strip()[-800:])
    return json.loads(lines[0][len("RESULT "):])


def main() -> int:
    stages: list[tuple[str, str, str]] = []
    try:
        uuids = gpu_uuids()
        preflight(os.geteuid() == 0)
    except Refused as refusal:
        print(f"gpu-node-check: REFUSED: {refusal}", file=sys.stderr)
        return 2
    log(f"{len(uuids)} GPU(s): {', '.join(uuids)}")
    created = not PLUGIN_DIR.exists()
    PLUGIN_DIR.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="gpu-node-check-"))
    try:
        for replicas in (1, 2):
            stage = f"device plugin, time-slicing replicas {replicas}"
            try:
                report = run_plugin(replicas, workdir)
                problems = check_devices(report, uuids, replicas)
                detail = f"{len(report['devices'])} devices; Allocate {report['allocation']['requested']} exposes " \
                         f"{exposed_gpus(report['allocation'])}"
                stages.append((stage, "FAILED" if problems else "passed", "; ".join(problems) or detail))
            except (RuntimeError, KeyError, TypeError, ValueError) as error:
                stages.append((stage, "FAILED", str(error)))
        spec_file = workdir / "nvidia.json"
        result = subprocess.run([str(BIN / "nvidia-ctk"), "cdi", "generate", "--format", "json", "--output", str(spec_file)],
                                capture_output=True, text=True, check=False)
        if result.returncode != 0:
            stages.append(("nvidia-ctk cdi generate", "FAILED", result.stderr.strip()[-800:]))
        else:
            spec = json.loads(spec_file.read_text())
            problems = check_cdi_spec(spec, uuids)
            stages.append(("nvidia-ctk cdi generate", "FAILED" if problems else "passed",
                           "; ".join(problems) or f"{len(spec.get('devices') or [])} CDI devices, every GPU named"))
        try:
            trained = train_twice()
            record = trained["record"]
            ok = record["device"] == "cuda" and trained["bitwise_identical"]
            stages.append(("train_mlp on CUDA twice", "passed" if ok else "FAILED",
                           f"device {record['device']} ({record['gpu']}, torch {record['torch_version']}, CUDA "
                           f"{record['cuda_version']}); weights bitwise identical: {trained['bitwise_identical']}"))
        except ModuleNotFoundError as error:
            stages.append(("train_mlp on CUDA twice", "NOT RUN", f"a Python package is missing here: {error}"))
        except RuntimeError as error:
            stages.append(("train_mlp on CUDA twice", "FAILED", str(error)))
    finally:
        if created:
            shutil.rmtree(PLUGIN_DIR, ignore_errors=True)
        log(f"logs and reports kept in {workdir}")
    width = max(len(stage) for stage, _, _ in stages)
    for stage, outcome, detail in stages:
        print(f"  {stage:<{width}}  {outcome:<7}  {detail}")
    outcomes = {outcome for _, outcome, _ in stages}
    return 1 if "FAILED" in outcomes else 3 if "NOT RUN" in outcomes else 0


if __name__ == "__main__":
    sys.exit(main())
