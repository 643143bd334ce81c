"""The schema module: fresh databases, the PocoFlow 0.2.1 upgrade, versions, derived statuses."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from pocketflow_ext import WorkflowDB
from pocketflow_ext.runstore import RunRow, open_store
from pocketflow_ext.runstore import sqlite_schema as schema

# PocoFlow 0.2.1's DDL, verbatim from pocoflow/db.py.
POCOFLOW_021_DDL = """
PRAGMA journal_mode=WAL;
CREATE TABLE IF NOT EXISTS pf_runs (
    run_id       TEXT PRIMARY KEY,
    flow_name    TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL DEFAULT 'running'
        CHECK(status IN ('queued','running','paused','completed','failed')),
    started_at   TEXT NOT NULL,
    completed_at TEXT,
    total_steps  INTEGER,
    current_node TEXT,
    error_msg    TEXT
);
CREATE TABLE IF NOT EXISTS pf_checkpoints (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      TEXT NOT NULL,
    step        INTEGER NOT NULL,
    node_name   TEXT NOT NULL,
    store_json  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE(run_id, step),
    FOREIGN KEY (run_id) REFERENCES pf_runs(run_id)
);
CREATE TABLE IF NOT EXISTS pf_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      TEXT NOT NULL,
    step        INTEGER,
    node_name   TEXT,
    event       TEXT NOT NULL,
    action      TEXT,
    elapsed_ms  REAL,
    error_msg   TEXT,
    ts          TEXT NOT NULL,
    FOREIGN KEY (run_id) REFERENCES pf_runs(run_id)
);
"""


def pocoflow_db(path: Path) -> Path:
    with sqlite3.connect(path) as conn:
        conn.executescript(POCOFLOW_021_DDL)
        conn.executemany(
            "INSERT INTO pf_runs VALUES (?,?,?,?,?,?,?,?)",
            [
                (
                    "old-1",
                    "summarise",
                    "completed",
                    "2025-01-01T00:00:00+00:00",
                    "2025-01-01T00:00:05+00:00",
                    2,
                    "B",
                    None,
                ),
                (
                    "old-2",
                    "summarise",
                    "failed",
                    "2025-01-02T00:00:00+00:00",
                    None,
                    1,
                    "A",
                    "ValueError: x",
                ),
                ("old-3", "other", "paused", "2025-01-03T00:00:00+00:00", None, 0, None, None),
            ],
        )
        conn.execute(
            "INSERT INTO pf_checkpoints (run_id, step, node_name, store_json, created_at) "
            "VALUES ('old-1', 0, 'A', '{\"q\": \"hi\"}', '2025-01-01T00:00:01+00:00')"
        )
        conn.execute(
            "INSERT INTO pf_events (run_id, step, node_name, event, ts) "
            "VALUES ('old-1', 0, 'A', 'node_end', '2025-01-01T00:00:01+00:00')"
        )
    conn.close()
    return path


def columns(path: Path, table: str) -> set[str]:
    with sqlite3.connect(path) as conn:
        cols = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
    conn.close()
    return cols


def test_new_database_gets_current_version_wal_and_all_columns(tmp_path: Path) -> None:
    db = WorkflowDB(tmp_path / "runs.db")
    assert db.schema_version == schema.SCHEMA_VERSION
    assert db.store.conn().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert {"graph", "heartbeat_at", "pid", "resumed_from", "traceback"} <= columns(
        db.db_path, "pf_runs"
    )
    assert set(schema.EVENT_COLUMNS) <= columns(db.db_path, "pf_events")
    assert set(schema.CHECKPOINT_COLUMNS) <= columns(db.db_path, "pf_checkpoints")


def test_monitor_indexes_exist(tmp_path: Path) -> None:
    db = WorkflowDB(tmp_path / "runs.db")
    names = {
        r[0] for r in db.store.conn().execute("SELECT name FROM sqlite_master WHERE type='index'")
    }
    assert {
        "pf_runs_started",
        "pf_runs_status_started",
        "pf_runs_flow_started",
        "pf_events_run",
    } <= names


def test_list_runs_query_uses_an_index(tmp_path: Path) -> None:
    db = WorkflowDB(tmp_path / "runs.db")
    plan = (
        db.store.conn()
        .execute(
            "EXPLAIN QUERY PLAN SELECT * FROM pf_runs WHERE status = ? ORDER BY started_at DESC LIMIT 100",
            ("failed",),
        )
        .fetchall()
    )
    assert "USING INDEX" in " ".join(str(tuple(r)) for r in plan)


def test_pocoflow_database_is_upgraded_keeping_every_row(tmp_path: Path) -> None:
    path = pocoflow_db(tmp_path / "pocoflow.db")
    db = WorkflowDB(path)
    assert db.schema_version == schema.SCHEMA_VERSION
    runs = {r["run_id"]: r for r in db.list_runs()}
    assert set(runs) == {"old-1", "old-2", "old-3"}
    assert runs["old-2"]["error_msg"] == "ValueError: x"
    assert runs["old-3"]["status"] == "paused"
    assert db.load_checkpoint("old-1", 0) == {"q": "hi"}
    assert [e["event"] for e in db.get_events("old-1")] == ["node_end"]


def test_upgraded_database_accepts_the_new_statuses(tmp_path: Path) -> None:
    db = WorkflowDB(pocoflow_db(tmp_path / "pocoflow.db"))
    db.update_run("old-1", status="cancelled")
    assert db.get_run("old-1")["status"] == "cancelled"


def test_upgrade_keeps_foreign_keys_pointing_at_pf_runs(tmp_path: Path) -> None:
    db = WorkflowDB(pocoflow_db(tmp_path / "pocoflow.db"))
    sql = " ".join(
        r[0] for r in db.store.conn().execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL")
    )
    assert "pf_runs_new" not in sql
    assert db.store.conn().execute("PRAGMA foreign_key_check").fetchall() == []
    assert db.store.conn().execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_opening_again_does_not_migrate_twice(tmp_path: Path) -> None:
    path = pocoflow_db(tmp_path / "pocoflow.db")
    WorkflowDB(path).close()
    db = WorkflowDB(path)
    assert len(db.list_runs()) == 3
    assert db.schema_version == schema.SCHEMA_VERSION


def test_concurrent_processes_upgrade_one_file_once(tmp_path: Path) -> None:
    path = pocoflow_db(tmp_path / "pocoflow.db")
    code = (
        "import sys; from pocketflow_ext import WorkflowDB; "
        "print(len(WorkflowDB(sys.argv[1]).list_runs()))"
    )
    children = [
        subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outputs = [c.communicate()[0].strip() for c in children]
    assert outputs == ["3"] * 4
    assert all(c.returncode == 0 for c in children)


def test_a_file_migrated_by_another_process_mid_identification_is_seen_whole(
    tmp_path: Path,
) -> None:
    """What made test_concurrent_processes_upgrade_one_file_once fail now and then under
    load: a migration committed between two of the reads that identify a file showed the
    old version with the new tables, and the file was refused as foreign."""
    path = pocoflow_db(tmp_path / "pocoflow.db")
    conn = sqlite3.connect(path, isolation_level=None)
    migrated: list[str] = []

    def migrate_in_between(statement: str) -> None:
        # Another connection (as another process would) migrates the file right after
        # the version was read, before the tables are.
        if "sqlite_master" in statement and not migrated:
            migrated.append(statement)
            WorkflowDB(path).close()

    conn.set_trace_callback(migrate_in_between)
    found = schema.inspect(conn)
    conn.set_trace_callback(None)
    assert migrated  # the migration did happen mid-identification
    assert found.version == 0 and "pf_cache" not in found.tables  # one consistent view
    assert schema.refusal(found, str(path)) is None
    assert schema.inspect(conn).version == schema.SCHEMA_VERSION  # and it sees it afterwards
    conn.close()


def test_newer_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(Exception, match="newer than this pocketflow-ext"):
        WorkflowDB(path)


def test_run_columns_constant_matches_the_table(tmp_path: Path) -> None:
    db = WorkflowDB(tmp_path / "runs.db")
    order = [r[1] for r in db.store.conn().execute("PRAGMA table_info(pf_runs)")]
    assert tuple(order) == schema.RUN_COLUMNS


def test_row_records_have_one_field_per_column() -> None:
    from pocketflow_ext.runstore import CheckpointRow, EventRow, RunRow

    assert set(RunRow.__dataclass_fields__) == set(schema.RUN_COLUMNS)
    assert set(EventRow.__dataclass_fields__) == set(schema.EVENT_COLUMNS)
    assert set(CheckpointRow.__dataclass_fields__) == set(schema.CHECKPOINT_COLUMNS)


def test_a_version_5_file_gains_resume_claims_keeping_its_runs(tmp_path: Path) -> None:
    path = tmp_path / "v5.db"
    with open_store(path) as store:
        store.create_run(RunRow(run_id="r-1", flow_name="f", status="failed"))
    conn = sqlite3.connect(path)  # what a version-5 writer (with the cache) left behind
    conn.execute("DROP TABLE pf_resume_claims")
    conn.execute("PRAGMA user_version = 5")
    conn.commit()
    conn.close()
    with open_store(path) as store:
        assert store.schema_version == schema.SCHEMA_VERSION == 6
        assert store.get_run("r-1") is not None
        assert store.claim_resume("r-1", "r-2") is True
