"""The kind node's own binaries (containerd, runc, crictl, CNI plugins, etcd, CoreDNS,
local-path-provisioner, pause): the pins in their wrapper modules are the ones
offline/images/build-node-components.sh builds, and the built binaries report them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from functools import cache
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
MODULES = ROOT / "offline" / "go" / "node-components"
SCRIPT = ROOT / "offline" / "images" / "build-node-components.sh"
BUILD_HINT = "run offline/images/build-node-components.sh"

# component -> (wrapper module folder, upstream module whose version is the component's)
UPSTREAM = {
    "containerd": ("containerd", "github.com/containerd/containerd/v2"),
    "runc": ("runc", "github.com/opencontainers/runc"),
    "crictl": ("crictl", "sigs.k8s.io/cri-tools"),
    "cni-plugins": ("cni-plugins", "github.com/containernetworking/plugins"),
    "etcd": ("etcd", "go.etcd.io/etcd/server/v3"),
    "coredns": ("coredns", "github.com/coredns/coredns"),
    "local-path-provisioner": ("local-path-provisioner", "github.com/rancher/local-path-provisioner"),
}
CNI_PLUGINS = ("bridge", "loopback", "ptp", "host-local", "portmap")


def go_requirements(module_dir: Path) -> dict[str, str]:
    text = (module_dir / "go.mod").read_text()
    return dict(re.findall(r"^\s*(?:require\s+)?([a-z0-9.\-/]+\.[a-z]+/[^\s]+)\s+(v[^\s]+)", text, re.MULTILINE))


def pinned() -> dict[str, str]:
    """The versions as the wrapper modules (and the pause source) pin them."""
    pins = {name: go_requirements(MODULES / folder)[module] for name, (folder, module) in UPSTREAM.items()}
    pins["pause"] = "v" + re.search(r'^var version = "([^"]+)"$', (MODULES / "cmd" / "pause" / "main.go").read_text(), re.MULTILINE)[1]
    return pins


@cache
def script_output() -> list[str]:
    """What `build-node-components.sh --versions` prints: the script's plan, without building."""
    return subprocess.run([str(SCRIPT), "--versions"], check=True, capture_output=True, text=True, timeout=60).stdout.splitlines()


def script_plan() -> dict[str, tuple[str, Path]]:
    """component -> (version, cache folder) as the build script sees them."""
    plan = {}
    for line in script_output()[:-1]:
        name, version, folder = line.split(" ", 2)
        plan[name] = (version, Path(folder))
    return plan


def bin_folder() -> Path:
    """The last line: the folder that gathers all binaries (offline/images/kind-node.sh reads it)."""
    return Path(script_output()[-1])


def binary(component: str, name: str | None = None) -> str:
    path = script_plan()[component][1] / (name or component)
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is missing: {BUILD_HINT}")
    return str(path)


def output(*args: str) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{args} failed: {done.stderr}"
    return done.stdout + done.stderr


def test_script_builds_the_versions_pinned_in_the_wrapper_modules():
    plan = script_plan()
    assert {name: version for name, (version, _) in plan.items()} == pinned()
    for name, (version, folder) in plan.items():
        assert folder.name.startswith(f"{name}-{version.removeprefix('v')}-"), folder


def test_every_binary_is_gathered_in_the_bin_folder():
    folder = bin_folder()
    assert folder.parent == script_plan()["pause"][1].parent
    names = ["containerd", "ctr", "containerd-shim-runc-v2", "runc", "crictl", "etcd", "etcdctl", "coredns", "local-path-provisioner", "pause"]
    for name in [*names, *(f"cni/{plugin}" for plugin in CNI_PLUGINS)]:
        if not os.access(folder / name, os.X_OK):
            pytest.fail(f"{folder / name} is missing: {BUILD_HINT}")
    component_of = {"ctr": "containerd", "containerd-shim-runc-v2": "containerd", "etcdctl": "etcd"}
    for name in names:
        built = script_plan()[component_of.get(name, name)][1] / name
        assert (folder / name).samefile(built) or (folder / name).read_bytes() == built.read_bytes(), name


def test_etcd_and_coredns_are_the_versions_kubeadm_deploys():
    """kubeadm 1.35 runs etcd 3.6.6-0 and CoreDNS v1.13.1 (cmd/kubeadm/app/constants)."""
    pins = pinned()
    assert pins["etcd"] == "v3.6.6"
    assert pins["coredns"] == "v1.13.1"
    assert pins["pause"] == "v3.10.1"
    etcd_mod = go_requirements(MODULES / "etcd")
    for sibling in ("api/v3", "client/pkg/v3", "client/v3", "pkg/v3", "etcdctl/v3"):
        # server/go.mod replaces these with sibling folders of the same release
        assert etcd_mod[f"go.etcd.io/etcd/{sibling}"] == pins["etcd"], sibling


def test_containerd_reports_its_pinned_version():
    version = pinned()["containerd"]
    assert f"github.com/containerd/containerd/v2 {version}" in output(binary("containerd"), "--version")
    assert f"github.com/containerd/containerd/v2 {version}" in output(binary("containerd", "ctr"), "--version")
    assert version in output(binary("containerd", "containerd-shim-runc-v2"), "-v")


def test_runc_reports_its_pinned_version_and_seccomp():
    text = output(binary("runc"), "--version")
    assert f"runc version {pinned()['runc'].removeprefix('v')}\n" in text
    assert "libseccomp: " in text, "runc must be built with the seccomp tag"


def test_crictl_reports_its_pinned_version():
    assert f"crictl version {pinned()['crictl'].removeprefix('v')}" in output(binary("crictl"), "--version")


def test_cni_plugins_report_their_pinned_version():
    version = pinned()["cni-plugins"]
    for plugin in CNI_PLUGINS:
        # without CNI_COMMAND a plugin prints what it is and exits 0
        assert f"CNI {plugin} plugin {version}" in output(binary("cni-plugins", plugin)), plugin


def test_etcd_reports_its_pinned_version():
    version = pinned()["etcd"].removeprefix("v")
    assert f"etcd Version: {version}" in output(binary("etcd"), "--version")
    assert f"etcdctl version: {version}" in output(binary("etcd", "etcdctl"), "version")


def test_coredns_reports_its_pinned_version():
    assert f"CoreDNS-{pinned()['coredns'].removeprefix('v')}" in output(binary("coredns"), "-version")


def test_local_path_provisioner_reports_its_pinned_version():
    assert f"version {pinned()['local-path-provisioner']}" in output(binary("local-path-provisioner"), "--version")


def has_interpreter(path: str) -> bool:
    """Whether an ELF-64 file asks for a dynamic loader (a PT_INTERP program header)."""
    with open(path, "rb") as elf:
        header = elf.read(64)
        assert header[:5] == b"\x7fELF\x02", f"{path} is not an ELF-64 executable"
        phoff = int.from_bytes(header[32:40], "little")
        phentsize = int.from_bytes(header[54:56], "little")
        phnum = int.from_bytes(header[56:58], "little")
        elf.seek(phoff)
        table = elf.read(phentsize * phnum)
    return any(int.from_bytes(table[i * phentsize : i * phentsize + 4], "little") == 3 for i in range(phnum))


def test_binaries_are_static():
    """The node image copies these into its own rootfs; none may need the build machine's libc."""
    for component, name in [
        ("containerd", "containerd"),
        ("containerd", "ctr"),
        ("containerd", "containerd-shim-runc-v2"),
        ("runc", "runc"),
        ("crictl", "crictl"),
        *(("cni-plugins", plugin) for plugin in CNI_PLUGINS),
        ("etcd", "etcd"),
        ("etcd", "etcdctl"),
        ("coredns", "coredns"),
        ("local-path-provisioner", "local-path-provisioner"),
        ("pause", "pause"),
    ]:
        assert not has_interpreter(binary(component, name)), f"{name} is dynamically linked"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_pause_exits_0_on_sigterm_and_sigint(sig):
    assert f"pause (mlops-platform) {pinned()['pause'].removeprefix('v')}" in output(binary("pause"), "-v")
    proc = subprocess.Popen([binary("pause")], stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        assert proc.poll() is None, "pause must block until signalled"
        proc.send_signal(sig)
        assert proc.wait(timeout=1) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def children_of(pid: int) -> list[str]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == pid:
            found.append(f"{stat.parent.name} ({fields[0]})")
    return found


def test_pause_reaps_exited_children():
    """As PID 1 of a pod that shares its PID namespace, pause must wait() for the orphans it
    inherits. Here a shell starts a short-lived child and then execs pause, so pause inherits it."""
    proc = subprocess.Popen(["/bin/sh", "-c", f"sleep 0.2 & exec {binary('pause')}"], stderr=subprocess.DEVNULL)
    try:
        # Until the shell has exec'd pause (and pause has set up its signal handling), a SIGTERM
        # kills the shell instead (CI once saw -15): wait for the exec, then for the child's end.
        deadline = time.monotonic() + 3
        comm = Path(f"/proc/{proc.pid}/comm")
        while comm.read_text().strip() != "pause" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert comm.read_text().strip() == "pause", "the shell did not exec pause within 3 s"
        time.sleep(0.3)
        while (children := children_of(proc.pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not children, f"pause left children behind (Z = zombie): {children}"
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=1) == 0
