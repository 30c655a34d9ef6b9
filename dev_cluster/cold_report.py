"""The report of `make cold-check` (dev_cluster/cold-check.sh): written from the steps' rows and
`make up`'s stage times, and shown as tables at the end.

usage:
  cold_report.py write ROWS UP_STAGES_JSON REPORT OUTCOME PEAK_MB COMMIT
      ROWS: one line per step, `name<TAB>lane<TAB>status<TAB>seconds`; UP_STAGES_JSON: what
      `make up` wrote (MLOPS_STAGES_JSON), absent when it did not get that far
  cold_report.py show REPORT
"""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stages import format_table, human


def build(rows_text: str, up: dict | None, outcome: str, peak_mb: int, commit: str) -> dict:
    rows = []
    for line in rows_text.splitlines():
        name, lane, status, seconds = line.split("\t")
        rows.append({"name": name, "lane": lane, "status": status, "seconds": float(seconds)})
    return {"commit": commit, "host": platform.node(), "cores": os.cpu_count(), "outcome": outcome,
            "peak_disk_gb": round(peak_mb / 1024, 1), "steps": rows,
            "up": up if up is not None else {"stages": [], "wall_seconds": None}}


def show(report: dict, path: str) -> str:
    up, steps = report["up"], report["steps"]
    cold = sum(s["seconds"] for s in steps if s["name"] in ("make venv", "make up"))
    return "\n".join([
        f"\n[cold-check] {report['outcome']} on {report['host']} ({report['cores']} cores), commit {report['commit'][:12]}; "
        f"peak disk {report['peak_disk_gb']} GB",
        "[cold-check] make up's stages:", format_table(up["stages"], up["wall_seconds"]),
        "[cold-check] steps:", format_table(steps),
        f"[cold-check] cold make venv + make up: {human(cold)}; everything: {human(sum(s['seconds'] for s in steps))}",
        f"[cold-check] report: {path}"])


def main(argv: list[str]) -> int:
    if len(argv) == 7 and argv[0] == "write":
        rows, up_path, report, outcome, peak_mb, commit = argv[1:]
        up = json.loads(Path(up_path).read_text()) if Path(up_path).exists() else None
        Path(report).write_text(json.dumps(build(Path(rows).read_text(), up, outcome, int(peak_mb), commit), indent=1))
    elif len(argv) == 2 and argv[0] == "show":
        print(show(json.loads(Path(argv[1]).read_text()), argv[1]))
    else:
        sys.exit("usage:" + __doc__.split("usage:", 1)[1].rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
