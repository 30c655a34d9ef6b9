"""Fixtures shared by the render tests of the local Helm charts."""

import os
import shutil
from pathlib import Path

import pytest

TOOLCHAIN_HELM = Path.home() / ".cache" / "mlops-platform" / "bin" / "helm"


@pytest.fixture(scope="session")
def helm() -> str:
    """Path of the helm binary: $MLOPS_HELM, else helm on PATH, else the toolchain's copy.

    A missing helm fails the tests instead of skipping them, so that a chart is never reported
    as tested when it was not rendered.
    """
    override = os.environ.get("MLOPS_HELM")
    if override:
        if not os.access(override, os.X_OK):
            pytest.fail(f"MLOPS_HELM={override} is not an executable file")
        return override
    on_path = shutil.which("helm")
    if on_path:
        return on_path
    if os.access(TOOLCHAIN_HELM, os.X_OK):
        return str(TOOLCHAIN_HELM)
    pytest.fail(
        f"helm not found on PATH or at {TOOLCHAIN_HELM}: run `make tools` to build the pinned toolchain, or set MLOPS_HELM to a helm binary"
    )
