"""Verify of the containerd role's Molecule scenario: one parametrised check per item the role manages."""

import tomllib

import pytest

PACKAGES = ["containerd", "runc"]


@pytest.fixture(scope="module")
def cri(host):
    """The CRI plugin section of containerd's effective (merged) configuration."""
    return tomllib.loads(host.check_output("containerd config dump"))["plugins"]["io.containerd.grpc.v1.cri"]


@pytest.mark.parametrize("package", PACKAGES)
def test_package_is_installed(host, package):
    assert host.package(package).is_installed


def test_containerd_is_enabled_and_serves_its_socket(host):
    assert host.service("containerd").is_enabled
    assert host.service("containerd").is_running
    assert host.run("ctr --address /run/containerd/containerd.sock version").rc == 0


def test_main_config_imports_the_drop_ins(host):
    assert 'imports = ["/etc/containerd/conf.d/*.toml"]' in host.file("/etc/containerd/config.toml").content_string


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        (("containerd", "runtimes", "runc", "options", "SystemdCgroup"), True),
        (("containerd", "default_runtime_name"), "runc"),
        (("sandbox_image",), "registry.k8s.io/pause:3.10.1"),
        (("registry", "config_path"), "/etc/containerd/certs.d"),
    ],
)
def test_effective_cri_setting(cri, setting, expected):
    value = cri
    for key in setting:
        value = value[key]
    assert value == expected, f"{'.'.join(setting)} is {value!r}"


def test_registry_mirror_is_configured(host):
    hosts_toml = host.file("/etc/containerd/certs.d/registry.k8s.io/hosts.toml").content_string
    assert 'server = "https://registry.k8s.io"' in hosts_toml
    assert '[host."https://harbor.example.edu/v2/registry.k8s.io"]' in hosts_toml
