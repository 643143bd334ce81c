"""Ctrl+C and SIGKILL in a real child process recording into a real SQLite file or
PostgreSQL database."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pocketflow_ext import WorkflowDB
from pocketflow_ext.runstore.location import is_url

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
]

SCRIPT = Path(__file__).with_name("crash_flow.py")
RUN_ID = "crashy-0000beef"


@pytest.fixture
def db_path(run_store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Where the child records (both stores); it signals through a file in tmp_path."""
    monkeypatch.setenv("CRASH_FLOW_BLOCKED", str(tmp_path / "blocked"))
    return run_store_url


def start_blocked(db_path: str, stop_at: str, durability: str = "sync") -> subprocess.Popen:
    """Start the child and return once it is blocked inside node ``stop_at``."""
    child = subprocess.Popen(
        [sys.executable, str(SCRIPT), "run", str(db_path), RUN_ID, stop_at, durability],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    blocked = Path(os.environ["CRASH_FLOW_BLOCKED"])
    while not blocked.exists():  # bounded by the test timeout
        if child.poll() is not None:
            raise AssertionError(f"child exited early: {child.communicate()}")
        time.sleep(0.01)
    return child


def resume_in_child(db_path: Path, run_id: str) -> dict:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "resume", str(db_path), run_id],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def integrity(db_path: str) -> str:
    if is_url(db_path):
        return "ok"  # PostgreSQL's own crash recovery; nothing a client can check
    with sqlite3.connect(db_path) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def checkpoints(db_path: Path, run_id: str) -> list[tuple[str, dict]]:
    with WorkflowDB(db_path) as db:
        return [
            (c["node_name"], db.load_checkpoint(run_id, c["step"]).as_dict())
            for c in db.get_checkpoints(run_id)
        ]


def run_row(db_path: Path, run_id: str) -> dict:
    with WorkflowDB(db_path) as db:
        run = db.get_run(run_id)
    assert run is not None
    return run


def test_sigkill_keeps_every_completed_checkpoint_and_an_intact_database(db_path):
    child = start_blocked(db_path, "Review")
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert integrity(db_path) == "ok"
    saved = checkpoints(db_path, RUN_ID)
    assert [name for name, _ in saved] == ["Fetch", "Parse", "Summarise"]
    assert saved[-1][1] == {
        "done": ["Fetch", "Parse", "Summarise"],
        "fetch": "Fetch output",
        "parse": "Parse output",
        "summarise": "Summarise output",
    }


def test_a_killed_run_is_reported_interrupted(db_path):
    child = start_blocked(db_path, "Parse")
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert run_row(db_path, RUN_ID)["status"] == "interrupted"


def test_a_killed_run_resumes_after_its_last_completed_node(db_path):
    child = start_blocked(db_path, "Review")
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    store = resume_in_child(db_path, RUN_ID)
    assert store["done"] == ["Fetch", "Parse", "Summarise", "Review", "Publish"]
    with WorkflowDB(db_path) as db:
        (resumed,) = [r for r in db.list_runs() if r["run_id"] != RUN_ID]
    assert resumed["resumed_from"] == RUN_ID and resumed["status"] == "completed"
    assert integrity(db_path) == "ok"


def test_ctrl_c_marks_the_run_cancelled_and_reraises(db_path):
    child = start_blocked(db_path, "Summarise")
    child.send_signal(signal.SIGINT)
    _out, err = child.communicate()
    assert child.returncode != 0
    assert "KeyboardInterrupt" in err  # re-raised to the top of the program
    run = run_row(db_path, RUN_ID)
    assert run["status"] == "cancelled"
    assert [name for name, _ in checkpoints(db_path, RUN_ID)] == ["Fetch", "Parse"]


def test_a_run_stopped_by_ctrl_c_resumes(db_path):
    child = start_blocked(db_path, "Summarise")
    child.send_signal(signal.SIGINT)
    child.communicate()
    store = resume_in_child(db_path, RUN_ID)
    assert store["done"] == ["Fetch", "Parse", "Summarise", "Review", "Publish"]


def test_a_background_run_cut_off_by_the_program_ending_is_interrupted_and_resumable(db_path):
    subprocess.run(
        [sys.executable, str(SCRIPT), "background", str(db_path), RUN_ID, "Review"],
        check=True,
        capture_output=True,
    )
    assert run_row(db_path, RUN_ID)["status"] == "interrupted"
    assert [name for name, _ in checkpoints(db_path, RUN_ID)] == ["Fetch", "Parse", "Summarise"]
    store = resume_in_child(db_path, RUN_ID)
    assert store["done"] == ["Fetch", "Parse", "Summarise", "Review", "Publish"]
