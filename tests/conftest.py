"""Shared fixtures: an event recorder and a guard that no test leaks process-wide subscribers."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

import pocketflow_ext
from pocketflow_ext.stream import scope


@pytest.fixture
def events() -> Iterator[list[pocketflow_ext.Event]]:
    """Every event of every run during the test, via a process-wide subscriber."""
    seen: list[pocketflow_ext.Event] = []
    unsubscribe = pocketflow_ext.subscribe(seen.append)
    yield seen
    unsubscribe()


@pytest.fixture(autouse=True)
def _no_leaked_subscribers() -> Iterator[None]:
    before = scope.global_subscribers()
    yield
    assert scope.global_subscribers() == before, "a test left a process-wide subscriber behind"


@pytest.fixture
def ext_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Capture records of the ``pocketflow_ext`` logger namespace at DEBUG and above."""
    root = logging.getLogger("pocketflow_ext")
    propagate = root.propagate
    root.propagate = True  # setup_logging/disable_logging turn it off; caplog listens on the root
    caplog.set_level(logging.DEBUG, logger="pocketflow_ext")
    yield caplog
    root.propagate = propagate
