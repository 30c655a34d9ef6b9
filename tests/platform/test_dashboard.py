"""The dashboard (platform_dashboard/server.py, deployed by the Monitoring component) on the kind
cluster, opened in a real headless browser: the page shows every panel, none in error, and the
platform's own panels draw their series on the screen (build/screenshots/dashboard.png). The smoke
test looks at it again after its run: the research group's and its model server's panels
(smoke_tests/test_smoke.py)."""

from __future__ import annotations

import pytest

from platform_dashboard.server import PANELS
from tests.support.dashboard import SCREENSHOTS, look
from tests.support.platform import CFG

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not CFG.monitoring.enabled, reason="LOUD SKIP: monitoring.enabled is false")]
# Panels with data on any running platform: Prometheus scrapes its targets and the platform's pods use CPU.
ALWAYS = ("Scrape targets up by job", "CPU by namespace")


def test_the_dashboard_draws_the_platforms_charts_in_a_real_browser():
    seen, text = look(SCREENSHOTS / "dashboard.png", ready=ALWAYS, min_pixels=100)
    assert set(seen) == {panel.title for panel in PANELS}
    assert not [title for title, panel in seen.items() if panel.series == "error"], \
        {title: panel.text for title, panel in seen.items() if panel.series == "error"}
    for title in ALWAYS:
        assert seen[title].pixels >= 100, f"{title}: {seen[title].series} series, but {seen[title].pixels} pixels of them on the screen"
    assert "prometheus: 1 targets" in seen["Scrape targets up by job"].text
    assert "Alerts" in text
