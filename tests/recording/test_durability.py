"""Durability modes: what survives a SIGKILL, a normal exit mid-run and the end of a run.

Each claim of docs/persistence.md is checked with a real child process, on both run
stores (a real SQLite file, a real PostgreSQL database).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pocketflow_ext import Flow, Node, WorkflowDB

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
]

CHILD = Path(__file__).with_name("durability_child.py")
RUN_ID = "child-00000001"


@pytest.fixture
def db_path(run_store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Where the child records (both stores); it signals through a file in tmp_path."""
    monkeypatch.setenv("DURABILITY_BLOCKED", str(tmp_path / "blocked"))
    return run_store_url


def start(
    db_path: str, durability: str, stop_at: int, *extra: str, env: dict[str, str] | None = None
) -> subprocess.Popen:
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(db_path), RUN_ID, durability, str(stop_at), *extra],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    blocked = Path(os.environ["DURABILITY_BLOCKED"])
    while not blocked.exists():  # bounded by the test timeout
        if child.poll() is not None and not blocked.exists():
            raise AssertionError(f"child exited early: {child.communicate()}")
        time.sleep(0.01)
    return child


def kill(child: subprocess.Popen) -> None:
    os.kill(child.pid, signal.SIGKILL)
    child.wait()


def rows(db_path: str) -> tuple[list[str], list[str]]:
    """(node_end paths, checkpoint node names) of the child's run."""
    db = WorkflowDB(db_path, readonly=True)
    ends = [e["node_name"] for e in db.get_events(RUN_ID) if e["event"] == "node_end"]
    checkpoints = [c["node_name"] for c in db.get_checkpoints(RUN_ID)]
    db.close()
    return ends, checkpoints


def intact(db_path: str) -> bool:
    """An SQLite file passes its integrity check (a PostgreSQL server guards its own)."""
    if "://" in db_path:
        return True
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


def test_sync_keeps_every_finished_node_through_sigkill(db_path: str) -> None:
    kill(start(db_path, "sync", stop_at=4))
    assert intact(db_path)
    assert rows(db_path) == (["N1", "N2", "N3"], ["N1", "N2", "N3"])
    assert WorkflowDB(db_path).get_run(RUN_ID)["status"] == "interrupted"


def test_async_commits_rows_in_the_background_before_the_run_ends(db_path: str) -> None:
    child = start(db_path, "async", stop_at=4)
    # The child is blocked in N4 and commits nothing itself: only the writer thread can
    # make N1-N3 appear (the docs promise about 20 ms; the test timeout bounds the wait).
    while rows(db_path)[1] != ["N1", "N2", "N3"]:
        time.sleep(0.02)
    kill(child)
    assert intact(db_path)
    assert rows(db_path) == (["N1", "N2", "N3"], ["N1", "N2", "N3"])
    assert WorkflowDB(db_path).get_run(RUN_ID)["status"] == "interrupted"


def test_exit_loses_the_unfinished_run_rows_on_sigkill_but_keeps_its_run_row(
    db_path: str,
) -> None:
    kill(start(db_path, "exit", stop_at=4))
    assert intact(db_path)
    assert rows(db_path) == ([], [])
    assert WorkflowDB(db_path).get_run(RUN_ID)["status"] == "interrupted"


def test_exit_rows_moved_to_a_temporary_file_vanish_with_a_killed_process(
    db_path: str, tmp_path: Path
) -> None:
    spill_dir = tmp_path / "tmp"
    spill_dir.mkdir()
    kill(start(db_path, "exit", 4, "spill", env={"TMPDIR": str(spill_dir)}))
    assert intact(db_path)
    assert rows(db_path) == ([], [])
    assert list(spill_dir.iterdir()) == []  # the temporary file had no name to leave behind


@pytest.mark.parametrize("extra", [(), ("spill",)], ids=["in memory", "spilled"])
@pytest.mark.parametrize("durability", ["async", "exit"])
def test_rows_of_a_run_in_progress_are_committed_at_interpreter_exit(
    db_path: str, durability: str, extra: tuple[str, ...]
) -> None:
    child = start(db_path, durability, 3, "exit", *extra)
    assert child.wait() == 0, child.communicate()
    assert rows(db_path) == (["N1", "N2"], ["N1", "N2"])


class Put(Node):
    def post(self, shared, prep_res, exec_res):
        shared[self.name] = True


@pytest.mark.parametrize("durability", ["sync", "async", "exit"])
def test_every_row_is_committed_when_run_returns(db_path: str, durability: str) -> None:
    nodes = [Put() for _ in range(5)]
    for i, node in enumerate(nodes):
        node.name = f"N{i + 1}"
    for a, b in zip(nodes, nodes[1:], strict=False):
        a >> b
    flow = Flow(start=nodes[0], db_path=db_path, durability=durability)
    flow.run({})
    # a separate connection sees only committed data
    reader = WorkflowDB(db_path, readonly=True)
    run = reader.list_runs()[0]
    assert run["status"] == "completed" and run["total_steps"] == 5
    assert len(reader.get_checkpoints(run["run_id"])) == 5
    assert len(reader.get_events(run["run_id"])) == 12
