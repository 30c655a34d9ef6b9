"""The platform's alert rules (infra/monitoring/alert-rules.yml) under Prometheus's own promtool, built from the
pinned Prometheus module (offline/promtool.sh; about ten minutes the first time, cached):
`promtool check rules` accepts them, the unit tests of alert-rules.test.yml pass, every alert has a test where it
fires and one where it stays quiet, and a rule made wrong on purpose fails those tests (they can fail)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "infra" / "monitoring" / "alert-rules.yml"
RULE_TESTS = Path(__file__).with_name("alert-rules.test.yml")
SEVERITIES = {"info", "warning", "critical", "none"}
# Alerts that fire always, by design (a heartbeat): tested firing, with no quiet case.
ALWAYS_FIRING = {"Watchdog"}


@pytest.fixture(scope="module")
def promtool() -> Path:
    built = subprocess.run(["bash", str(ROOT / "offline" / "promtool.sh")], capture_output=True, text=True, check=False)
    assert built.returncode == 0, f"offline/promtool.sh failed:\n{built.stderr[-3000:]}"
    return Path(built.stdout.strip().splitlines()[-1])


def _alerts() -> dict[str, dict]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"] if "alert" in rule}


def test_promtool_accepts_the_rules(promtool):
    checked = subprocess.run([str(promtool), "check", "rules", str(RULES)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(_alerts())} rules found" in checked.stdout, checked.stdout


def test_the_rules_unit_tests_pass(promtool):
    tested = subprocess.run([str(promtool), "test", "rules", str(RULE_TESTS)], capture_output=True, text=True, check=False)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout, tested.stdout


def test_every_alert_has_a_severity_a_summary_and_a_description():
    for name, rule in _alerts().items():
        assert rule.get("labels", {}).get("severity") in SEVERITIES, f"{name}: severity must be one of {sorted(SEVERITIES)}"
        annotations = rule.get("annotations", {})
        assert annotations.get("summary"), f"{name}: needs a summary"
        assert annotations.get("description"), f"{name}: needs a description"


def test_every_alert_is_tested_firing_and_quiet():
    firing, quiet = set(), set()
    for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for case in test.get("alert_rule_test", []):
            (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    alerts = set(_alerts())
    assert alerts <= firing, f"alerts without a test where they fire: {sorted(alerts - firing)}"
    assert alerts - ALWAYS_FIRING <= quiet, f"alerts without a test where they stay quiet: {sorted(alerts - ALWAYS_FIRING - quiet)}"


def test_only_the_watchdog_has_severity_none_and_it_fires_on_nothing():
    """Severity `none` is the heartbeat's (receivers take it only where a stack lists it); its rule reads no series."""
    none = {name: rule for name, rule in _alerts().items() if rule["labels"]["severity"] == "none"}
    assert set(none) == ALWAYS_FIRING
    assert none["Watchdog"]["expr"].strip() == "vector(1)"
    assert "for" not in none["Watchdog"]


@pytest.mark.parametrize(
    ("alert", "wrong"),
    [
        # The model server alert watching the wrong replica count, and the failure ratio the wrong way round.
        ("ModelServerDown", ("kube_deployment_status_replicas_available == 0", "kube_deployment_status_replicas_available == 1")),
        ("PipelineRunsFailing", ('{phase=~"Failed|Error"}', '{phase=~"Succeeded"}')),
    ],
)
def test_a_wrong_rule_fails_the_unit_tests(promtool, tmp_path, alert, wrong):
    old, new = wrong
    text = RULES.read_text()
    assert text.count(old) == 1, f"{old!r} is not in {alert}'s rule once"
    (tmp_path / "alert-rules.yml").write_text(text.replace(old, new))
    tests = yaml.safe_load(RULE_TESTS.read_text())
    tests["rule_files"] = ["alert-rules.yml"]
    (tmp_path / "alert-rules.test.yml").write_text(yaml.safe_dump(tests, sort_keys=False))
    tested = subprocess.run([str(promtool), "test", "rules", "alert-rules.test.yml"], cwd=tmp_path, capture_output=True, text=True, check=False)
    output = tested.stdout + tested.stderr
    assert tested.returncode != 0, f"the unit tests passed with a wrong {alert} rule:\n{output}"
    assert f"alertname: {alert}" in output, output


def test_the_readme_documents_every_alert_with_its_severity():
    """infra/monitoring/README.md's table names each alert of the rules file once, with the rule's severity,
    and no alert the rules no longer have."""
    readme = (RULES.parent / "README.md").read_text()
    rows = {cells[1].strip("` "): cells[2].strip() for line in readme.splitlines()
            if line.startswith("| `") and len(cells := line.split("|")) > 3}
    assert rows == {name: rule["labels"]["severity"] for name, rule in _alerts().items()}
