"""Many processes opening one SQLite run database at the same moment (as Dask or
multiprocessing workers do): every one waits its turn instead of failing "database is
locked", and a file that is not ours stays byte-identical."""

from __future__ import annotations

import multiprocessing
import shutil
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from pocketflow_ext import Flow, Node, WorkflowDB
from pocketflow_ext.errors import RecordingError
from pocketflow_ext.runstore.sqlite import SQLiteRunStore

POCOFLOW_DB = Path(__file__).resolve().parents[1] / "ui" / "fixtures" / "pocoflow-0.2.1.db"
PROCESSES = 12

pytestmark = pytest.mark.skipif(
    "forkserver" not in multiprocessing.get_all_start_methods(), reason="needs forkserver"
)


class Count(Node):
    def post(self, shared, prep_res, exec_res):
        shared["n"] = shared.get("n", 0) + 1


def _record_one(path: str, run_id: str, start: Any, results: Any) -> None:
    """A worker: builds a recording flow on ``path`` as soon as all are ready, runs it."""
    start.wait(timeout=120)
    try:
        first = Count()
        first >> Count()
        Flow(start=first, db_path=path, flow_name="worker", run_id=run_id).run({})
        results.put(None)
    except Exception as exc:  # reported to the test, which names it
        results.put(f"{run_id}: {type(exc).__name__}: {exc}")


def _record_together(path: Path, tag: str) -> list[str]:
    """PROCESSES processes released at once by a barrier; the errors they raised."""
    # Forked from a server process with no threads: a plain fork of the test process
    # copies the locks its threads (earlier tests' recorders) may hold, and can hang.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["pocketflow_ext"])
    start, results = ctx.Barrier(PROCESSES), ctx.Queue()
    workers = [
        ctx.Process(target=_record_one, args=(str(path), f"{tag}-{i}", start, results))
        for i in range(PROCESSES)
    ]
    for w in workers:
        w.start()
    outcomes = [results.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(timeout=60)
    return [o for o in outcomes if o is not None]


def _run_ids(path: Path) -> set[str]:
    db = WorkflowDB(path)
    try:
        return {r["run_id"] for r in db.list_runs(limit=1000)}
    finally:
        db.close()


@pytest.mark.parametrize("kind", ["new", "existing", "pocoflow"])
def test_processes_recording_to_one_file_at_once_all_record(tmp_path: Path, kind: str) -> None:
    """A new file (each process tries the switch to WAL), one of ours, and PocoFlow's (one
    process migrates it, the others wait and find it migrated); repeated, since which
    process gets where first differs every time."""
    before: set[str] = set()
    if kind == "pocoflow":  # PocoFlow's own runs, read from a copy
        before = _run_ids(Path(shutil.copyfile(POCOFLOW_DB, tmp_path / "copy.db")))
        assert before
    # A new file is where the switch to WAL races, the rarer the closer the starts.
    for attempt in range(25 if kind == "new" else 10):
        path = tmp_path / f"{kind}-{attempt}.db"
        if kind == "existing":
            WorkflowDB(path).close()
        elif kind == "pocoflow":
            shutil.copyfile(POCOFLOW_DB, path)
        errors = _record_together(path, f"r{attempt}")
        assert errors == [], f"attempt {attempt}: {errors}"
        expected = before | {f"r{attempt}-{i}" for i in range(PROCESSES)}
        assert _run_ids(path) == expected


def test_processes_opening_a_foreign_file_at_once_leave_it_byte_identical(
    tmp_path: Path,
) -> None:
    path = tmp_path / "notes.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.execute("INSERT INTO notes VALUES ('keep me')")
    conn.close()
    original = path.read_bytes()
    errors = _record_together(path, "foreign")
    assert len(errors) == PROCESSES
    assert all("is not a run database" in e and "left unchanged" in e for e in errors), errors
    assert path.read_bytes() == original
    assert not Path(f"{path}-wal").exists() and not Path(f"{path}-journal").exists()


class _Watched(SQLiteRunStore):
    """The real store, telling the test each time its connections run the switch to WAL."""

    switch_tries: list[str]
    tried_again: threading.Event

    def _connect(self) -> sqlite3.Connection:
        conn = super()._connect()

        def seen(statement: str) -> None:
            if statement == "PRAGMA journal_mode=WAL":
                self.switch_tries.append(statement)
                if len(self.switch_tries) >= 2:
                    self.tried_again.set()

        conn.set_trace_callback(seen)
        return conn


def test_the_switch_to_wal_waits_while_another_connection_writes_the_new_file(
    tmp_path: Path,
) -> None:
    """What failed under Dask: the switch to WAL reads the file's header, then upgrades
    that read to a write; while another connection holds the write lock, SQLite refuses
    the upgrade at once, without the busy handler (waiting while holding a read could
    deadlock), so it raised "database is locked" whatever busy_timeout said. Here another
    connection holds the write lock until the opener has had to try again; the open
    then succeeds."""
    path = tmp_path / "runs.db"
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # as another process switching or migrating it

    _Watched.switch_tries, _Watched.tried_again = [], threading.Event()
    opened: list[Any] = []

    def open_store() -> None:
        try:
            opened.append(_Watched(path))
        except RecordingError as exc:
            opened.append(exc)
        finally:
            _Watched.tried_again.set()  # done either way: let the test look

    opener = threading.Thread(target=open_store)
    opener.start()
    assert _Watched.tried_again.wait(timeout=120)
    other.execute("ROLLBACK")
    other.close()
    opener.join(timeout=120)
    assert len(opened) == 1
    store = opened[0]
    assert isinstance(store, SQLiteRunStore), f"the open failed: {store}"
    assert len(_Watched.switch_tries) >= 2  # it was refused while the other held the lock
    assert store.conn().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()
