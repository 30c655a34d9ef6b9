"""Verify of the nvidia_driver role's Molecule scenario: detection found the crafted GPU, and nothing was installed
on either node (skip_install on the GPU node, no GPU on the other)."""

import json

import pytest
import testinfra

# The containers by name (the inventory has no ansible_host of its own here, but keep it explicit).
testinfra_hosts = ["docker://molecule-gpu", "docker://molecule-no-gpu"]

FACT = "/etc/ansible/facts.d/nvidia_driver.fact"
DRIVER_PACKAGES = ["nvidia-driver", "nvidia-smi", "nvidia-persistenced", "firmware-misc-nonfree"]
SOURCES = ["/etc/apt/sources.list.d/debian-non-free.sources", "/etc/apt/sources.list.d/nvidia-cuda.list"]


def test_the_gpu_node_recorded_the_nvidia_gpu_only():
    fact = json.loads(testinfra.get_host("docker://molecule-gpu").file(FACT).content_string)
    # The audio function (class 0x0403) and the Intel graphics are not GPUs.
    assert fact == {"gpus": ["0000:41:00.0"], "source": "distribution", "branch": "535"}


def test_the_node_without_a_gpu_was_left_alone():
    assert not testinfra.get_host("docker://molecule-no-gpu").file(FACT).exists


@pytest.mark.parametrize("package", DRIVER_PACKAGES)
def test_no_driver_package_was_installed(host, package):
    assert not host.package(package).is_installed


@pytest.mark.parametrize("path", SOURCES)
def test_no_package_source_was_added(host, path):
    assert not host.file(path).exists
