"""The Python scripts that tests run inside the cluster's pods (or, for the laptop test, on this
machine): files in tests/pod_scripts/, linted like the rest of the code, read here."""

from __future__ import annotations

from pathlib import Path

POD_SCRIPTS = Path(__file__).resolve().parents[1] / "pod_scripts"


def pod_script(name: str) -> str:
    """The text of tests/pod_scripts/<name>.py."""
    path = POD_SCRIPTS / f"{name}.py"
    assert path.is_file(), f"no pod script {path}"
    return path.read_text()
