"""Fast tests of ansible/: linters, the roles' variable contract, playbook syntax and the preflight checks.

The preflight tests run the real playbooks against this machine (connection local, check mode, only the
tasks tagged `preflight`), with crafted inventories and facts, and assert that a bad inventory or node
stops the run with a message that says what to change.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib

import pytest
import yaml
from conftest import PLAYBOOKS, ROLES, ROLES_DIR, TEST_DIR, run_tool

SUPPORTED_NODE = {"control_plane": {"cp-01": "127.0.0.1"}, "workers": {"cpu-01": "127.0.0.2"}}
PYTHON_TYPES = {"str": str, "int": int, "bool": bool, "list": list, "dict": dict}


def load_yaml(path):
    return yaml.safe_load(path.read_text()) or {}


def assert_failed_with(result, *fragments):
    """The run failed, and its output contains each fragment (whitespace-normalised)."""
    output = " ".join(result.stdout.split())
    assert result.returncode != 0, f"the run passed but should have failed:\n{result.stdout[-3000:]}"
    for fragment in fragments:
        assert fragment in output, f"{fragment!r} not in the output:\n{result.stdout[-3000:]}"


def assert_passed(result):
    assert result.returncode == 0, f"the run failed (rc {result.returncode}):\n{result.stdout[-4000:]}"


# --- linters ---------------------------------------------------------------------------------------------


@pytest.mark.lint
def test_ansible_lint_passes_with_the_production_profile():
    result = run_tool(["ansible-lint", "--offline"])
    assert result.returncode == 0, result.stdout[-6000:]
    assert "Profile 'production' was required, and it passed" in result.stdout


@pytest.mark.lint
def test_yamllint_passes():
    result = run_tool(["yamllint", "--strict", "--config-file", ".yamllint", "."])
    assert result.returncode == 0, result.stdout


# --- the roles' variable contract ------------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize("role", ROLES)
def test_argument_specs_equal_defaults(role):
    defaults = load_yaml(ROLES_DIR / role / "defaults" / "main.yml")
    specs = load_yaml(ROLES_DIR / role / "meta" / "argument_specs.yml")["argument_specs"]
    options = specs["main"]["options"]
    assert sorted(options) == sorted(defaults), f"{role}: argument_specs options differ from defaults/main.yml"
    for name, value in defaults.items():
        spec = options[name]
        assert spec.get("default") == value, f"{role}: {name} defaults to {value!r} but the spec says {spec.get('default')!r}"
        assert isinstance(value, PYTHON_TYPES[spec["type"]]), f"{role}: {name} is {value!r}, not of type {spec['type']}"
        assert spec.get("description"), f"{role}: {name} has no description"
        if "choices" in spec:
            assert value in spec["choices"], f"{role}: {name} defaults to {value!r}, not one of {spec['choices']}"
    for entry_point, spec in specs.items():
        assert set(spec.get("options", {})) <= set(defaults), f"{role}: entry point {entry_point} has unknown options"


@pytest.mark.unit
@pytest.mark.parametrize("role", ROLES)
def test_role_variables_carry_the_role_prefix(role):
    defaults = load_yaml(ROLES_DIR / role / "defaults" / "main.yml")
    public = [name for name in defaults if not name.startswith(f"{role}_")]
    assert not public, f"{role}: defaults without the prefix {role}_: {public}"
    private = []
    for vars_file in (ROLES_DIR / role / "vars").glob("*.yml"):
        private += [name for name in load_yaml(vars_file) if not name.startswith(f"_{role}_")]
    for tasks_file in (ROLES_DIR / role).glob("*/*.yml"):
        for task in _tasks(load_yaml(tasks_file) if tasks_file.parent.name in ("tasks", "handlers") else []):
            private += [task["register"]] if "register" in task and not task["register"].startswith(f"_{role}_") else []
            facts = task.get("ansible.builtin.set_fact", {})
            private += [name for name in facts if not name.startswith(f"_{role}_")]
    assert not private, f"{role}: role variables, registers and facts without the prefix _{role}_: {private}"


def _tasks(tasks):
    for task in tasks or []:
        yield task
        for section in ("block", "rescue", "always"):
            yield from _tasks(task.get(section))


@pytest.mark.unit
@pytest.mark.parametrize("role", ROLES)
def test_role_follows_the_house_layout(role):
    role_dir = ROLES_DIR / role
    main = (role_dir / "tasks" / "main.yml").read_text()
    assert "file: preflight.yml" in main, f"{role}: main.yml must include preflight.yml"
    assert "tags: [preflight]" in main, f"{role}: main.yml must tag the preflight include with preflight"
    assert re.search(r"include_tasks: \"?install", main), f"{role}: main.yml must include install*.yml"
    assert "include_tasks: configure.yml" in main, f"{role}: main.yml must include configure.yml"
    for required in ("defaults/main.yml", "meta/main.yml", "meta/argument_specs.yml", "README.md"):
        assert (role_dir / required).is_file(), f"{role}: {required} is missing"
    readme = (role_dir / "README.md").read_text()
    undocumented = [name for name in load_yaml(role_dir / "defaults" / "main.yml") if f"`{name}`" not in readme]
    assert not undocumented, f"{role}: README.md does not mention {undocumented}"


@pytest.mark.unit
@pytest.mark.parametrize("role", ROLES)
def test_the_readme_variables_table_is_generated_from_argument_specs(role):
    """Each variable is described once, in meta/argument_specs.yml; the README's table is written
    from it (ansible/role_docs.py, make role-docs) and must not be edited by hand."""
    sys.path.insert(0, str(ROLES_DIR.parent))
    import role_docs

    role_dir = ROLES_DIR / role
    readme = (role_dir / "README.md").read_text()
    assert role_docs.GENERATED_START in readme, f"{role}: README.md has no generated variables table (make role-docs)"
    wanted = role_docs.render(readme, load_yaml(role_dir / "meta" / "argument_specs.yml"))
    assert readme == wanted, f"{role}: README.md's variables table differs from meta/argument_specs.yml: run make role-docs"


# --- playbooks -------------------------------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_playbook_syntax_with_the_sample_inventory(playbook):
    result = run_tool(["ansible-playbook", "--syntax-check", "-i", "inventories/sample/hosts.yml", f"playbooks/{playbook}"])
    assert result.returncode == 0, result.stdout


@pytest.mark.unit
def test_sample_inventory_has_the_groups_the_playbooks_use():
    result = run_tool(["ansible-inventory", "-i", "inventories/sample/hosts.yml", "--graph"])
    assert result.returncode == 0, result.stdout
    for group in ("@control_plane", "@workers", "@gpu_nodes"):
        assert group in result.stdout


# --- preflight: runs before any change and stops bad inventories and nodes -------------------------------


@pytest.mark.unit
def test_preflight_passes_on_a_supported_node(preflight):
    assert_passed(preflight("site.yml", SUPPORTED_NODE))


@pytest.mark.unit
@pytest.mark.parametrize(("distribution", "version", "messages"), [
    ("CentOS", "9.4", ("runs CentOS 9.4, which is not supported", "install one of Debian 12, Ubuntu 22.04, Ubuntu 24.04")),
    # A supported distribution in a release that is not.
    ("Ubuntu", "20.04", ("runs Ubuntu 20.04, which is not supported",)),
], ids=["unsupported-os", "unsupported-release"])
def test_preflight_rejects_an_unsupported_os_or_release(preflight, distribution, version, messages):
    facts = {"distribution": distribution, "distribution_version": version, "distribution_major_version": version.split(".")[0]}
    assert_failed_with(preflight("site.yml", SUPPORTED_NODE, facts=facts), *messages)


@pytest.mark.unit
def test_preflight_rejects_duplicate_hostnames(preflight):
    groups = {
        "control_plane": {"cp-01": "127.0.0.1"},
        "workers": {"gpu-01.physics.example.edu": "127.0.0.2", "gpu-01.chemistry.example.edu": "127.0.0.3"},
    }
    result = preflight("site.yml", groups)
    assert_failed_with(
        result,
        "Duplicate hostnames in the inventory: gpu-01 (gpu-01.physics.example.edu, gpu-01.chemistry.example.edu)",
        "rename the hosts",
    )


@pytest.mark.unit
def test_preflight_rejects_shared_addresses(preflight):
    groups = {"control_plane": {"cp-01": "127.0.0.1"}, "workers": {"cpu-01": "127.0.0.1"}}
    assert_failed_with(
        preflight("site.yml", groups),
        "Every cluster node needs its own IP address in ansible_host",
        "cp-01=127.0.0.1, cpu-01=127.0.0.1",
    )


@pytest.mark.unit
def test_preflight_rejects_a_missing_control_plane(preflight):
    result = preflight("site.yml", {"workers": {"cpu-01": "127.0.0.2"}})
    assert_failed_with(
        result,
        'The inventory has no host in the group "control_plane"',
        "put the control-plane node(s) into that group",
    )


@pytest.mark.unit
def test_preflight_rejects_several_control_planes_without_an_endpoint(preflight):
    groups = {"control_plane": {"cp-01": "127.0.0.1", "cp-02": "127.0.0.2", "cp-03": "127.0.0.3"}}
    result = preflight("site.yml", groups)
    assert_failed_with(result, 'The group "control_plane" has 3 hosts (cp-01, cp-02, cp-03) but control_plane_endpoint is empty')


@pytest.mark.unit
def test_preflight_accepts_several_control_planes_with_an_endpoint(preflight):
    groups = {"control_plane": {"cp-01": "127.0.0.1", "cp-02": "127.0.0.2", "cp-03": "127.0.0.3"}}
    assert_passed(preflight("site.yml", groups, extra_vars={"control_plane_endpoint": "k8s-api.example.edu:6443"}))


@pytest.mark.unit
def test_preflight_rejects_too_little_memory(preflight):
    memory_mib = int(subprocess.check_output(["awk", "/MemTotal/ {print int($2 / 1024)}", "/proc/meminfo"], text=True))
    result = preflight("site.yml", SUPPORTED_NODE, extra_vars={"common_min_memory_mib": memory_mib + 4096})
    assert_failed_with(result, f"but at least {memory_mib + 4096} MiB are required: add memory or lower common_min_memory_mib")


@pytest.mark.unit
def test_preflight_rejects_swap_that_cannot_be_turned_off(preflight):
    swap = {
        "swaptotal_mb": 8192,
        "memory_mb": {
            "swap": {"total": 8192, "used": 6000, "free": 2192, "cached": 0},
            "nocache": {"free": 1000, "used": 1000},
        },
    }
    result = preflight("site.yml", SUPPORTED_NODE, facts=swap)
    assert_failed_with(result, "has 6000 MiB swapped out but only 1000 MiB of free memory, so swap cannot be turned off")


@pytest.mark.unit
def test_preflight_rejects_swap_when_turning_it_off_is_not_allowed(preflight):
    result = preflight("site.yml", SUPPORTED_NODE, facts={"swaptotal_mb": 2048}, extra_vars={"common_swap_disable": False})
    assert_failed_with(result, "2048 MiB of swap and the kubelet does not start with swap on", "set common_swap_disable: true")


@pytest.mark.unit
def test_preflight_rejects_a_node_without_systemd_before_any_change(preflight):
    result = preflight("site.yml", SUPPORTED_NODE, facts={"service_mgr": "sysvinit"})
    assert_failed_with(result, "is managed by sysvinit", "boot the node with systemd")
    assert "PLAY [Prepare the operating system" not in result.stdout, "a play that changes nodes ran after a failed preflight"


@pytest.mark.unit
def test_preflight_rejects_missing_artifacts(preflight, tmp_path):
    (tmp_path / "kubeadm").write_text("")
    result = preflight(
        "site.yml",
        SUPPORTED_NODE,
        extra_vars={"kubernetes_node_install_method": "artifacts", "kubernetes_node_artifact_dir": str(tmp_path)},
    )
    assert_failed_with(result, "missing: kubelet, kubectl")


def _fake_kubeadm(tmp_path, version):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kubeadm = bin_dir / "kubeadm"
    kubeadm.write_text(f"#!/bin/sh\necho v{version}\n")
    kubeadm.chmod(0o755)
    return bin_dir


@pytest.mark.unit
def test_preflight_refuses_a_version_change_outside_the_upgrade_playbook(preflight, tmp_path):
    result = preflight("site.yml", SUPPORTED_NODE, path_prefix=_fake_kubeadm(tmp_path, "1.34.2"))
    assert_failed_with(result, "runs kubeadm 1.34.2 but kubernetes_node_version is 1.35.4: run playbooks/upgrade.yml")


@pytest.mark.unit
def test_upgrade_preflight_accepts_one_minor_version(preflight, tmp_path):
    assert_passed(preflight("upgrade.yml", SUPPORTED_NODE, path_prefix=_fake_kubeadm(tmp_path, "1.34.2")))


@pytest.mark.unit
def test_upgrade_preflight_refuses_to_skip_a_minor_version(preflight, tmp_path):
    result = preflight("upgrade.yml", SUPPORTED_NODE, path_prefix=_fake_kubeadm(tmp_path, "1.33.5"))
    assert_failed_with(result, "only one minor version forward and never down")


# --- GPU detection ----------------------------------------------------------------------------------------


def _fake_pci_devices(tmp_path, devices):
    root = tmp_path / "pci-devices"
    for address, (vendor, device_class) in devices.items():
        (root / address).mkdir(parents=True)
        (root / address / "vendor").write_text(f"{vendor}\n")
        (root / address / "class").write_text(f"{device_class}\n")
    return root


GPU_GROUPS = {"control_plane": {"cp-01": "127.0.0.1"}, "workers": {}, "gpu_nodes": {"gpu-01": "127.0.0.2"}}


def _gpu_node_preflight(preflight, tmp_path, devices, skip_gpu_check=True, **extra_vars):
    """site.yml's preflight on GPU_GROUPS, the node's PCI devices faked as `devices` (address -> (vendor, class));
    `skip_gpu_check`: leave out nvidia-smi's check of a working driver."""
    extra_vars["nvidia_driver_pci_devices_path"] = str(_fake_pci_devices(tmp_path, devices))
    if skip_gpu_check:
        extra_vars["gpu_node_skip_gpu_check"] = True
    return preflight("site.yml", GPU_GROUPS, extra_vars=extra_vars)



@pytest.mark.unit
def test_preflight_rejects_missing_toolkit_artifacts(preflight, tmp_path):
    """The air-gapped toolkit install stops before any change when the controller lacks one of its binaries."""
    (tmp_path / "nvidia").mkdir()
    (tmp_path / "nvidia" / "nvidia-ctk").write_text("")
    result = _gpu_node_preflight(preflight, tmp_path, {"0000:41:00.0": ("0x10de", "0x030200")},
                                 nvidia_container_toolkit_install_method="artifacts",
                                 nvidia_container_toolkit_artifact_dir=str(tmp_path / "nvidia"))
    assert_failed_with(result, "missing: nvidia-container-runtime, nvidia-cdi-hook", "offline/ansible-artifacts.sh")

@pytest.mark.unit
def test_gpu_detection_finds_nvidia_display_controllers_only(preflight, tmp_path):
    devices = {
        "0000:00:02.0": ("0x8086", "0x030000"),  # Intel on-board graphics
        "0000:41:00.0": ("0x10de", "0x030200"),  # NVIDIA 3D controller (data-centre GPU)
        "0000:41:00.1": ("0x10de", "0x040300"),  # its HDMI audio function
    }
    result = _gpu_node_preflight(preflight, tmp_path, devices, nvidia_driver_require_gpu=True)
    assert_passed(result)
    assert "1 NVIDIA GPU(s) at PCI 0000:41:00.0" in result.stdout


@pytest.mark.unit
def test_gpu_node_without_a_gpu_stops_the_run(preflight, tmp_path):
    devices = {"0000:00:02.0": ("0x8086", "0x030000"), "0000:41:00.1": ("0x10de", "0x040300")}
    result = _gpu_node_preflight(preflight, tmp_path, devices, nvidia_driver_require_gpu=True)
    assert_failed_with(result, "gpu-01 must have an NVIDIA GPU", "take the host out of gpu_nodes")


@pytest.mark.unit
def test_node_without_a_gpu_is_skipped_when_a_gpu_is_optional(preflight, tmp_path):
    result = _gpu_node_preflight(preflight, tmp_path, {"0000:00:02.0": ("0x8086", "0x030000")})
    assert_passed(result)
    assert "No NVIDIA GPU found: the driver is not installed on this node" in result.stdout


@pytest.mark.unit
def test_gpu_node_without_a_working_driver_stops_the_run(preflight, tmp_path):
    if shutil.which("nvidia-smi"):
        pytest.skip("this machine has a working NVIDIA driver")
    result = _gpu_node_preflight(preflight, tmp_path, {"0000:41:00.0": ("0x10de", "0x030200")}, skip_gpu_check=False)
    assert_failed_with(result, "`nvidia-smi --list-gpus` fails or lists no GPU", "run the nvidia_driver role, reboot")


# --- containerd drop-ins, merged by the real containerd -------------------------------------------------


def _merged_containerd_config(tmp_path, with_nvidia):
    if not shutil.which("containerd"):
        pytest.skip("containerd is not installed (apt-get install containerd)")
    render_dir = tmp_path / "containerd"
    result = run_tool(
        [
            "ansible-playbook",
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            "-e",
            f"render_dir={render_dir}",
            "-e",
            f"with_nvidia={with_nvidia}",
            str(TEST_DIR / "playbooks" / "render_containerd_dropins.yml"),
        ]
    )
    assert result.returncode == 0, result.stdout
    dump = subprocess.run(
        ["containerd", "--config", str(render_dir / "config.toml"), "config", "dump"],
        capture_output=True,
        text=True,
        check=True,
    )
    return tomllib.loads(dump.stdout)["plugins"]["io.containerd.grpc.v1.cri"]


@pytest.mark.unit
def test_containerd_drop_in_sets_systemd_cgroups(tmp_path):
    cri = _merged_containerd_config(tmp_path, with_nvidia=False)
    assert cri["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is True
    assert cri["containerd"]["default_runtime_name"] == "runc"
    assert cri["sandbox_image"] == "registry.k8s.io/pause:3.10.1"


@pytest.mark.unit
def test_nvidia_drop_in_adds_the_runtime_and_keeps_the_containerd_settings(tmp_path):
    cri = _merged_containerd_config(tmp_path, with_nvidia=True)
    runtimes = cri["containerd"]["runtimes"]
    assert runtimes["nvidia"]["options"]["BinaryName"] == "/usr/bin/nvidia-container-runtime"
    assert runtimes["nvidia"]["options"]["SystemdCgroup"] is True
    assert cri["containerd"]["default_runtime_name"] == "nvidia"
    assert runtimes["runc"]["options"]["SystemdCgroup"] is True, "the nvidia drop-in dropped runc's systemd cgroups"
    assert cri["sandbox_image"] == "registry.k8s.io/pause:3.10.1", "the nvidia drop-in dropped the sandbox image"


# The shape of the config.toml that the toolkit's packages install (keys commented out at the top, then tables).
_SHIPPED_RUNTIME_CONFIG = """#accept-nvidia-visible-devices-as-volume-mounts = false
#accept-nvidia-visible-devices-envvar-when-unprivileged = true
disable-require = false
supported-driver-capabilities = "compat32,compute,display,graphics,ngx,utility,video"

[nvidia-container-cli]
environment = []
ldconfig = "@/sbin/ldconfig.real"
load-kmods = true

[nvidia-container-runtime]
log-level = "info"
mode = "auto"
"""


def _apply_runtime_settings(config):
    return run_tool(["ansible-playbook", "-i", "localhost,", "-c", "local",
                     "-e", f"ansible_python_interpreter={sys.executable}", "-e", f"runtime_config={config}",
                     str(TEST_DIR / "playbooks" / "nvidia_runtime_settings.yml")])


@pytest.mark.unit
@pytest.mark.parametrize("shipped", [True, False], ids=["package config", "no config yet"])
def test_nvidia_runtime_gives_gpus_only_on_request(tmp_path, shipped):
    config = tmp_path / "nvidia-container-runtime" / "config.toml"
    if shipped:
        config.parent.mkdir()
        config.write_text(_SHIPPED_RUNTIME_CONFIG)
    result = _apply_runtime_settings(config)
    assert result.returncode == 0, result.stdout
    settings = tomllib.loads(config.read_text())
    assert settings["accept-nvidia-visible-devices-envvar-when-unprivileged"] is False, config.read_text()
    assert settings["accept-nvidia-visible-devices-as-volume-mounts"] is True, config.read_text()
    if shipped:
        assert settings["nvidia-container-runtime"]["mode"] == "auto", "the package's other settings are kept"
        assert settings["nvidia-container-cli"]["load-kmods"] is True
    again = _apply_runtime_settings(config)
    assert again.returncode == 0, again.stdout
    assert "changed=0" in again.stdout, f"a second run changes nothing:\n{again.stdout}"


# --- make gpu-check ----------------------------------------------------------------------------------------

GPU_CHECK = TEST_DIR.parents[1] / "ansible" / "gpu-check.sh"


def _gpu_check(tmp_path, pci_devices, smi_lines):
    """Runs ansible/gpu-check.sh with a crafted PCI tree and an nvidia-smi that prints the given CSV lines."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    if smi_lines is None:
        smi.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.'\nexit 9\n")
    else:
        smi.write_text("#!/bin/sh\ncat <<'CSV'\n" + "\n".join(smi_lines) + "\nCSV\n")
    smi.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "ANSIBLE_NOCOLOR": "1"}
    extra = json.dumps({"nvidia_driver_pci_devices_path": str(pci_devices)})
    return subprocess.run(
        ["bash", str(GPU_CHECK), "--extra-vars", extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )


@pytest.mark.unit
def test_gpu_check_reports_the_driver_and_every_gpu(tmp_path):
    devices = _fake_pci_devices(tmp_path, {"0000:41:00.0": ("0x10de", "0x030200"), "0000:42:00.0": ("0x10de", "0x030200")})
    result = _gpu_check(
        tmp_path,
        devices,
        ["0, NVIDIA H100 80GB HBM3, 570.124.06, 81559 MiB", "1, NVIDIA H100 80GB HBM3, 570.124.06, 81559 MiB"],
    )
    assert_passed(result)
    assert "driver_version: 570.124.06" in result.stdout
    assert "0000:41:00.0" in result.stdout
    assert "0000:42:00.0" in result.stdout


@pytest.mark.unit
def test_gpu_check_fails_when_the_driver_misses_a_gpu(tmp_path):
    devices = _fake_pci_devices(tmp_path, {"0000:41:00.0": ("0x10de", "0x030200"), "0000:42:00.0": ("0x10de", "0x030200")})
    result = _gpu_check(tmp_path, devices, ["0, NVIDIA H100 80GB HBM3, 570.124.06, 81559 MiB"])
    assert_failed_with(result, "lists 1 GPU(s) but the PCI bus has 2")


@pytest.mark.unit
def test_gpu_check_fails_when_the_driver_does_not_answer(tmp_path):
    devices = _fake_pci_devices(tmp_path, {"0000:41:00.0": ("0x10de", "0x030200")})
    result = _gpu_check(tmp_path, devices, None)
    assert_failed_with(result, "nvidia-smi failed", "but the PCI bus has 1")


@pytest.mark.unit
def test_gpu_check_fails_on_a_machine_without_a_gpu(tmp_path):
    devices = _fake_pci_devices(tmp_path, {"0000:00:02.0": ("0x8086", "0x030000")})
    result = _gpu_check(tmp_path, devices, [])
    assert_failed_with(result, "must have an NVIDIA GPU")


@pytest.mark.lint
def test_collections_are_pinned_to_exact_versions():
    requirements = load_yaml(TEST_DIR.parents[1] / "ansible" / "requirements.yml")
    assert requirements["collections"], "ansible/requirements.yml lists no collection"
    for entry in requirements["collections"]:
        assert re.fullmatch(r"\d+\.\d+\.\d+", str(entry.get("version", ""))), f"{entry} is not pinned to one version"
