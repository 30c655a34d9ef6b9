"""Fixtures of the unit tests."""

from __future__ import annotations

import pytest

from tests.support.pulumi_mocks import RecordingMocks, install_mocks


@pytest.fixture
def mocks() -> RecordingMocks:
    """Pulumi's mocks, recording every resource the program declares."""
    return install_mocks()
