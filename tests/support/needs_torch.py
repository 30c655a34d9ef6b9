"""PyTorch for the tests that need it: its absence fails them (a skip would hide a broken venv)."""

from __future__ import annotations

import types

import pytest


def require_torch() -> types.ModuleType:
    """The torch module of this Python, or the test fails naming the command that installs it."""
    try:
        import torch
    except ImportError:
        pytest.fail("torch is not installed in this Python environment: run `make pipelines-venv`, which "
                    "installs offline/images/pipeline-torch/requirements.lock into .venv-pipelines", pytrace=False)
    return torch
