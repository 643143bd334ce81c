"""Schema 4: the pause and fork columns of pf_runs, added in place to a version 3 file;
claim_waiting lets exactly one caller take a waiting run."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from pocketflow_ext import WorkflowDB
from pocketflow_ext.runstore import open_store
from pocketflow_ext.runstore import sqlite_schema as schema
from pocketflow_ext.runstore.base import RunRow

V4_COLUMNS = ("question", "answer", "start_store", "forked_from", "forked_at_step")


def _version_3_file(path: Path) -> Path:
    """A file as schema 3 left it: one run, without the version 4 columns and index."""
    with WorkflowDB(path) as db:
        db.store.create_run(RunRow(run_id="old-1", flow_name="f", status="failed"))
    with sqlite3.connect(path) as conn:
        conn.execute("DROP INDEX pf_runs_forked_from")
        for column in V4_COLUMNS:
            conn.execute(f"ALTER TABLE pf_runs DROP COLUMN {column}")
        conn.execute("PRAGMA user_version = 3")
    return path


def test_a_version_3_file_reads_the_new_fields_as_empty(tmp_path: Path) -> None:
    path = _version_3_file(tmp_path / "runs.db")
    with open_store(path, readonly=True) as store:
        run = store.get_run("old-1")
        assert store.schema_version == 3
    assert run is not None and run["status"] == "failed"
    assert run["question"] is None and run["forked_from"] is None and run["forked_by"] == []


def test_a_version_3_file_is_upgraded_in_place_keeping_its_runs(tmp_path: Path) -> None:
    path = _version_3_file(tmp_path / "runs.db")
    with WorkflowDB(path) as db:
        assert (
            db.schema_version == schema.SCHEMA_VERSION == 6
        )  # 4: pauses and forks, 5: pf_cache, 6: claims
        assert db.get_run("old-1")["status"] == "failed"
        columns = {r[1] for r in db.store.conn().execute("PRAGMA table_info(pf_runs)")}
        indexes = {r[1] for r in db.store.conn().execute("PRAGMA index_list(pf_runs)")}
    assert set(V4_COLUMNS) <= columns and "pf_runs_forked_from" in indexes


def test_claim_waiting_takes_a_waiting_run_once(tmp_path: Path) -> None:
    with open_store(tmp_path / "runs.db") as store:
        store.create_run(RunRow(run_id="w-1", flow_name="f", status="waiting"))
        store.create_run(RunRow(run_id="f-1", flow_name="f", status="failed"))
        assert store.claim_waiting("w-1") is True
        assert store.claim_waiting("w-1") is False
        assert store.claim_waiting("f-1") is False
        assert store.get_run("w-1")["status"] == "completed"
