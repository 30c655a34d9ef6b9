"""dev_cluster/load_space.py, the check before `make up` loads images into the kind nodes: what a load
writes (layers shared by images counted once, twice per node that lacks them) against the free space of
TMPDIR and Docker's data root. The check against a real cluster and engine: tests/cluster/
test_local_cluster.py (a load refused with a reserve no disk has, and let through without)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "dev_cluster"))
import load_space  # noqa: E402

pytestmark = pytest.mark.unit
GB = load_space.GB
# Two images on one 1 GB base layer, with 2 GB and 3 GB of their own.
LAYERS = {"a": {"base": 1 * GB, "a1": 2 * GB}, "b": {"base": 1 * GB, "b1": 3 * GB}}


def test_shared_layers_count_once_in_the_archive_and_once_per_node_that_lacks_them():
    load = load_space.need(LAYERS, {"n1": set(), "n2": {"a"}})
    assert load.archive == 6 * GB
    assert load.nodes == 2 * 6 * GB + 2 * 4 * GB
    assert load.missing == {"n1": ["a", "b"], "n2": ["b"]}


def test_images_every_node_has_write_nothing():
    load = load_space.need(LAYERS, {"n1": {"a", "b"}, "n2": {"a", "b"}})
    assert (load.archive, load.nodes, load.missing) == (0, 0, {})
    assert load_space.shortfall(load, (1, 0), (1, 0), 0) == []


def test_on_one_file_system_the_archive_and_the_nodes_copies_add_up():
    load = load_space.need(LAYERS, {"n1": set()})  # 6 GB archive, 12 GB in the node
    assert load_space.shortfall(load, (1, 20 * GB), (1, 20 * GB), 2 * GB) == []
    (line,) = load_space.shortfall(load, (1, 19 * GB), (1, 19 * GB), 2 * GB)
    assert "needs about 20.0 GB" in line
    assert "19.0 GB are free" in line


def test_on_two_file_systems_each_is_checked_for_its_part():
    load = load_space.need(LAYERS, {"n1": set()})
    assert load_space.shortfall(load, (1, 7 * GB), (2, 13 * GB), 1 * GB) == []
    (line,) = load_space.shortfall(load, (1, 6 * GB), (2, 13 * GB), 1 * GB)
    assert line.startswith("its archive needs about 7.0 GB in TMPDIR")
    (line,) = load_space.shortfall(load, (1, 7 * GB), (2, 12 * GB), 1 * GB)
    assert line.startswith("the nodes' copies need about 13.0 GB under Docker's data root")
