"""dev_cluster/stages.py, the stage runner of `make up` and `make cold-check`: progress lines with the
expected time, lanes and dependencies, the failure report, the table and its JSON. The stages
are real commands (bash), the clock is real."""

from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "dev_cluster"))
from stages import History, Runner, Stage, format_table, human  # noqa: E402

pytestmark = pytest.mark.unit


def sh(script: str) -> list[str]:
    return ["bash", "-c", script]


def run(stages, tmp_path, jobs=2, history=None):
    out = io.StringIO()
    history = history or History(tmp_path / "times.json", reference=tmp_path / "no-reference.json")
    runner = Runner("test", stages, tmp_path / "logs", history, jobs=jobs, out=out)
    ok = runner.run()
    return ok, runner, out.getvalue()


def test_progress_lines_name_each_stage_with_its_expected_time(tmp_path):
    history = History(tmp_path / "times.json", reference=tmp_path / "reference.json")
    (tmp_path / "reference.json").write_text(json.dumps({"second": 600}))
    (tmp_path / "times.json").write_text(json.dumps({"first": 125}))
    history = History(tmp_path / "times.json", reference=tmp_path / "reference.json")
    ok, _, out = run([Stage("first", sh("true")), Stage("second", sh("true"), after=("first",)),
                      Stage("third", sh("true"), after=("second",))], tmp_path, history=history)
    assert ok, out
    assert "[1/3] first: expected ~2 min 05 s\n" in out
    assert "[2/3] second: expected ~10 min 00 s (cold reference)\n" in out
    assert "[3/3] third: expected time unknown (first run)\n" in out
    assert "[1/3] first: done in 0 s" in out
    # The times measured now are what the next run expects.
    recorded = json.loads((tmp_path / "times.json").read_text())
    assert set(recorded) == {"first", "second", "third"}
    assert recorded["second"] < 5


def test_warnings_of_a_stage_reach_the_terminal(tmp_path):
    ok, _, out = run([Stage("noisy", sh("echo detail >&2; echo 'WARNING: cluster is stale' >&2"))], tmp_path)
    assert ok
    assert "[1/1] noisy: WARNING: cluster is stale" in out
    assert "detail" not in out


def test_stages_in_different_lanes_overlap_and_one_lane_runs_one_at_a_time(tmp_path):
    stages = [Stage("cpu-a", sh("sleep 0.6"), "cpu"), Stage("io-a", sh("sleep 0.6"), "io"),
              Stage("cpu-b", sh("sleep 0.6"), "cpu")]
    start = time.monotonic()
    ok, runner, out = run(stages, tmp_path)
    took = time.monotonic() - start
    assert ok, out
    starts = {r.name: r.started_at for r in runner.results.values()}
    assert abs(starts["cpu-a"] - starts["io-a"]) < 0.5, "different lanes start together"
    assert starts["cpu-b"] - starts["cpu-a"] >= 0.55, "one stage per lane at a time"
    assert 1.1 < took < 2.5, took


def test_one_job_runs_strictly_in_list_order(tmp_path):
    stages = [Stage("a", sh("sleep 0.3"), "cpu"), Stage("b", sh("sleep 0.3"), "io")]
    ok, runner, _ = run(stages, tmp_path, jobs=1)
    assert ok
    assert runner.results["b"].started_at - runner.results["a"].started_at >= 0.28


def test_a_stage_waits_for_the_stages_it_comes_after(tmp_path):
    made = tmp_path / "made"
    stages = [Stage("slow", sh(f"sleep 0.5; echo made > {made}"), "cpu"),
              Stage("needs-it", sh(f"test -f {made}"), "io", after=("slow",))]
    ok, _, out = run(stages, tmp_path)
    assert ok, out


def test_a_stage_still_starting_when_another_fails_is_stopped_too(tmp_path):
    """The race seen under load: the failure's stop_others ran before the other stage's process was
    registered, and that stage then ran to its end."""
    def slow_start(_outputs):
        time.sleep(1.0)  # the failure happens while this stage is being started
        return sh("sleep 30")

    start = time.monotonic()
    ok, runner, out = run([Stage("breaks", sh("exit 3"), "cpu"), Stage("long", slow_start, "io")], tmp_path)
    assert not ok
    assert time.monotonic() - start < 10, f"the stage started after the failure ran on:\n{out}"
    assert runner.results["long"].status == "cancelled", out


def test_a_failure_names_the_stage_shows_its_log_tail_and_stops_the_rest(tmp_path):
    noisy = "{ for i in $(seq 1 100); do echo line $i; done; echo boom; } >&2; exit 3"
    stages = [Stage("breaks", sh(noisy), "cpu"),
              Stage("long", sh("sleep 30"), "io"),
              Stage("after-break", sh("true"), "io", after=("breaks",))]
    start = time.monotonic()
    ok, runner, out = run(stages, tmp_path)
    assert not ok
    assert time.monotonic() - start < 10, "the running stage is stopped, not waited for"
    assert "FAILED: stage 'breaks' exited with status 3" in out
    tail = out.split("the last 40 lines of its log:\n", 1)[1].splitlines()
    assert tail[0] == "  | line 62", tail[:2]
    assert tail[39] == "  | boom", tail[38:41]
    assert f"full log: {tmp_path / 'logs' / 'breaks.log'}" in out
    status = {r.name: r.status for r in runner.results.values()}
    assert status == {"breaks": "failed", "long": "cancelled", "after-break": "cancelled"}
    assert "after-break: expected" not in out, "nothing starts after a failure"


def test_a_command_can_use_what_earlier_stages_printed_or_skip(tmp_path):
    seen = tmp_path / "seen"
    stages = [Stage("images", sh("echo ref/one; echo ref/two")),
              Stage("load", lambda out: ["bash", "-c", f'echo "$@" > {seen}', "-", *out["images"]], after=("images",)),
              Stage("gpu", lambda out: None, after=("images",), skip_reason="no GPU node")]
    ok, runner, out = run(stages, tmp_path)
    assert ok, out
    assert seen.read_text().split() == ["ref/one", "ref/two"]
    assert "[3/3] gpu: skipped (no GPU node)" in out
    assert runner.results["gpu"].status == "skipped"


def test_the_table_and_json_report_every_stage(tmp_path):
    ok, runner, _ = run([Stage("alpha", sh("sleep 0.2"), "cpu"), Stage("beta", sh("exit 1"), "io", after=("alpha",))], tmp_path)
    assert not ok
    table = runner.table()
    assert table.splitlines()[0].split() == ["stage", "lane", "status", "seconds", "time", "expected"]
    assert any(line.split()[:3] == ["alpha", "cpu", "ok"] for line in table.splitlines())
    assert any(line.split()[:3] == ["beta", "io", "failed"] for line in table.splitlines())
    assert table.splitlines()[-1].startswith("wall clock")
    report = runner.report()
    assert [(s["name"], s["status"]) for s in report["stages"]] == [("alpha", "ok"), ("beta", "failed")]
    assert report["ok"] is False
    assert report["wall_seconds"] >= 0.2
    # A run's JSON is also a valid history/reference file.
    path = tmp_path / "run.json"
    path.write_text(json.dumps(report))
    assert History(tmp_path / "x.json", reference=path).expected("alpha")[1] == "cold reference"
    assert "beta" not in History._load(path), "only finished stages are references"
    assert format_table(report["stages"]) == "\n".join(table.splitlines()[:-1])


def test_plans_with_unknown_or_later_dependencies_are_refused(tmp_path):
    with pytest.raises(ValueError, match="'b' comes after \\['c'\\]"):
        Runner("t", [Stage("a", sh("true")), Stage("b", sh("true"), after=("c",)), Stage("c", sh("true"))],
               tmp_path, History(tmp_path / "h.json"))
    with pytest.raises(ValueError, match="unique"):
        Runner("t", [Stage("a", sh("true")), Stage("a", sh("true"))], tmp_path, History(tmp_path / "h.json"))


def test_human_durations():
    assert [human(5), human(89.6), human(125), human(3725)] == ["5 s", "1 min 30 s", "2 min 05 s", "1 h 02 min"]


def test_the_up_plan_is_consistent():
    """The plan of `make up`: unique names, dependencies on earlier stages, every platform image."""
    sys.path.insert(0, str(ROOT / "dev_cluster"))
    import up

    stages = up.plan()
    Runner("up", stages, Path("/nonexistent"), History(Path("/nonexistent/h.json")))  # validates the plan
    names = [s.name for s in stages]
    builders = {p.stem for p in (ROOT / "offline" / "images").glob("*.sh")}
    for builder, _ in up.PLATFORM_IMAGES:
        assert builder in builders, builder
    assert {f"image: {b}" for b, _ in up.PLATFORM_IMAGES} <= set(names)
    assert names[-1] == "pulumi up"


def test_an_interrupt_stops_the_stages_it_started(tmp_path):
    """Stages run in sessions of their own (a Ctrl-C of the terminal must not half-kill a build),
    so the runner itself stops them when it is interrupted, and starts nothing new."""
    import os
    import signal
    import subprocess

    marker = tmp_path / "still-running"
    plan = tmp_path / "plan.py"
    plan.write_text(f"""
import sys
sys.path.insert(0, {str(ROOT / "dev_cluster")!r})
from stages import Stage, run_plan
sys.exit(run_plan("t", [Stage("long", ["bash", "-c", "sleep 2; touch {marker}"], "cpu"),
                        Stage("later", ["bash", "-c", "touch {marker}.later"], "cpu", ("long",))]))
""")
    env = {**os.environ, "MLOPS_CACHE_DIR": str(tmp_path / "cache"), "MLOPS_LOG_DIR": str(tmp_path / "logs")}
    proc = subprocess.Popen([sys.executable, str(plan)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    time.sleep(1)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)
    time.sleep(2)
    assert proc.returncode == 128 + signal.SIGTERM, out
    assert "interrupted by SIGTERM: stopping the running stages" in out
    assert "[1/2] long: stopped after" in out
    assert not marker.exists(), "the running stage was stopped"
    assert not Path(f"{marker}.later").exists(), "nothing new started"
    report = json.loads((tmp_path / "logs" / "stages.json").read_text())
    assert [s["status"] for s in report["stages"]] == ["cancelled", "cancelled"]


def test_the_committed_cold_reference_names_make_ups_stages():
    """dev_cluster/stage-times.cold.json (from `make cold-check`) gives a fresh machine its expected times:
    it must name the stages `make up` runs (a renamed stage would silently lose its expectation)."""
    import up  # dev_cluster/up.py

    reference = json.loads((ROOT / "dev_cluster" / "stage-times.cold.json").read_text())
    names = {stage.name for stage in up.plan()}
    measured = {s["name"] for s in reference["stages"] if s["status"] == "ok"}
    assert measured <= names, f"not stages of make up any more: {sorted(measured - names)}"
    gpu_only = {"image: pipeline-torch", "image load: GPU nodes"}
    assert names - gpu_only <= measured, f"make up stages without a cold reference: {sorted(names - gpu_only - measured)}"
