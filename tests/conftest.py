"""Shared fixtures: an event recorder, a guard that no test leaks process-wide subscribers,
a fresh PostgreSQL database per test, and ``run_store_url``: the same test on both stores."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from store_sql import fresh_database

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


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL database, dropped after the test.

    The server comes from ``$POCKETFLOW_EXT_TEST_PG_URL`` (``.ci/run`` starts one with
    ``.ci/postgres``). Without it the test is skipped with a message; in CI it fails.
    """
    with fresh_database() as url:
        yield url


@pytest.fixture(scope="module")
def module_postgres_url() -> Iterator[str]:
    """``postgres_url`` shared by the tests of one module (data recorded once, read often)."""
    with fresh_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def run_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a test records its runs, once per store: an SQLite file in ``tmp_path``, then
    a fresh PostgreSQL database (skipped without a server, failed in CI; see
    ``postgres_url``). Use it wherever a test passes a db_path."""
    if request.param == "sqlite":
        return str(tmp_path / "runs.db")
    return str(request.getfixturevalue("postgres_url"))
