"""dev_cluster/test.sh, what `make test` runs: the unit lane (render, fast suite, components) beside
the cluster lane (cluster-check.sh). The script runs for real, in a copy of the repository's layout
whose render.sh, cluster-check.sh and pytest are small scripts that record when they ran and exit
as told (the real ones take forty minutes and a cluster; CI runs those)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.unit

# Each stand-in appends "NAME start" and "NAME end" to $TRACE, sleeps $NAME_SLEEP seconds and
# exits with $NAME_RC (0 when unset).
STAND_IN = """#!/usr/bin/env bash
name={name}
echo "$name start $*" >>"$TRACE"
sleep "${{{var}_SLEEP:-0}}"
echo "$name output"
[[ $name != fast ]] || echo "============ 3 passed in 0.01s ============"
echo "$name end" >>"$TRACE"
exit "${{{var}_RC:-0}}"
"""


def _layout(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "dev_cluster").mkdir(parents=True)
    shutil.copy(ROOT / "dev_cluster" / "test.sh", repo / "dev_cluster" / "test.sh")
    stand_ins = {"dev_cluster/render.sh": ("render", "RENDER"),
                 "dev_cluster/cluster-check.sh": ("cluster", "CLUSTER"),
                 ".venv/bin/pytest": ("fast", "FAST"),
                 ".venv-pipelines/bin/python": ("components", "COMPONENTS")}
    for path, (name, var) in stand_ins.items():
        target = repo / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(STAND_IN.format(name=name, var=var))
        target.chmod(0o755)
    return repo


def _run(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    repo = _layout(tmp_path)
    trace = tmp_path / "trace"
    trace.touch()
    result = subprocess.run(["bash", str(repo / "dev_cluster" / "test.sh"), "--durations=3"],
                            capture_output=True, text=True, timeout=60,
                            env={**os.environ, "TRACE": str(trace), "MLOPS_TEST_LOGS": str(tmp_path / "logs"),
                                 "MLOPS_RENDER_DIR": str(tmp_path / "render"), **env})
    return result, trace.read_text().splitlines()


def test_the_cluster_lane_starts_without_waiting_for_the_unit_lane(tmp_path):
    result, trace = _run(tmp_path, RENDER_SLEEP="1", FAST_SLEEP="1")
    assert result.returncode == 0, result.stdout + result.stderr
    # The cluster lane started before the unit lane's first step ended; the unit steps in order.
    assert trace.index("cluster end") > 0
    assert trace.index(next(line for line in trace if line.startswith("cluster start"))) < trace.index("render end")
    unit = [line.split()[0:2] for line in trace if not line.startswith("cluster")]
    assert unit == [["render", "start"], ["render", "end"], ["fast", "start"], ["fast", "end"],
                    ["components", "start"], ["components", "end"]]
    # pytest's arguments reach every pytest run and the cluster lane; render gets the render folder.
    assert any(line.startswith("fast start") and "--durations=3" in line for line in trace)
    assert any(line.startswith("components start") and "--durations=3" in line for line in trace)
    assert any(line.startswith("cluster start") and "--durations=3" in line for line in trace)
    assert any(line == f"render start {tmp_path / 'render'} local university" for line in trace)
    # One line per unit step with pytest's summary, and the unit lane's whole log at the end.
    assert "unit lane: fast suite ok in" in result.stdout
    assert "(3 passed in 0.01s)" in result.stdout
    # A step without a pytest summary (render, the components' stand-in) shows none, not the fast suite's.
    assert "unit lane: components and local pipeline ok in" in result.stdout
    assert "(3 passed" not in next(line for line in result.stdout.splitlines() if "components and local pipeline ok" in line)
    assert "[unit] fast output" in result.stdout
    assert "[unit] components output" in result.stdout
    assert "unit lane: ok; cluster lane: ok" in result.stdout


@pytest.mark.parametrize(("failing", "lane"), [("FAST", "unit"), ("CLUSTER", "cluster")])
def test_a_failing_lane_fails_make_test_and_is_named_while_the_other_runs_to_its_end(tmp_path, failing, lane):
    result, trace = _run(tmp_path, **{f"{failing}_RC": "3"})
    assert result.returncode != 0, result.stdout
    other = "cluster" if lane == "unit" else "unit"
    assert f"{lane} lane: FAILED" in result.stdout, result.stdout
    assert f"{other} lane: ok" in result.stdout, result.stdout
    if lane == "unit":
        # A failed step stops the unit lane (nothing after the fast suite) and shows its output at once.
        assert "unit lane: fast suite FAILED (exit 3)" in result.stdout
        assert not any(line.startswith("components") for line in trace)
        assert "cluster end" in trace
    else:
        assert "components end" in trace
