"""Run a build as named stages a person can follow, and time them.

Each stage is a command. Its output goes to a log file of its own; the terminal shows
`[k/n] name: expected ~T` when it starts (T: the stage's last measured time, kept in the cache, or
the committed reference from the last cold check when this machine has none), its elapsed time when
it ends, and, every minute, which stages are still running; a stage's WARNING lines come through
too. A failed stage is named with its exit status, the last 40 lines of its log and the log's path;
stages still running are stopped and no new one starts. The run ends with a table of every stage's duration, also written as JSON.

Stages run in list order, at most one per lane at a time: a lane is a kind of work that would only
slow itself down if doubled (`cpu`: Go compiles; `io`: downloads, package installs and image
builds). A stage starts when the stages it names in `after` have succeeded. With MLOPS_BUILD_JOBS=1
everything runs one stage at a time, in list order.

The plans themselves live with their commands (dev_cluster/up.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

TAIL_LINES = 40
HEARTBEAT_SECONDS = 60
REFERENCE_TIMES = Path(__file__).resolve().parent / "stage-times.cold.json"


@dataclass
class Stage:
    """One step of a plan. `command` is an argv, or a function of the finished stages' stdout
    lines (by stage name) returning one, for a stage that consumes what earlier ones printed;
    returning None skips the stage, with `skip_reason`."""

    name: str
    command: Sequence[str] | Callable[[dict[str, list[str]]], Sequence[str] | None]
    lane: str = "io"
    after: tuple[str, ...] = ()
    skip_reason: str = ""


@dataclass
class Result:
    name: str
    lane: str
    status: str = "pending"  # pending, running, ok, failed, skipped, cancelled
    seconds: float = 0.0
    started_at: float = 0.0
    expected: float | None = None
    expected_source: str = ""
    log: str = ""
    stdout: list[str] = field(default_factory=list)
    exit_code: int | None = None


def cache_dir() -> Path:
    base = os.environ.get("MLOPS_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache"), "mlops-platform")
    return Path(base)


def human(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    seconds = round(seconds)
    if seconds < 90:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    return f"{minutes} min {rest:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


class History:
    """Last measured seconds per stage name, in the cache; the committed cold reference besides."""

    def __init__(self, path: Path, reference: Path = REFERENCE_TIMES):
        self.path = path
        self.times = self._load(path)
        self.reference = self._load(reference)

    @staticmethod
    def _load(path: Path) -> dict[str, float]:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        if isinstance(data, dict) and isinstance(data.get("stages"), list):  # a run's JSON
            return {s["name"]: s["seconds"] for s in data["stages"] if s.get("status") == "ok"}
        return {k: float(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def expected(self, name: str) -> tuple[float | None, str]:
        if name in self.times:
            return self.times[name], "last run"
        if name in self.reference:
            return self.reference[name], "cold reference"
        return None, "first run"

    def record(self, results: Sequence[Result]) -> None:
        for result in results:
            if result.status == "ok":
                self.times[result.name] = round(result.seconds, 1)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.times, indent=1, sort_keys=True) + "\n")
        tmp.replace(self.path)


class Runner:
    def __init__(self, title: str, stages: Sequence[Stage], log_dir: Path, history: History,
                 jobs: int = 2, env: dict[str, str] | None = None, out=sys.stdout):
        names = [s.name for s in stages]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise ValueError(f"stage names must be unique: {sorted(duplicates)}")
        for stage in stages:
            unknown = [a for a in stage.after if a not in names[:names.index(stage.name)]]
            if unknown:
                raise ValueError(f"stage {stage.name!r} comes after {unknown}, which are not earlier stages of the plan")
        self.title, self.stages, self.log_dir, self.history = title, list(stages), log_dir, history
        self.jobs, self.env, self.out = max(1, jobs), env, out
        self.results = {s.name: Result(s.name, s.lane) for s in stages}
        self.lock = threading.Lock()
        self.procs: dict[str, subprocess.Popen] = {}
        self.failed: Result | None = None
        self.wall = 0.0

    def say(self, text: str) -> None:
        with self.lock:
            print(text, file=self.out, flush=True)

    def index(self, name: str) -> str:
        return f"[{[s.name for s in self.stages].index(name) + 1}/{len(self.stages)}]"

    # --- running ---------------------------------------------------------------------------
    def interrupt(self, signum: int, _frame) -> None:
        """SIGINT/SIGTERM: the stages run in sessions of their own, so they are stopped here (a
        docker build's client going away cancels the build), and nothing new starts."""
        if self.failed is None:
            self.failed = Result(f"interrupted by {signal.Signals(signum).name}", "-", status="failed",
                                 exit_code=128 + signum)
            self.say(f"[{self.title}] {self.failed.name}: stopping the running stages")
            self.stop_others("")

    def run(self) -> bool:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, self.interrupt)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.say(f"[{self.title}] {len(self.stages)} stages, up to {self.jobs} at a time (one per lane); "
                 f"logs in {self.log_dir}")
        start = time.monotonic()
        threads: list[threading.Thread] = []
        last_beat = start
        while True:
            with self.lock:
                pending = [s for s in self.stages if self.results[s.name].status == "pending"]
                running = [s for s in self.stages if self.results[s.name].status == "running"]
            if not pending and not running:
                break
            if self.failed is None:
                for stage in self.ready(pending, running):
                    running.append(stage)
                    self.results[stage.name].status = "running"
                    thread = threading.Thread(target=self.run_stage, args=(stage,), daemon=True)
                    threads.append(thread)
                    thread.start()
            elif not running:
                for stage in pending:
                    self.results[stage.name].status = "cancelled"
                break
            if time.monotonic() - last_beat >= HEARTBEAT_SECONDS:
                last_beat = time.monotonic()
                self.heartbeat()
            time.sleep(0.2)
        for thread in threads:
            thread.join()
        self.wall = time.monotonic() - start
        self.history.record(list(self.results.values()))
        return self.failed is None

    def ready(self, pending: list[Stage], running: list[Stage]) -> list[Stage]:
        busy_lanes = {s.lane for s in running}
        chosen: list[Stage] = []
        for stage in pending:
            if len(running) + len(chosen) >= self.jobs:
                break
            if stage.lane in busy_lanes:
                continue
            states = [self.results[a].status for a in stage.after]
            if any(state in ("failed", "cancelled") for state in states):
                self.results[stage.name].status = "cancelled"
                continue
            if all(state in ("ok", "skipped") for state in states):
                chosen.append(stage)
                busy_lanes.add(stage.lane)
            if self.jobs == 1:
                break  # strictly in list order
        return chosen

    def run_stage(self, stage: Stage) -> None:
        result = self.results[stage.name]
        result.expected, result.expected_source = self.history.expected(stage.name)
        result.log = str(self.log_dir / f"{slug(stage.name)}.log")
        command = stage.command
        if callable(command):
            with self.lock:
                outputs = {r.name: r.stdout for r in self.results.values() if r.status in ("ok", "skipped")}
            command = command(outputs)
        if command is None:
            result.status = "skipped"
            self.say(f"{self.index(stage.name)} {stage.name}: skipped ({stage.skip_reason})")
            return
        if result.expected is None:
            expectation = "expected time unknown (first run)"
        else:
            source = f" ({result.expected_source})" if result.expected_source != "last run" else ""
            expectation = f"expected ~{human(result.expected)}{source}"
        self.say(f"{self.index(stage.name)} {stage.name}: {expectation}")
        result.started_at = time.monotonic()
        with open(result.log, "w") as log:
            log.write(f"$ {' '.join(command)}\n")
            log.flush()
            try:
                proc = subprocess.Popen(list(command), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        errors="replace", env=self.env, start_new_session=True)
            except OSError as error:
                log.write(f"cannot start: {error}\n")
                self.finish(stage, result, 127)
                return
            with self.lock:
                self.procs[stage.name] = proc
            # A stage that failed while this one was starting may have stopped the others before
            # this one was registered (seen under load): registered first, then checked, so that
            # either stop_others sees this process or this check sees the failure.
            if self.failed is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
            # Both streams into the log in the order they arrive; stdout is also the stage's result.
            log_lock = threading.Lock()

            def copy(stream, keep: bool) -> None:
                for line in stream:
                    with log_lock:
                        log.write(line)
                        log.flush()
                    if keep:
                        result.stdout.append(line.rstrip("\n"))
                    elif "WARNING" in line:  # what a person must see comes through
                        self.say(f"{self.index(stage.name)} {stage.name}: {line.rstrip()}")

            errors = threading.Thread(target=copy, args=(proc.stderr, False), daemon=True)
            errors.start()
            copy(proc.stdout, True)
            errors.join()
            code = proc.wait()
        with self.lock:
            self.procs.pop(stage.name, None)
        self.finish(stage, result, code)

    def finish(self, stage: Stage, result: Result, code: int) -> None:
        result.seconds = time.monotonic() - result.started_at
        result.exit_code = code
        if code == 0:
            result.status = "ok"
            self.say(f"{self.index(stage.name)} {stage.name}: done in {human(result.seconds)}")
            return
        if self.failed is not None:  # stopped because another stage failed or an interrupt
            result.status = "cancelled"
            self.say(f"{self.index(stage.name)} {stage.name}: stopped after {human(result.seconds)}")
            return
        result.status = "failed"
        self.failed = result
        self.say(self.failure_report(result))
        self.stop_others(stage.name)

    def failure_report(self, result: Result) -> str:
        if not result.log:  # interrupted: no stage of its own
            return f"[{self.title}] FAILED: {result.name}"
        try:
            lines = Path(result.log).read_text(errors="replace").splitlines()[-TAIL_LINES:]
        except OSError:
            lines = ["(no log)"]
        body = "\n".join(f"  | {line}" for line in lines)
        return (f"[{self.title}] FAILED: stage '{result.name}' exited with status {result.exit_code} after "
                f"{human(result.seconds)}; the last {len(lines)} lines of its log:\n{body}\n"
                f"[{self.title}] full log: {result.log}")

    def stop_others(self, failed: str) -> None:
        with self.lock:
            procs = [(n, p) for n, p in self.procs.items() if n != failed]
        for name, proc in procs:
            self.say(f"[{self.title}] stopping '{name}'")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)

    def heartbeat(self) -> None:
        now = time.monotonic()
        parts = []
        for result in self.results.values():
            if result.status != "running" or not result.started_at:
                continue
            last = ""
            try:
                tail = Path(result.log).read_text(errors="replace").splitlines()[-1:]
                last = tail[0].strip()[:80] if tail else ""
            except OSError:
                pass
            of = f" of ~{human(result.expected)}" if result.expected is not None else ""
            parts.append(f"{result.name} {human(now - result.started_at)}{of}" + (f" (log: {last})" if last else ""))
        if parts:
            self.say(f"[{self.title}] still running: " + "; ".join(parts))

    # --- reporting -------------------------------------------------------------------------
    def table(self) -> str:
        return format_table([vars(r) for r in self.results.values()], self.wall)

    def report(self) -> dict:
        return {
            "title": self.title,
            "host": platform.node(),
            "cores": os.cpu_count(),
            "jobs": self.jobs,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "wall_seconds": round(self.wall, 1),
            "ok": self.failed is None,
            "stages": [{"name": r.name, "lane": r.lane, "status": r.status, "seconds": round(r.seconds, 1),
                        "expected": r.expected, "log": r.log} for r in self.results.values()],
        }


def format_table(rows: Sequence[dict], wall: float | None = None) -> str:
    """The stage table: name, lane, status, seconds, human time, and the expectation it had."""
    width = max([len(r["name"]) for r in rows] + [len("stage")])
    lines = [f"{'stage':<{width}}  {'lane':<4}  {'status':<9}  {'seconds':>7}  {'time':>12}  {'expected':>12}"]
    for r in rows:
        taken = r["seconds"] if r["status"] in ("ok", "failed") else None
        expected = human(r.get("expected")) if r.get("expected") is not None else "-"
        lines.append(f"{r['name']:<{width}}  {r['lane']:<4}  {r['status']:<9}  "
                     f"{(f'{taken:.0f}' if taken is not None else '-'):>7}  {(human(taken) if taken is not None else '-'):>12}  {expected:>12}")
    if wall is not None:
        busy = sum(r["seconds"] for r in rows if r["status"] in ("ok", "failed"))
        lines.append(f"{'wall clock':<{width}}  {'':<4}  {'':<9}  {wall:>7.0f}  {human(wall):>12}  "
                     f"(stages' sum {human(busy)})")
    return "\n".join(lines)


def run_plan(title: str, stages: Sequence[Stage], env: dict[str, str] | None = None, epilogue: str = "") -> int:
    """Run a plan with the standard log folder, history and reports; the exit status for main().
    When it succeeds, what the stage named `epilogue` printed on stdout comes last."""
    cache = cache_dir()
    log_dir = Path(os.environ.get("MLOPS_LOG_DIR") or cache / "logs" / f"{title}-{time.strftime('%Y%m%dT%H%M%S')}")
    jobs = int(os.environ.get("MLOPS_BUILD_JOBS", "2"))
    runner = Runner(title, stages, log_dir, History(cache / "stage-times.json"), jobs=jobs, env=env)
    ok = runner.run()
    report = runner.report()
    (log_dir / "stages.json").write_text(json.dumps(report, indent=1) + "\n")
    extra = os.environ.get("MLOPS_STAGES_JSON")
    if extra:
        Path(extra).write_text(json.dumps(report, indent=1) + "\n")
    print(f"\n[{title}] stage times ({report['cores']} cores; {'done' if ok else 'FAILED'}):\n{runner.table()}\n"
          f"[{title}] as JSON: {log_dir / 'stages.json'}", flush=True)
    if not ok:
        print(runner.failure_report(runner.failed), flush=True)
    elif epilogue:
        print("\n".join(runner.results[epilogue].stdout), flush=True)
    if not ok and runner.failed.name.startswith("interrupted"):
        return runner.failed.exit_code
    return 0 if ok else 1


if __name__ == "__main__":
    # `stages.py table FILE...`: the table of runs written earlier.
    if len(sys.argv) >= 3 and sys.argv[1] == "table":
        for path in sys.argv[2:]:
            data = json.loads(Path(path).read_text())
            print(f"{data['title']} ({path}):\n{format_table(data['stages'], data['wall_seconds'])}")
        sys.exit(0)
    sys.exit(__doc__.strip().splitlines()[0] + "\nusage: stages.py table FILE...")
