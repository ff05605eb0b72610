"""Shared helpers for the observability tests: a settable clock, and Chromium for the status page."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

T0 = 1_700_000_000.0


class FakeClock:
    """Wall-clock seconds that move only when the test says so."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def at(self, offset: float) -> FakeClock:
        self.now = T0 + offset
        return self


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium (scripts/install-servers installs it); missing, it skips locally and fails under CI."""
    for candidate in (os.environ.get("CASSANDRA_CDC_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and (found := shutil.which(candidate)):
            return Path(found)
    message = "chromium not found (run scripts/install-servers, or set CASSANDRA_CDC_CHROMIUM)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
