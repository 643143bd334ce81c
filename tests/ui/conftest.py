"""Databases for the monitor's tests: runs recorded by real pocketflow-ext flows (once per
session, in a subprocess) and a database written by the real PocoFlow 0.2.1 package
(``fixtures/pocoflow-0.2.1.db``, made by ``fixtures/make_pocoflow_db.py``)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from record_runs import record
from store_sql import fresh_database

from pocketflow_ext.runstore.location import is_url

HERE = Path(__file__).resolve().parent
POCOFLOW_DB = HERE / "fixtures" / "pocoflow-0.2.1.db"


def copy_db(source: Path, target: Path) -> Path:
    for suffix in ("", "-wal"):
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")
    return target


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def _recorded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(record(tmp_path_factory.mktemp("recorded") / "runs.db"))
        return
    with fresh_database() as url:
        yield str(record(url))  # type: ignore[arg-type]


@pytest.fixture
def recorded_db(_recorded: str, tmp_path: Path) -> Iterator[str]:
    """A copy of the store of runs recorded by ``record_runs.py``: an SQLite file, or a
    PostgreSQL database made from the recorded one as a template."""
    if is_url(_recorded):
        with fresh_database(template=_recorded) as url:
            yield url
        return
    yield str(copy_db(Path(_recorded), tmp_path / "runs.db"))


@pytest.fixture
def pocoflow_db(tmp_path: Path) -> Path:
    """A copy of a database written by PocoFlow 0.2.1 itself."""
    return copy_db(POCOFLOW_DB, tmp_path / "pocoflow.db")
