"""Delta checkpoints in SQLite files: older files keep their rows and read as before, a
missing or damaged row is named, and every reader sees the whole store at every step."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from pocketflow_ext import Flow, Node, WorkflowDB
from pocketflow_ext.errors import CheckpointDamaged
from pocketflow_ext.runstore import open_store
from pocketflow_ext.runstore import sqlite_schema as schema

DELTA_COLUMNS = ("kind", "parent_step", "deleted_json")


class Add(Node):
    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = self.name = key

    def post(self, shared, prep_res, exec_res):
        shared[self.key] = len(shared)
        shared.setdefault("log", []).append(self.key)


def record(path: Path, run_id: str, *keys: str) -> None:
    nodes = [Add(key) for key in keys]
    for a, b in zip(nodes, nodes[1:], strict=False):
        a >> b
    Flow(start=nodes[0], db_path=path, run_id=run_id).run({})


def columns(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {r[1] for r in conn.execute("PRAGMA table_info(pf_checkpoints)")}
    finally:
        conn.close()


def v2_file(path: Path) -> Path:
    """A file as schema 2 left it: one-node runs (full rows only), no delta columns.

    Recorded into another file and copied (SQLite's backup: the WAL's pages included), so
    no writer thread of this process has ``path`` open: its background WAL copy would
    change the file's bytes under a test comparing them."""
    source = path.with_name(f"{path.stem}-source.db")
    record(source, "old-1", "a")
    record(source, "old-2", "b")
    src, conn = sqlite3.connect(source), sqlite3.connect(path)
    src.backup(conn)
    src.close()
    for column in DELTA_COLUMNS:
        conn.execute(f"ALTER TABLE pf_checkpoints DROP COLUMN {column}")
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_v2_file_gets_the_delta_columns_and_keeps_reading_its_rows(tmp_path: Path) -> None:
    path = v2_file(tmp_path / "v2.db")
    db = WorkflowDB(path)
    assert db.schema_version == schema.SCHEMA_VERSION >= 3
    assert set(DELTA_COLUMNS) <= columns(path)
    assert dict(db.load_checkpoint("old-1", 0)) == {"a": 0, "log": ["a"]}
    db.close()
    record(path, "new-1", "x", "y", "z")  # written with deltas into the upgraded file
    db = WorkflowDB(path)
    assert dict(db.load_checkpoint("new-1", 2)) == {"x": 0, "log": ["x", "y", "z"], "y": 2, "z": 3}
    assert [c["kind"] for c in db.get_checkpoints("new-1")] == ["full", "delta", "delta"]
    assert db.get_checkpoints("old-2")[0]["kind"] is None  # rows from before: full
    db.close()


def test_a_v2_file_read_without_migrating_loads_its_checkpoints(tmp_path: Path) -> None:
    path = v2_file(tmp_path / "v2.db")
    before = digest(path)
    with open_store(path, readonly=True) as store:
        assert store.load_checkpoint("old-2", 0) == {"b": 0, "log": ["b"]}
        assert json.loads(store.checkpoint_text("old-2", 0) or "") == {"b": 0, "log": ["b"]}
    assert digest(path) == before


def test_pocoflow_checkpoints_read_as_full_snapshots(pocoflow_db: Path) -> None:
    conn = sqlite3.connect(pocoflow_db)
    raw = conn.execute("SELECT run_id, step, store_json FROM pf_checkpoints").fetchall()
    conn.close()
    assert raw
    db = WorkflowDB(pocoflow_db)
    for run_id, step, text in raw:
        assert dict(db.load_checkpoint(run_id, step)) == json.loads(text)
    db.close()


def test_every_reader_sees_the_whole_store_at_a_delta_step(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    record(path, "r-1", "a", "b", "c")
    whole = {"a": 0, "log": ["a", "b", "c"], "b": 2, "c": 3}
    with open_store(path, readonly=True) as store:
        assert [c["kind"] for c in store.get_checkpoints("r-1")] == ["full", "delta", "delta"]
        assert store.load_checkpoint("r-1", 2) == whole
        assert json.loads(store.checkpoint_text("r-1", 2) or "") == whole
    db = WorkflowDB(path)
    (last,) = [c for c in db.get_checkpoints("r-1") if c["step"] == 2]
    assert json.loads(last["store_json"]) == whole  # PocoFlow's method, PocoFlow's meaning
    db.close()
    conn = sqlite3.connect(path)
    stored = conn.execute(
        "SELECT store_json, deleted_json FROM pf_checkpoints WHERE run_id = 'r-1' AND step = 2"
    ).fetchone()
    conn.close()
    assert json.loads(stored[0]) == {"c": 3, "log": ["a", "b", "c"]} and stored[1] == "[]"


def test_a_lost_row_is_named_when_a_step_after_it_is_loaded(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    record(path, "r-1", "a", "b", "c")
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("DELETE FROM pf_checkpoints WHERE run_id = 'r-1' AND step = 1")
    conn.close()
    with open_store(path, readonly=True) as store:
        assert store.load_checkpoint("r-1", 0) == {"a": 0, "log": ["a"]}
        with pytest.raises(CheckpointDamaged, match=r"'r-1' at step 2 .*step 1, which is missing"):
            store.load_checkpoint("r-1", 2)
        raw = json.loads(store.checkpoint_text("r-1", 2) or "")
    assert raw == {"c": 3, "log": ["a", "b", "c"]}  # the row as stored, to look at


def test_a_chain_that_loops_is_refused_not_followed_forever(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    record(path, "r-1", "a", "b", "c")
    conn = sqlite3.connect(path)
    with conn:  # damage: steps 1 and 2 name each other as parent
        conn.execute("UPDATE pf_checkpoints SET parent_step = 2 WHERE run_id = 'r-1' AND step = 1")
    conn.close()
    with open_store(path, readonly=True) as store:
        with pytest.raises(CheckpointDamaged, match=r"'r-1' at step 2 .*loop"):
            store.load_checkpoint("r-1", 2)
