"""WorkflowDB over the SQLite store: PocoFlow's query API, our additions, connections, and
every bad input."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from pocketflow_ext import Store, Unserialisable, WorkflowDB
from pocketflow_ext.errors import ConfigurationError, RecordingError, RunExistsError
from pocketflow_ext.runstore import runs


@pytest.fixture
def db(tmp_path: Path) -> WorkflowDB:
    return WorkflowDB(tmp_path / "runs.db")


def test_pocoflow_readme_calls_work(db: WorkflowDB) -> None:
    db.create_run("my_pipeline-3f9a1b2c", flow_name="my_pipeline")
    db.save_event("my_pipeline-3f9a1b2c", "node_end", step=0, node_name="A", elapsed_ms=1.5)
    db.save_checkpoint("my_pipeline-3f9a1b2c", step=0, node_name="A", store=Store({"q": "hi"}))
    db.update_run("my_pipeline-3f9a1b2c", status="completed", total_steps=1)
    run = db.list_runs()[0]
    assert (run["run_id"], run["status"], run["total_steps"]) == (
        "my_pipeline-3f9a1b2c",
        "completed",
        1,
    )
    assert [
        (e["event"], e["node_name"], e["elapsed_ms"]) for e in db.get_events(run["run_id"])
    ] == [("node_end", "A", 1.5)]
    assert db.load_checkpoint("my_pipeline-3f9a1b2c", step=0) == {"q": "hi"}


def test_create_run_refuses_an_existing_run_id(db: WorkflowDB) -> None:
    db.create_run("r-1", "f")
    db.update_run("r-1", status="completed")
    with pytest.raises(RunExistsError, match="r-1"):
        db.create_run("r-1", "f")
    assert db.get_run("r-1")["status"] == "completed"


def test_update_run_rejects_unknown_fields_and_statuses(db: WorkflowDB) -> None:
    db.create_run("r-1", "f")
    with pytest.raises(ConfigurationError, match="unknown run field"):
        db.update_run("r-1", started_at="yesterday")
    with pytest.raises(ConfigurationError, match="unknown run status"):
        db.update_run("r-1", status="done")


def test_sql_in_user_strings_is_stored_as_text(db: WorkflowDB) -> None:
    hostile = "x'); DROP TABLE pf_runs; --"
    db.create_run(hostile, flow_name=hostile)
    db.save_event(hostile, "node_end", node_name=hostile, action=hostile)
    assert db.get_run(hostile)["flow_name"] == hostile
    assert db.list_runs(flow_name=hostile)[0]["run_id"] == hostile
    assert db.get_events(hostile)[0]["action"] == hostile


@pytest.mark.parametrize("bad", ["", "a/b", "nl\n", "x" * 201, 7, None])
@pytest.mark.parametrize("query", ["get_run", "get_events", "get_checkpoints", "last_checkpoint"])
def test_queries_reject_malformed_run_ids(db: WorkflowDB, query: str, bad: object) -> None:
    with pytest.raises(ConfigurationError, match="run_id"):
        getattr(db, query)(bad)


def test_list_runs_newest_first_with_filters_and_paging(db: WorkflowDB) -> None:
    for i in range(6):
        db.create_run(f"r-{i}", "even" if i % 2 == 0 else "odd")
        db.update_run(f"r-{i}", status="failed" if i < 2 else "completed")
    assert [r["run_id"] for r in db.list_runs()] == [f"r-{i}" for i in range(5, -1, -1)]
    assert [r["run_id"] for r in db.list_runs(limit=2, offset=1)] == ["r-4", "r-3"]
    assert [r["run_id"] for r in db.list_runs(status="failed")] == ["r-1", "r-0"]
    assert [r["run_id"] for r in db.list_runs(flow_name="odd", status="completed")] == [
        "r-5",
        "r-3",
    ]
    assert db.count_runs() == 6
    assert db.count_runs(flow_name="even") == 3
    assert db.count_runs(status="failed", flow_name="odd") == 1


@pytest.mark.parametrize(
    "kwargs",
    [{"limit": -1}, {"limit": "10"}, {"offset": -2}, {"status": "done"}, {"flow_name": 3}],
)
def test_list_runs_rejects_bad_arguments(db: WorkflowDB, kwargs: dict) -> None:
    with pytest.raises(ConfigurationError):
        db.list_runs(**kwargs)


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_running_run_of_a_dead_process_is_listed_as_interrupted(db: WorkflowDB) -> None:
    db.create_run("alive-1", "f", pid=os.getpid(), hostname=socket.gethostname())
    db.create_run("gone-1", "f", pid=dead_pid(), hostname=socket.gethostname())
    assert db.get_run("gone-1")["status"] == "interrupted"
    assert [r["run_id"] for r in db.list_runs(status="interrupted")] == ["gone-1"]
    assert [r["run_id"] for r in db.list_runs(status="running")] == ["alive-1"]
    assert db.count_runs(status="interrupted") == 1
    # derived on reading only: the stored row still says running
    assert db.get_run("gone-1")["stored_status"] == "running"


def test_load_checkpoint_restores_tagged_values_and_markers(db: WorkflowDB) -> None:
    db.create_run("r-1", "f")
    store = {"t": (1, 2), "b": b"\x00", "lock": threading.Lock()}
    with pytest.warns(UserWarning, match="'lock'"):
        lossy = db.save_checkpoint("r-1", 1, "A", store)
    assert lossy == ["lock"]
    restored = db.load_checkpoint("r-1", 1)
    assert isinstance(restored, Store)
    assert restored["t"] == (1, 2) and restored["b"] == b"\x00"
    assert isinstance(restored["lock"], Unserialisable)
    assert restored["lock"].type_name == "_thread.lock"


def test_load_checkpoint_of_a_missing_step_names_the_existing_ones(db: WorkflowDB) -> None:
    db.create_run("r-1", "f")
    db.save_checkpoint("r-1", 1, "A", {})
    with pytest.raises(KeyError, match=r"steps \[1\]"):
        db.load_checkpoint("r-1", 5)


def test_a_checkpoint_is_never_overwritten(db: WorkflowDB) -> None:
    db.create_run("r-1", "f")
    db.save_checkpoint("r-1", 1, "A", {"v": 1})
    with pytest.raises(RunExistsError):
        db.save_checkpoint("r-1", 1, "A", {"v": 2})
    assert db.load_checkpoint("r-1", 1) == {"v": 1}


def test_last_checkpoint_is_the_one_committed_last(db: WorkflowDB) -> None:
    db.create_run("r-1", "f")
    assert db.last_checkpoint("r-1") is None
    for step in (1, 2, 3):
        db.save_checkpoint("r-1", step, f"N{step}", {"step": step})
    assert db.last_checkpoint("r-1")["node_name"] == "N3"


def test_last_checkpoint_of_a_nested_run_is_the_nested_flows_own(tmp_path) -> None:
    # The flow-as-node ends (step 1) after the nodes inside it (steps 2, 3).
    import pocketflow_ext as pe

    class Leaf(pe.Node):
        pass

    inner_start = Leaf(name="A")
    inner_start >> Leaf(name="B")
    inner = pe.Flow(start=inner_start, flow_name="Inner")
    first = Leaf(name="First")
    first >> inner
    pe.Flow(start=first, flow_name="outer", db_path=tmp_path / "n.db").run({})
    with WorkflowDB(tmp_path / "n.db") as db:
        (run,) = db.list_runs()
        last = db.last_checkpoint(run["run_id"])
    assert (last["node_name"], last["step"]) == ("Inner", 1)


def test_save_event_rejects_unknown_fields(db: WorkflowDB) -> None:
    db.create_run("r-1", "f")
    with pytest.raises(ConfigurationError, match="unknown field"):
        db.save_event("r-1", "node_end", colour="red")


def test_connection_is_reused_within_a_thread_and_separate_across_threads(db: WorkflowDB) -> None:
    store = db.store
    first = store.conn()
    assert store.conn() is first
    for i in range(20):
        db.create_run(f"r-{i}", "f")
    assert store.conn() is first
    others: list[sqlite3.Connection] = []
    thread = threading.Thread(target=lambda: others.append(store.conn()))
    thread.start()
    thread.join()
    assert others[0] is not first


def test_missing_directories_of_db_path_are_created(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "runs.db"
    WorkflowDB(path)
    assert path.is_file()


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 50)
    with pytest.raises(RecordingError, match="not a SQLite database"):
        WorkflowDB(path)
    assert path.read_text().startswith("these are my notes")


def test_a_directory_as_db_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="is a directory"):
        WorkflowDB(tmp_path)


def test_an_unwritable_location_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "plain-file"
    blocker.write_text("x")
    with pytest.raises(RecordingError, match="cannot create the directory"):
        WorkflowDB(blocker / "runs.db")


def test_readonly_never_creates_a_file(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="Database file not found"):
        WorkflowDB(tmp_path / "absent.db", readonly=True)
    assert not (tmp_path / "absent.db").exists()


def test_readonly_reads_but_cannot_write(tmp_path: Path) -> None:
    WorkflowDB(tmp_path / "runs.db").create_run("r-1", "f")
    reader = WorkflowDB(tmp_path / "runs.db", readonly=True)
    assert reader.get_run("r-1")["flow_name"] == "f"
    with pytest.raises(RecordingError, match="read-only"):
        reader.create_run("r-2", "f")
    assert reader.get_run("r-2") is None


def test_schema_constants_match_the_statuses_documented() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "schema.md").read_text()
    for status in runs.STATUSES:
        assert f"`{status}`" in doc


def test_connections_of_finished_threads_are_closed(db: WorkflowDB) -> None:
    for i in range(20):
        thread = threading.Thread(target=lambda i=i: db.create_run(f"t-{i}", "f"))
        thread.start()
        thread.join()
    db.store.conn()
    assert len(db.store._all) <= 2  # this thread's, and at most the last thread's
    assert db.count_runs() == 20


def test_pages_of_runs_with_equal_start_times_never_overlap(db: WorkflowDB) -> None:
    for i in range(30):
        db.create_run(f"same-{i:02d}", "f")
    with sqlite3.connect(db.db_path) as conn:
        conn.execute("UPDATE pf_runs SET started_at = '2026-01-01T00:00:00.000000+00:00'")
    conn.close()
    pages = [db.list_runs(limit=7, offset=o) for o in range(0, 30, 7)]
    ids = [r["run_id"] for page in pages for r in page]
    assert sorted(ids) == [f"same-{i:02d}" for i in range(30)]
