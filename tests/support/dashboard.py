"""The deployed dashboard (platform_dashboard/, the Monitoring component's Service `dashboard`) in a
real browser: Debian's chromium, headless, through `kubectl port-forward`. `look` opens the page,
takes a screenshot and counts, panel by panel, the pixels of the series' colours inside the panel's
chart: a panel whose data-series says 3 but whose chart is blank on the screen counts 0."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from infra.components.monitoring import DASHBOARD_PORT, DASHBOARD_SERVICE
from platform_dashboard.server import PALETTE
from tests.support import webdriver
from tests.support.cluster import wait_for
from tests.support.platform import CFG, port_forward

SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
# The browser window: the page's three columns of panels and its alerts fit without scrolling.
WINDOW = (1440, 1700)
_PANELS_JS = """return Array.from(document.querySelectorAll('section.panel')).map(section => {
  const svg = section.querySelector('svg'); const box = svg ? svg.getBoundingClientRect() : null;
  return {title: section.querySelector('h2').firstChild.textContent.trim(), series: section.dataset.series,
          text: section.innerText, box: box ? [box.left, box.top, box.width, box.height] : null};
});"""


@dataclass(frozen=True)
class Seen:
    series: str  # the panel's data-series: a count, or "error"
    pixels: int  # pixels of the series' colours in its chart on the screenshot
    text: str


def _rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def look(screenshot: Path, ready: tuple[str, ...] = (), min_pixels: int = 1, hours: int = 1,
         timeout: int = 120) -> tuple[dict[str, Seen], str]:
    """Opens the deployed dashboard through a port-forward; see look_at."""
    with port_forward(CFG.monitoring.namespace, DASHBOARD_SERVICE, DASHBOARD_PORT) as port:
        return look_at(f"http://127.0.0.1:{port}/?hours={hours}", screenshot, ready, min_pixels, timeout)


def look_at(url: str, screenshot: Path, ready: tuple[str, ...] = (), min_pixels: int = 1,
            timeout: int = 120) -> tuple[dict[str, Seen], str]:
    """Opens the dashboard at `url`, reloading (every 10 s, up to `timeout`) until every panel of `ready`
    has series and at least `min_pixels` of them on the screen (a series' first sample is a dot, later
    ones a line); saves the last screenshot and returns what each panel shows, with the page's text."""
    absent = webdriver.missing()
    if absent:
        pytest.fail(f"LOUD FAILURE: the dashboard test needs {', '.join(absent)}: apt-get install chromium chromium-driver "
                    "(offline/browser.sh)")
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    with webdriver.Browser(*WINDOW) as browser:
        def drawn():
            browser.open(url)
            seen = _seen(browser, browser.screenshot(screenshot))
            done = all(title in seen and seen[title].series not in ("0", "error") and seen[title].pixels >= min_pixels
                       for title in ready)
            return done, {title: (panel.series, panel.pixels) for title, panel in seen.items()}

        wait_for(f"the dashboard drawing {', '.join(ready) or 'its page'}", drawn, timeout=timeout, interval=10)
        return _seen(browser, screenshot), browser.text()


def _seen(browser: webdriver.Browser, shot: Path) -> dict[str, Seen]:
    """Per panel of the page open in `browser`: its data-series and the series' pixels in `shot`, its screenshot."""
    panels = browser.run(_PANELS_JS)
    ratio = float(browser.run("return window.devicePixelRatio;") or 1)
    image = Image.open(shot).convert("RGB")
    # The grey of the palette is left out: the axis labels' anti-aliased edges have pixels of it.
    colors = {_rgb(color) for color in PALETTE if color != "#7f7f7f"}
    seen = {}
    for panel in panels:
        pixels = 0
        if panel["box"]:
            left, top, width, height = (round(v * ratio) for v in panel["box"])
            chart = image.crop((left, top, left + width, top + height))
            pixels = sum(count for count, color in chart.getcolors(maxcolors=width * height) or [] if color in colors)
        seen[panel["title"]] = Seen(panel["series"], pixels, panel["text"])
    return seen
