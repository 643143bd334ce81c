"""The SQLite store's promises about files: what it refuses untouched, what it migrates,
what it reads without write access, and that reading never drops a recording's locks."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from pocketflow_ext import Flow, Node, WorkflowDB
from pocketflow_ext.errors import RecordingError
from pocketflow_ext.runstore import RunFilter, open_store
from pocketflow_ext.runstore import sqlite_schema as schema

HERE = Path(__file__).resolve().parent


class Step(Node):
    def post(self, shared, prep_res, exec_res):
        shared["n"] = shared.get("n", 0) + 1


def record(db: Path, run_id: str) -> None:
    first = Step()
    first >> Step()
    Flow(start=first, db_path=db, flow_name="f", run_id=run_id).run({})


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


# ── files that are not ours ───────────────────────────────────────────────────
FOREIGN = {
    "pf_runs of another shape": ["CREATE TABLE pf_runs (id INTEGER, name TEXT)"],
    "another program's tables": ["CREATE TABLE invoices (id INTEGER, total REAL)"],
    "PocoFlow's tables beside others": [
        "CREATE TABLE pf_runs (run_id TEXT PRIMARY KEY, flow_name TEXT, status TEXT, "
        "started_at TEXT, completed_at TEXT, total_steps INTEGER, current_node TEXT, "
        "error_msg TEXT)",
        "CREATE TABLE customers (id INTEGER)",
    ],
    "a version that says ours over foreign tables": [
        "CREATE TABLE notes (body TEXT)",
        "PRAGMA user_version = 2",
    ],
}


@pytest.mark.parametrize("statements", FOREIGN.values(), ids=FOREIGN.keys())
def test_a_foreign_sqlite_file_is_refused_before_anything_is_written(
    tmp_path: Path, statements: list[str]
) -> None:
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        for statement in statements:
            conn.execute(statement)
    conn.close()
    before = digest(path)
    with pytest.raises(RecordingError, match=r"app\.db.*left unchanged") as caught:
        Flow(start=Step(), db_path=path)
    assert str(path) in str(caught.value)
    assert digest(path) == before  # not even switched to WAL
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.db"]


def test_a_reader_refuses_a_foreign_file_naming_what_it_found(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER)")
    conn.close()
    with pytest.raises(RecordingError, match="no pf_runs table; it has: invoices"):
        open_store(path, readonly=True)


def test_garbled_pages_after_a_valid_first_page_are_reported_with_the_path(
    tmp_path: Path,
) -> None:
    path = tmp_path / "runs.db"
    # Recorded by a process that has exited: every page is in the file itself (no -wal).
    recorder = [sys.executable, str(HERE / "record_child.py"), str(path), "r", "20"]
    subprocess.run(recorder, check=True)
    page = 4096
    data = bytearray(path.read_bytes())
    assert len(data) > 4 * page
    data[page:] = bytes((i * 7 + 3) % 256 for i in range(len(data) - page))
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(bytes(data))
    with pytest.raises(RecordingError, match=r"damaged\.db is damaged"):
        Flow(start=Step(), db_path=damaged)


# ── pocketflow-ext 1 files: steps counted from 1 ──────────────────────────────
V1_RUNS_DDL = schema.RUNS_DDL.replace("'waiting',", "").format(table="pf_runs")


def v1_file(path: Path) -> Path:
    """A database as pocketflow-ext 1 left it: a run of ours (steps from 1; a nested flow's
    own checkpoint committed after the nodes inside it), a run PocoFlow recorded before the
    upgrade (steps from 0, no paths), and a checkpoint a user saved by hand."""
    conn = sqlite3.connect(path)
    conn.execute(V1_RUNS_DDL)
    conn.execute(schema.EVENTS_DDL)
    conn.execute(schema.CHECKPOINTS_DDL)
    for table, cols in (("pf_events", ("path", "params", "attempt", "delay_ms", "traceback")),
                        ("pf_checkpoints", ("path", "params"))):  # fmt: skip
        for col in cols:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {col}")
    ts = "2026-01-01T00:00:00.000000+00:00"
    conn.executemany(
        "INSERT INTO pf_runs (run_id, flow_name, status, started_at, pid) VALUES (?, ?, ?, ?, ?)",
        [("ext-1", "Outer", "failed", ts, 1), ("poco-1", "old", "completed", ts, None)],
    )
    ours = [(1, "a", "Outer/a"), (3, "x", "Outer/Inner/x"), (4, "y", "Outer/Inner/y"),
            (2, "Inner", "Outer/Inner")]  # fmt: skip
    for step, node, node_path in ours:
        conn.execute(
            "INSERT INTO pf_events (run_id, step, node_name, event, ts, path) "
            "VALUES ('ext-1', ?, ?, 'node_end', ?, ?)",
            (step, node, ts, node_path),
        )
        conn.execute(
            "INSERT INTO pf_checkpoints (run_id, step, node_name, store_json, created_at, path) "
            "VALUES ('ext-1', ?, ?, ?, ?, ?)",
            (step, node, f'{{"{node}": {step}}}', ts, node_path),
        )
    conn.execute(
        "INSERT INTO pf_events (run_id, step, node_name, event, ts) "
        "VALUES ('ext-1', NULL, 'Outer', 'flow_start', ?)",
        (ts,),
    )
    for step in (0, 1):
        conn.execute(
            "INSERT INTO pf_checkpoints (run_id, step, node_name, store_json, created_at) "
            "VALUES ('poco-1', ?, 'A', '{}', ?)",
            (step, ts),
        )
    conn.execute(
        "INSERT INTO pf_checkpoints (run_id, step, node_name, store_json, created_at) "
        "VALUES ('ext-1', 7, 'by-hand', '{}', ?)",
        (ts,),
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    return path


def checkpoint_rows(path: Path) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT id, run_id, step, node_name FROM pf_checkpoints ORDER BY id"
        ).fetchall()
    finally:
        conn.close()


def test_a_v1_file_is_renumbered_from_0_keeping_every_row(tmp_path: Path) -> None:
    path = v1_file(tmp_path / "v1.db")
    before = checkpoint_rows(path)
    db = WorkflowDB(path)
    assert db.schema_version == schema.SCHEMA_VERSION
    after = checkpoint_rows(path)
    shifted = {"a", "x", "y", "Inner"}
    assert after == [
        (i, run, step - 1 if node in shifted else step, node) for i, run, step, node in before
    ]
    assert db.load_checkpoint("ext-1", 0) == {"a": 1}  # the first node's: step 0
    ends = [(e["step"], e["node_name"]) for e in db.get_events("ext-1")]
    assert ends == [(0, "a"), (2, "x"), (3, "y"), (1, "Inner"), (None, "Outer")]
    assert db.last_checkpoint("ext-1")["node_name"] == "by-hand"
    db.update_run("ext-1", status="waiting")  # schema 2's status
    db.close()
    assert integrity(path) == "ok"


def test_a_v1_file_read_without_migrating_shows_steps_from_0(tmp_path: Path) -> None:
    path = v1_file(tmp_path / "v1.db")
    before = digest(path)
    with open_store(path, readonly=True) as store:
        steps = [(c["step"], c["node_name"]) for c in store.get_checkpoints("ext-1")]
        first = store.load_checkpoint("ext-1", 0)
        events = [e["step"] for e in store.get_events(["ext-1"])]
    assert steps == [(0, "a"), (1, "Inner"), (2, "x"), (3, "y"), (7, "by-hand")]
    assert first == {"a": 1} and events == [0, 2, 3, 1, None]
    assert digest(path) == before


def test_processes_opening_a_v1_file_at_once_renumber_it_once(tmp_path: Path) -> None:
    path = v1_file(tmp_path / "v1.db")
    code = (
        "import sys; from pocketflow_ext import WorkflowDB; "
        "print(dict(WorkflowDB(sys.argv[1]).load_checkpoint('ext-1', 0)))"
    )
    children = [
        subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outputs = [c.communicate()[0].strip() for c in children]
    assert outputs == ["{'a': 1}"] * 4
    assert [row[2] for row in checkpoint_rows(path) if row[1] == "ext-1"] == [0, 2, 3, 1, 7]


# ── reading never disturbs a recording ────────────────────────────────────────
@pytest.mark.timeout(120)
def test_reading_in_a_recording_process_keeps_another_process_runs(tmp_path: Path) -> None:
    # Closing any descriptor on a file drops every POSIX lock this process holds on it,
    # SQLite's included: a reader that peeked at the header with open() let a child's
    # committed run vanish. Reads here go through SQLite only.
    path = tmp_path / "runs.db"
    record(path, "parent-0")  # this process now holds the file open for recording
    child = subprocess.Popen(
        [sys.executable, str(HERE / "record_child.py"), str(path), "child", "40"]
    )
    reads = 0
    while child.poll() is None or reads < 5:
        with open_store(path, readonly=True) as store:
            store.runs_page(RunFilter(), limit=10, offset=0)
        record(path, f"parent-{reads + 1}")
        reads += 1
    assert child.wait() == 0
    with open_store(path, readonly=True) as store:
        ids = {r["run_id"] for r in store.list_runs(limit=None)}
    assert {f"child-{i}" for i in range(40)} <= ids
    assert {f"parent-{i}" for i in range(reads + 1)} <= ids
    assert integrity(path) == "ok"


# ── files this user cannot write ──────────────────────────────────────────────
def _read_only_runner() -> list[str] | None:
    """A command prefix that runs a program where /tmp/<dir> can be made read-only for it:
    a private mount namespace (root) or nothing, when neither works here."""
    if shutil.which("unshare") and os.geteuid() == 0:
        probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
        if probe.returncode == 0:
            return ["unshare", "-m"]
    return None


def test_the_main_thread_keeps_its_connection_at_interpreter_exit(tmp_path: Path) -> None:
    # At exit the main thread reads as not alive; another thread opening a connection
    # then must not close the main thread's (the writer's exit flush writes through it).
    db = tmp_path / "r.db"
    script = f"""
import atexit, threading
from pocketflow_ext.runstore import RunRow, open_store

store = open_store({str(db)!r})
store.conn()

def at_exit():
    assert not threading.main_thread().is_alive()
    opener = threading.Thread(target=store.conn)
    opener.start()
    opener.join()
    store.create_run(RunRow(run_id="exit-1", flow_name="f"))

atexit.register(at_exit)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    with WorkflowDB(db, readonly=True) as reader:
        assert reader.get_run("exit-1")["status"] == "running"


def test_a_wal_database_in_a_read_only_directory_can_be_read(tmp_path: Path) -> None:
    pytest.importorskip("streamlit")  # the monitor is read there too
    runner = _read_only_runner()
    if runner is None:
        pytest.skip("needs root with mount namespaces (unshare -m) to make a read-only directory")
    archive = Path(tempfile.mkdtemp(prefix="pfx-ro-"))
    try:
        path = archive / "runs.db"
        # Recorded by a process that has ended: a WAL-mode file alone, no -wal or -shm.
        recorder = [sys.executable, str(HERE / "record_child.py"), str(path), "archived", "1"]
        subprocess.run(recorder, check=True)
        script = (
            f"mount --bind -o ro {archive} {archive} && "
            f"{sys.executable} -m pocketflow_ext runs {path} && "
            f"{sys.executable} -m pocketflow_ext show {path} archived-0 && "
            f"{sys.executable} -c 'import sys; from pocketflow_ext.runstore import open_store; "
            f's = open_store(sys.argv[1], readonly=True); print(s.get_run("archived-0")["status"])\''
            f" {path}"
        )
        script += f" && {sys.executable} {HERE / 'read_monitor.py'} {path} archived-0"
        done = subprocess.run([*runner, "sh", "-c", script], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        cli, _, monitor = done.stdout.partition("warning:")
        monitor = monitor.replace("\\", "")  # Streamlit escapes markdown
        assert "archived-0" in cli and cli.rstrip().endswith("completed")
        assert "read as an unchanging snapshot" in done.stderr  # the CLI says how it read
        assert "read as an unchanging snapshot" in monitor  # and so does the monitor
        assert "runs: archived-0" in monitor and "opened: Run archived-0" in monitor
        assert "error:" not in done.stdout
    finally:
        shutil.rmtree(archive, ignore_errors=True)
