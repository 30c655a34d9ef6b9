"""The test cluster in $KUBECONFIG (`make cluster`, or `make test`'s throwaway one): kubectl, the
nodes, and waiting with the last state seen."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOL_IMAGE = "mlops.local/local-path-helper:bookworm"  # preloaded Debian image with bash, getent, nc


def kubeconfig() -> str:
    path = os.environ.get("KUBECONFIG", "")
    assert Path(path or "/nonexistent").is_file(), "KUBECONFIG must point at the local cluster: run `make cluster` first"
    return path


def kubectl(*args: str, stdin: str | None = None, check: bool = True, timeout: int = 120,
            capture_stderr: bool = False) -> str:
    """kubectl against the test cluster; with capture_stderr, stderr is returned after stdout."""
    result = subprocess.run(["kubectl", "--kubeconfig", kubeconfig(), *args], input=stdin, capture_output=True,
                            text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout + (result.stderr if capture_stderr else "")


def wait_for(what: str, probe, timeout: int = 180, interval: float = 3):
    """Poll `probe` (returns (done, state)) until done; on timeout report the last state seen."""
    deadline, state = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        done, state = probe()
        if done:
            return state
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}; last state: {state}")


def nodes() -> list[dict]:
    return json.loads(kubectl("get", "nodes", "-o", "json"))["items"]
