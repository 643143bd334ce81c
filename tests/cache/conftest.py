"""Cache tests: entries go to a file in tmp_path, and time is a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pocketflow_ext.cache import lookup


@pytest.fixture(autouse=True)
def cache_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The default cache database of the test (``$POCKETFLOW_EXT_CACHE_DB``)."""
    path = tmp_path / "cache.db"
    monkeypatch.setenv("POCKETFLOW_EXT_CACHE_DB", str(path))
    return path


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    """Replaces the cache's clock (``lookup.clock``): entry times and TTLs follow it."""
    fake = Clock()
    monkeypatch.setattr(lookup, "clock", fake)
    yield fake
