"""docs/report.md is what docs/report/generate.py makes of the recorded measurements: regenerating
it from docs/report/data/ gives the committed text and the plots."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "docs" / "report" / "data"

pytestmark = pytest.mark.unit


def test_the_report_is_regenerated_from_the_recorded_measurements(tmp_path):
    from docs.report.generate import SOURCES, render

    missing = [name for name in SOURCES if not (DATA / name).exists()]
    assert not missing, f"docs/report/data lacks {', '.join(missing)}: run `make report` after `make up`"
    report = render(tmp_path)
    committed = ROOT / "docs" / "report.md"
    assert report.read_text() == committed.read_text(), \
        "docs/report.md differs from what the recorded data gives: run `.venv/bin/python docs/report/generate.py`"
    for plot in ("overhead.png", "bench.png", "resources.png"):
        produced = tmp_path / "report" / plot
        assert produced.stat().st_size > 5000, f"{plot} is empty"
        assert (ROOT / "docs" / "report" / plot).exists(), f"docs/report/{plot} is not committed"


def test_a_missing_measurement_names_the_command_that_makes_it(tmp_path, monkeypatch):
    from docs.report import generate

    monkeypatch.setattr(generate, "DATA", tmp_path)
    with pytest.raises(SystemExit, match=r"smoke.json is missing: measure it with `MLOPS_MEASUREMENTS_DIR="):
        generate.render(tmp_path)
