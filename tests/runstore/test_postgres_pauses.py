"""PostgreSQL migration 4 (the pause and fork columns of pf_runs, added in place to a
database at schema 3, keeping every row), readers of older schemas (which never migrate),
and ``claim_waiting`` on both stores: of several answers racing for one waiting run,
exactly one takes it."""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import Any

import pytest
from store_sql import execute

from pocketflow_ext import RecordingError, WorkflowDB
from pocketflow_ext.runstore import open_store, postgres_schema
from pocketflow_ext.runstore.base import ALL_RUNS, RunRow
from pocketflow_ext.runstore.sqlite_schema import PAUSE_AND_FORK_COLUMNS

NEW_COLUMNS = sorted(name for name, _type in PAUSE_AND_FORK_COLUMNS)
OLD = "2026-01-01T00:00:00.000000+00:00"


def _older_database(url: str, version: int = 3) -> None:
    """What a writer of schema ``version`` left behind: its migrations only, and a failed
    run with its events and checkpoints (from version 3 a full one and a delta one; before,
    two full ones)."""
    execute(url, "CREATE TABLE pf_migrations (version INTEGER PRIMARY KEY, applied_at TEXT)")
    for applied, statements in enumerate(postgres_schema.MIGRATIONS[:version], start=1):
        for statement in statements:
            execute(url, statement)
        execute(url, "INSERT INTO pf_migrations VALUES (?, ?)", (applied, OLD))
    execute(
        url,
        "INSERT INTO pf_runs (run_id, flow_name, status, started_at, completed_at, "
        "total_steps, current_node, error_msg) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        ("old-1", "sums", "failed", OLD, OLD, 2, "B", "broken"),
    )
    for step, (node, event) in enumerate([("A", "node_start"), ("A", "node_end")]):
        execute(
            url,
            "INSERT INTO pf_events (run_id, step, node_name, event, ts) VALUES (?, ?, ?, ?, ?)",
            ("old-1", 0, node, event, f"2026-01-01T00:00:0{step}.000000+00:00"),
        )
    execute(
        url,
        "INSERT INTO pf_checkpoints (run_id, step, node_name, store_json, created_at) "
        "VALUES (?, ?, ?, ?, ?)",
        ("old-1", 0, "A", '{"total": 1}', OLD),
    )
    if version < 3:
        execute(
            url,
            "INSERT INTO pf_checkpoints (run_id, step, node_name, store_json, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            ("old-1", 1, "B", '{"total": 2}', OLD),
        )
        return
    execute(
        url,
        "INSERT INTO pf_checkpoints (run_id, step, node_name, store_json, created_at, kind, "
        "parent_step, deleted_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        ("old-1", 1, "B", '{"total": 2}', OLD, "delta", 0, "[]"),
    )


def _everything(url: str) -> list[tuple[Any, ...]]:
    """Every row of the three run tables, in the columns schema 3 had."""
    old_run_columns = ", ".join(
        ["run_id", *sorted(postgres_schema.EXPECTED["pf_runs"] - {"run_id"})]
    )
    return [
        *execute(url, f"SELECT {old_run_columns} FROM pf_runs ORDER BY run_id"),
        *execute(url, "SELECT * FROM pf_events ORDER BY id"),
        *execute(url, "SELECT * FROM pf_checkpoints ORDER BY id"),
    ]


def _run_columns(url: str) -> set[str]:
    return {
        name
        for (name,) in execute(
            url,
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = 'pf_runs'",
        )
    }


# The monitor in Streamlit's AppTest, in a child process: run in this one it leaves state
# behind that breaks the process pools of later tests (tests/ui runs after them).
_MONITOR = """
import sys
from streamlit.testing.v1 import AppTest
script = "from pocketflow_ext.ui import render_workflow_monitor; render_workflow_monitor(%r)"
app = AppTest.from_string(script % sys.argv[1], default_timeout=60).run()
assert not app.exception, app.exception
print(list(app.dataframe[0].value["Run id"]))
app.selectbox(key="pfx-monitor-pick").set_value("old-1").run()
assert not app.exception, app.exception
"""


@pytest.mark.parametrize("version", [1, 3])
def test_a_reader_of_an_older_database_reads_it_with_empty_pause_and_fork_fields(
    postgres_url: str, version: int
) -> None:
    """Readers never migrate (a read-only role could not): as a SQLite reader reads an
    older file, the columns added since read as empty, and the database is left as it was."""
    _older_database(postgres_url, version)
    before = _everything(postgres_url)
    with WorkflowDB(postgres_url, readonly=True) as db:
        assert db.schema_version == version
        page = db.store.runs_page(ALL_RUNS, limit=10, offset=0)
        run = db.get_run("old-1")
        events = db.get_events("old-1")
        checkpoints = db.get_checkpoints("old-1")
        last = db.last_checkpoint("old-1")
        stores = [db.load_checkpoint("old-1", step=step) for step in (0, 1)]
        texts = [db.store.checkpoint_text("old-1", step) for step in (0, 1)]
        export = db.store.export_run("old-1")
    assert [r["run_id"] for r in page.rows] == ["old-1"] and page.total == 1
    assert page.rows[0] == run
    assert run is not None and run["status"] == "failed" and run["error_msg"] == "broken"
    for field in NEW_COLUMNS:
        assert run[field] is None, field
    assert run["forked_by"] == [] and run["resumed_by"] == []
    assert [(e["node_name"], e["event"]) for e in events] == [
        ("A", "node_start"),
        ("A", "node_end"),
    ]
    kinds = [None, "delta"] if version >= 3 else [None, None]
    assert [(c["step"], c["node_name"], c["kind"]) for c in checkpoints] == [
        (0, "A", kinds[0]),
        (1, "B", kinds[1]),
    ]
    assert last is not None and last["step"] == 1
    assert stores == [{"total": 1}, {"total": 2}]
    assert texts == ['{"total": 1}', '{"total": 2}']
    assert export is not None and export.run.question is None and export.run.forked_from is None
    assert [c.kind for c in export.checkpoints] == kinds
    assert _everything(postgres_url) == before
    assert not set(NEW_COLUMNS) & _run_columns(postgres_url)
    assert execute(postgres_url, "SELECT max(version) FROM pf_migrations") == [(version,)]


def test_the_cli_and_the_monitor_read_a_older_database(postgres_url: str) -> None:
    _older_database(postgres_url)
    before = _everything(postgres_url)
    for command in (["runs", postgres_url], ["show", postgres_url, "old-1"]):
        shown = subprocess.run(
            [sys.executable, "-m", "pocketflow_ext", *command],
            capture_output=True,
            text=True,
        )
        assert shown.returncode == 0 and "old-1" in shown.stdout, shown.stderr
        assert "broken" in shown.stdout or command[0] == "runs"
    monitored = subprocess.run(
        [sys.executable, "-c", _MONITOR, postgres_url], capture_output=True, text=True, timeout=120
    )
    assert monitored.returncode == 0, monitored.stderr
    assert monitored.stdout.strip() == "['old-1']"
    assert _everything(postgres_url) == before


def test_a_reader_of_a_newer_database_is_told_to_upgrade_pocketflow_ext(postgres_url: str) -> None:
    _older_database(postgres_url)
    future = postgres_schema.SCHEMA_VERSION + 1
    execute(postgres_url, "INSERT INTO pf_migrations VALUES (?, ?)", (future, OLD))
    with pytest.raises(RecordingError, match=f"version {future}, newer than.*upgrade pocketflow"):
        open_store(postgres_url, readonly=True)


def test_a_older_database_migrates_keeping_every_row(postgres_url: str) -> None:
    _older_database(postgres_url)
    before = _everything(postgres_url)
    with WorkflowDB(postgres_url) as db:
        assert db.schema_version == postgres_schema.SCHEMA_VERSION == 4
        assert db.load_checkpoint("old-1", step=1) == {"total": 2}
        old = db.get_run("old-1")
        # The new columns hold what a pause and a fork write, and read back.
        db.store.create_run(
            RunRow(run_id="ask-1", flow_name="sums", status="waiting", question='"go?"')
        )
        db.store.create_run(
            RunRow(run_id="fork-1", flow_name="sums", forked_from="old-1", forked_at_step=0)
        )
        assert db.get_run("ask-1")["question"] == '"go?"'
        assert db.get_run("old-1")["forked_by"] == ["fork-1"]
        assert db.get_run("fork-1")["forked_at_step"] == 0
    assert old["status"] == "failed" and old["question"] is None and old["forked_by"] == []
    assert [row for row in _everything(postgres_url) if row[0] not in ("ask-1", "fork-1")] == (
        before
    )
    assert set(NEW_COLUMNS) <= _run_columns(postgres_url)
    assert execute(
        postgres_url, "SELECT 1 FROM pg_indexes WHERE indexname = 'pf_runs_forked_from'"
    ) == [(1,)]
    assert execute(postgres_url, "SELECT version FROM pf_migrations ORDER BY 1") == [
        (1,), (2,), (3,), (4,),
    ]  # fmt: skip


def test_claim_waiting_takes_a_waiting_run_once(run_store_url: str) -> None:
    with open_store(run_store_url) as store:
        store.create_run(RunRow(run_id="w-1", flow_name="f", status="waiting"))
        store.create_run(RunRow(run_id="f-1", flow_name="f", status="failed"))
        assert store.claim_waiting("w-1") is True
        assert store.claim_waiting("w-1") is False
        assert store.claim_waiting("f-1") is False
        assert store.claim_waiting("nope") is False
        assert store.get_run("w-1")["status"] == "completed"
        assert store.get_run("f-1")["status"] == "failed"


def test_of_claims_racing_on_their_own_connections_exactly_one_wins(run_store_url: str) -> None:
    with open_store(run_store_url) as store:
        for i in range(5):
            store.create_run(RunRow(run_id=f"w-{i}", flow_name="f", status="waiting"))
    racers = 6
    start = threading.Barrier(racers)
    won: list[tuple[int, str]] = []

    def claim(racer: int) -> None:
        with open_store(run_store_url) as mine:  # a store (and connection) per racer
            start.wait()
            for i in range(5):
                if mine.claim_waiting(f"w-{i}"):
                    won.append((racer, f"w-{i}"))

    threads = [threading.Thread(target=claim, args=(racer,)) for racer in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(run for _racer, run in won) == [f"w-{i}" for i in range(5)], won
