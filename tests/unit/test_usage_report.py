"""platform_usage.report without a cluster: its PromQL is valid (promtool parses it as recording rules),
the days it covers, the table, CSV and chart it writes, and a clear error for bad input. The report on
real series: tests/platform/test_usage_report.py."""

from __future__ import annotations

import csv
import datetime as dt
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from platform_usage import report

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 12, 7, 10, 30, tzinfo=dt.UTC)
ROWS = [report.Usage("nlp", dt.date(2026, 12, 6), 1.5, 3.25, 0.0), report.Usage("vision", dt.date(2026, 12, 6), 0.25, 1.0, 2.0),
        report.Usage("nlp", dt.date(2026, 12, 7), 0.5, 0.75, 1.0), report.Usage("vision", dt.date(2026, 12, 7), 0.0, 0.0, 0.0)]


def test_the_queries_are_valid_promql(tmp_path):
    built = subprocess.run(["bash", str(ROOT / "offline" / "promtool.sh")], capture_output=True, text=True, check=False)
    assert built.returncode == 0, f"offline/promtool.sh failed:\n{built.stderr[-3000:]}"
    promtool = built.stdout.strip().splitlines()[-1]
    rules = {"groups": [{"name": "usage", "rules": [
        {"record": f"usage:{measure}", "expr": expr} for measure, expr in report.queries(["research-nlp", "research-vision"], 86400).items()]}]}
    path = tmp_path / "usage.yml"
    path.write_text(yaml.safe_dump(rules))
    checked = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    rules["groups"][0]["rules"][0]["expr"] += ")"
    path.write_text(yaml.safe_dump(rules))
    assert subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, check=False).returncode != 0


def test_the_queries_read_the_groups_namespaces_and_running_gpu_pods_only():
    found = report.queries(["research-vision", "research-nlp"], 3600)
    assert all('namespace=~"research-nlp|research-vision"' in expr for expr in found.values())
    assert '[3600s' in found["cpu_hours"]
    assert '[3600s:30s]' in found["gpu_hours"], "held GPUs sampled every 30 s"
    assert 'resource="nvidia_com_gpu"' in found["gpu_hours"]
    assert 'phase="Running"' in found["gpu_hours"]


def test_days_end_today_at_now_and_are_utc_days():
    spans = report.days(3, NOW)
    assert [day.isoformat() for day, _, _ in spans] == ["2026-12-05", "2026-12-06", "2026-12-07"]
    assert spans[0][1] == dt.datetime(2026, 12, 5, tzinfo=dt.UTC)
    assert spans[0][2] == dt.datetime(2026, 12, 6, tzinfo=dt.UTC)
    assert spans[-1][2] == NOW, "today counts up to now"
    with pytest.raises(report.ReportError, match="give 1 or more"):
        report.days(0, NOW)


def test_the_table_and_the_csv_hold_every_group_and_day(tmp_path):
    text = report.table(ROWS)
    assert text.splitlines()[0].split() == ["day", "research", "group", "CPU-hours", "memory", "GiB-hours", "GPU-hours"]
    assert "2026-12-06  vision                     0.250             1.000      2.000" in text
    report.write_csv(ROWS, tmp_path / "usage.csv")
    with (tmp_path / "usage.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["day"], r["tenant"], r["gpu_hours"]) for r in rows] == [
        ("2026-12-06", "nlp", "0.0"), ("2026-12-06", "vision", "2.0"), ("2026-12-07", "nlp", "1.0"), ("2026-12-07", "vision", "0.0")]


def test_the_chart_draws_a_bar_per_group_day_and_measure_scaled_to_the_highest():
    root = ET.fromstring(report.svg(ROWS))  # noqa: S314 - the chart this test just made
    ns = "{http://www.w3.org/2000/svg}"
    bars = [rect for rect in root.iter(f"{ns}rect") if rect.find(f"{ns}title") is not None]
    assert len(bars) == 2 * 2 * 3
    heights = {bar.find(f"{ns}title").text: float(bar.get("height")) for bar in bars}
    # Each panel's highest bar is 200 px: GPU-hours, vision's 2.0 on 12-06, and nlp's 1.0 on 12-07 half of it.
    assert heights["vision 2026-12-06 GPU-hours: 2.000"] == pytest.approx(200.0)
    assert heights["nlp 2026-12-07 GPU-hours: 1.000"] == pytest.approx(100.0)
    assert heights["vision 2026-12-07 GPU-hours: 0.000"] == 0.0
    assert heights["nlp 2026-12-06 memory GiB-hours: 3.250"] == pytest.approx(200.0)
    legend = [text.text for text in root.iter(f"{ns}text")]
    assert "3.25" in legend, "values are labelled with three significant digits"
    assert report.svg([report.Usage("nlp", dt.date(2026, 12, 7), 0.0004, 0.0, 0.0)]).count(">0.0004<") == 1, \
        "a small value is not rounded to 0"
    assert "nlp" in legend
    assert "vision" in legend


def test_an_unreachable_prometheus_is_an_error_message_not_a_traceback(capsys, tmp_path):
    code = report.main(["--prometheus", "http://127.0.0.1:9", "--output", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Prometheus at http://127.0.0.1:9 did not answer query"), err
    assert not (tmp_path / "usage.csv").exists(), "nothing written"
