"""A real browser for the tests: Debian's chromium, headless, driven by chromedriver over the W3C
WebDriver protocol (JSON over HTTP, https://www.w3.org/TR/webdriver2/), with no client library.

    with Browser() as browser:
        browser.open("http://localhost:4180/")
        browser.type("#login", "alice@example.edu")
        browser.click("#submit-login")
        browser.screenshot(path)

Both programs must be installed (`apt-get install chromium chromium-driver`); `missing()` names
what is not, for a test's loud skip or failure.
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C key of an element reference


def missing() -> list[str]:
    return [program for program in ("chromium", "chromedriver") if not shutil.which(program)]


class WebDriverError(RuntimeError):
    pass


class Browser:
    def __init__(self, width: int = 1400, height: int = 900) -> None:
        self._size = (width, height)
        self._driver: subprocess.Popen | None = None
        self._base = ""
        self._session = ""

    def __enter__(self) -> Browser:
        absent = missing()
        if absent:
            raise WebDriverError(f"not installed: {', '.join(absent)} (apt-get install chromium chromium-driver)")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self._driver = subprocess.Popen(["chromedriver", f"--port={port}"], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        self._base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                self._call("GET", "/status")
                break
            except (OSError, WebDriverError):
                if time.monotonic() > deadline:
                    raise WebDriverError("chromedriver did not answer within 30 s") from None
                time.sleep(0.2)
        width, height = self._size
        answer = self._call("POST", "/session", {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": shutil.which("chromium"), "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}"]},
        }}})
        self._session = answer.get("sessionId") or answer["value"]["sessionId"]
        return self

    def __exit__(self, *_exc) -> None:
        try:
            if self._session:
                self._call("DELETE", f"/session/{self._session}")
        finally:
            if self._driver:
                self._driver.terminate()
                self._driver.wait(timeout=30)

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self._base + path, data=data, method=method,  # noqa: S310 (localhost)
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 (chromedriver on localhost)
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            detail = json.loads(error.read() or b"{}").get("value", {})
            raise WebDriverError(f"{method} {path}: {detail.get('error')}: {detail.get('message', '')[:500]}") from None

    def _session_call(self, method: str, path: str, body: dict | None = None):
        return self._call(method, f"/session/{self._session}{path}", body).get("value")

    def open(self, url: str) -> None:
        self._session_call("POST", "/url", {"url": url})

    @property
    def url(self) -> str:
        return self._session_call("GET", "/url")

    @property
    def title(self) -> str:
        return self._session_call("GET", "/title")

    def text(self) -> str:
        """The page's visible text."""
        return self.run("return document.body ? document.body.innerText : '';")

    def find(self, css: str, timeout: float = 30) -> str:
        """The element reference of the first match of `css`, waiting for it to appear."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self._session_call("POST", "/element", {"using": "css selector", "value": css})[ELEMENT]
            except WebDriverError:
                if time.monotonic() > deadline:
                    raise WebDriverError(f"no element {css!r} on {self.url} within {timeout:.0f} s; "
                                         f"the page says: {self.text()[:400]!r}") from None
                time.sleep(0.3)

    def type(self, css: str, text: str) -> None:
        self._session_call("POST", f"/element/{self.find(css)}/value", {"text": text})

    def click(self, css: str) -> None:
        self._session_call("POST", f"/element/{self.find(css)}/click", {})

    def run(self, script: str, *args):
        """Runs JavaScript in the page (a function body; `return` gives its value)."""
        return self._session_call("POST", "/execute/sync", {"script": script, "args": list(args)})

    def run_async(self, script: str, *args):
        """Runs JavaScript that calls its last argument (the callback) with the result."""
        return self._session_call("POST", "/execute/async", {"script": script, "args": list(args)})

    def wait_until(self, what: str, condition, timeout: float = 60):
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                raise WebDriverError(f"{what}: not within {timeout:.0f} s; at {self.url}, the page says: "
                                     f"{self.text()[:400]!r}")
            time.sleep(0.5)

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self._session_call("GET", "/screenshot")))
        return path
