"""Verify of the common role's Molecule scenario: one parametrised check per item the role manages."""

import pytest

# The inventory's ansible_host is the node's cluster address (for /etc/hosts), not the container's name.
testinfra_hosts = ["docker://molecule-common"]

PACKAGES = ["ca-certificates", "conntrack", "ethtool", "iptables", "socat", "systemd-timesyncd"]
KERNEL_MODULES = ["overlay", "br_netfilter"]
SYSCTLS = {
    "net.bridge.bridge-nf-call-iptables": "1",
    "net.bridge.bridge-nf-call-ip6tables": "1",
    "net.ipv4.ip_forward": "1",
}


@pytest.mark.parametrize("package", PACKAGES)
def test_package_is_installed(host, package):
    assert host.package(package).is_installed


@pytest.mark.parametrize("module", KERNEL_MODULES)
def test_kernel_module_loads_at_boot(host, module):
    assert module in host.file("/etc/modules-load.d/kubernetes.conf").content_string.split()


@pytest.mark.parametrize(("name", "value"), SYSCTLS.items())
def test_kernel_parameter_is_persisted(host, name, value):
    assert f"{name} = {value}" in host.file("/etc/sysctl.d/90-kubernetes.conf").content_string.splitlines()


def test_swap_entry_is_commented_out(host):
    lines = host.file("/etc/fstab").content_string.splitlines()
    assert "# /swapfile none swap sw 0 0" in lines
    assert "/swapfile none swap sw 0 0" not in lines


def test_cluster_nodes_resolve_by_name(host):
    hosts = host.file("/etc/hosts").content_string
    assert "# BEGIN Kubernetes cluster nodes (managed by Ansible, role common)" in hosts
    assert "127.0.0.1 molecule-common" in hosts.splitlines()


def test_hostname_is_the_node_name(host):
    assert host.check_output("hostname") == "molecule-common"


def test_time_sync_daemon_is_enabled(host):
    assert host.service("systemd-timesyncd").is_enabled
