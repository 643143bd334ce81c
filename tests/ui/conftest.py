"""Databases for the monitor's tests: runs recorded by real pocketflow-ext flows (once per
session, in a subprocess) and a database written by the real PocoFlow 0.2.1 package
(``fixtures/pocoflow-0.2.1.db``, made by ``fixtures/make_pocoflow_db.py``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from record_runs import record

HERE = Path(__file__).resolve().parent
POCOFLOW_DB = HERE / "fixtures" / "pocoflow-0.2.1.db"


def copy_db(source: Path, target: Path) -> Path:
    for suffix in ("", "-wal"):
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")
    return target


@pytest.fixture(scope="session")
def _recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record(tmp_path_factory.mktemp("recorded") / "runs.db")


@pytest.fixture
def recorded_db(_recorded: Path, tmp_path: Path) -> Path:
    """A copy of the database of runs recorded by ``record_runs.py``."""
    return copy_db(_recorded, tmp_path / "runs.db")


@pytest.fixture
def pocoflow_db(tmp_path: Path) -> Path:
    """A copy of a database written by PocoFlow 0.2.1 itself."""
    return copy_db(POCOFLOW_DB, tmp_path / "pocoflow.db")
