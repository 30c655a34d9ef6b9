"""dev_cluster/cold-check.sh (`make cold-check`): its preflight refuses bad input before it changes
anything, and its set-up (a clone, a network namespace, a second Docker daemon) leaves nothing behind."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.unit

# A namespace name of the test's own: a real cold check may be running on this machine meanwhile.
TEST_NETNS = f"mlops-cc-test-{os.getpid()}"


def cold_check(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(ROOT / "dev_cluster" / "cold-check.sh")], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "MLOPS_COLD_CHECK_DIR": str(tmp_path / "machine"),
                               "MLOPS_COLD_CHECK_NETNS": TEST_NETNS, **env})


@pytest.mark.skipif(os.geteuid() != 0, reason="make cold-check runs as root; its preflight refuses others first")
def test_cold_check_refuses_too_little_disk_before_changing_anything(tmp_path):
    done = cold_check(tmp_path, MLOPS_COLD_CHECK_MIN_GB="1000000")
    assert done.returncode == 1
    assert "a cold check needs 1000000 GB" in done.stderr, done.stderr
    assert "MLOPS_COLD_CHECK_DIR" in done.stderr, "the message says how to fix it"
    assert not (tmp_path / "machine").exists()
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert TEST_NETNS not in netns


@pytest.mark.skipif(os.geteuid() != 0, reason="make cold-check runs as root; its preflight refuses others first")
def test_cold_check_refuses_a_leftover_folder(tmp_path):
    (tmp_path / "machine").mkdir()
    (tmp_path / "machine" / "keep-me").write_text("x")
    done = cold_check(tmp_path)
    assert done.returncode == 1
    assert "exists (an earlier cold check kept or interrupted?)" in done.stderr, done.stderr
    assert (tmp_path / "machine" / "keep-me").exists(), "nothing of it is removed"


@pytest.mark.skipif(os.geteuid() != 0, reason="make cold-check runs as root; its preflight refuses others first")
def test_cold_check_refuses_an_unknown_step_before_changing_anything(tmp_path):
    done = cold_check(tmp_path, MLOPS_COLD_CHECK_STEPS="venv deploy")
    assert done.returncode == 1
    assert "unknown step 'deploy'" in done.stderr, done.stderr
    assert "venv, up, smoke" in done.stderr, done.stderr
    assert not (tmp_path / "machine").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="make cold-check runs as root; its preflight refuses others first")
def test_cold_check_refuses_a_folder_path_too_long_for_sockets(tmp_path):
    long_path = "/var/tmp/" + "x" * 60  # noqa: S108 (never created: refused first)
    done = cold_check(tmp_path, MLOPS_COLD_CHECK_DIR=long_path, MLOPS_COLD_CHECK_MIN_GB="1")
    assert done.returncode == 1
    assert "is too long" in done.stderr, done.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="make cold-check runs as root: it starts a Docker daemon")
def test_cold_check_setup_leaves_nothing_behind(tmp_path):
    """The fresh machine without its steps: clone, namespace, second Docker daemon; then all of it gone
    (an earlier version stopped a subshell instead of the daemon, which kept running)."""
    # Short: the daemon's sockets live under it; removed by the check itself (asserted below).
    machine = Path(f"/var/tmp/mcc-test-{os.getpid()}")  # noqa: S108
    done = cold_check(tmp_path, MLOPS_COLD_CHECK_STEPS="", MLOPS_COLD_CHECK_MIN_GB="5",
                      MLOPS_COLD_CHECK_DIR=str(machine), MLOPS_COLD_CHECK_REPORT=str(tmp_path / "report.json"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "second Docker daemon ready" in done.stderr
    assert json.loads((tmp_path / "report.json").read_text())["outcome"] == "passed"
    left = subprocess.run(["pgrep", "-f", "--", f"--data-root {machine}/docker"], capture_output=True, text=True).stdout
    assert not left.strip(), f"the second Docker daemon still runs: pid {left}"
    assert TEST_NETNS not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not machine.exists()


def test_the_report_is_written_from_the_steps_and_shown_as_tables(tmp_path):
    """dev_cluster/cold_report.py: the rows cold-check.sh appends and make up's stage times become the
    report (JSON), which is shown with the cold make venv + make up time."""
    rows = tmp_path / "rows"
    rows.write_text("make venv\t-\tok\t120\nmake up\t-\tok\t2400\nmake smoke\t-\tok\t300\n")
    up = tmp_path / "up.json"
    up.write_text(json.dumps({"title": "up", "cores": 2, "wall_seconds": 2390.0, "stages": [
        {"name": "docker engine", "lane": "io", "status": "ok", "seconds": 3.0, "expected": None}]}))
    report = tmp_path / "report.json"
    script = str(ROOT / "dev_cluster" / "cold_report.py")
    written = subprocess.run(["python3", script, "write", str(rows), str(up), str(report), "passed", "2048", "a" * 40],
                             capture_output=True, text=True, check=False)
    assert written.returncode == 0, written.stderr
    data = json.loads(report.read_text())
    assert (data["outcome"], data["peak_disk_gb"], data["commit"]) == ("passed", 2.0, "a" * 40)
    assert [(s["name"], s["seconds"]) for s in data["steps"]] == [("make venv", 120.0), ("make up", 2400.0), ("make smoke", 300.0)]
    assert data["up"]["stages"][0]["name"] == "docker engine"
    shown = subprocess.run(["python3", script, "show", str(report)], capture_output=True, text=True, check=False)
    assert shown.returncode == 0, shown.stderr
    assert "commit aaaaaaaaaaaa; peak disk 2.0 GB" in shown.stdout
    assert "docker engine" in shown.stdout
    assert "cold make venv + make up: 42 min" in shown.stdout, shown.stdout
    missing = subprocess.run(["python3", script, "write", str(rows), str(tmp_path / "none.json"), str(report), "failed", "0", "b"],
                             capture_output=True, text=True, check=False)
    assert missing.returncode == 0, missing.stderr
    assert json.loads(report.read_text())["up"] == {"stages": [], "wall_seconds": None}, "make up never got to write its times"
    usage = subprocess.run(["python3", script, "table"], capture_output=True, text=True, check=False)
    assert usage.returncode == 1
    assert "cold_report.py show REPORT" in usage.stderr
