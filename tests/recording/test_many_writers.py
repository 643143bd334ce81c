"""8 threads and 4 processes recording runs into one run store (an SQLite file, a
PostgreSQL database) at the same time."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
from many_writers_flow import NODES, record_runs, wait_for

from pocketflow_ext import WorkflowDB

pytestmark = pytest.mark.timeout(180)

THREADS, PROCESSES, RUNS = 8, 4, 8
SCRIPT = Path(__file__).with_name("many_writers_flow.py")


def record_everywhere(db_path: str, go: Path, durability: str) -> None:
    """Start every writer, release them together, and fail on any error they met."""
    children = [
        subprocess.Popen(
            [sys.executable, str(SCRIPT), str(db_path), f"p{i}", str(RUNS), durability, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(PROCESSES)
    ]
    errors: list[BaseException] = []

    def thread_writer(name: str) -> None:
        try:
            wait_for(go)
            record_runs(str(db_path), name, RUNS, durability)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=thread_writer, args=(f"t{i}",)) for i in range(THREADS)]
    for t in threads:
        t.start()
    go.touch()
    for t in threads:
        t.join()
    outputs = [child.communicate() for child in children]
    assert errors == []
    for child, (_out, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err
        assert "locked" not in err and "Traceback" not in err, err


@pytest.mark.parametrize("durability", ["sync", "async", "exit"])
def test_every_run_of_every_writer_is_recorded_whole_and_terminal(
    run_store_url: str, tmp_path: Path, durability: str
) -> None:
    db_path = run_store_url
    record_everywhere(db_path, tmp_path / "go", durability)
    with WorkflowDB(db_path) as db:
        runs = db.list_runs(limit=None)
        assert len(runs) == (THREADS + PROCESSES) * RUNS
        assert Counter(r["status"] for r in runs) == {"completed": len(runs)}
        writers: Counter[str] = Counter()
        for run in runs:
            events = db.get_events(run["run_id"])
            kinds = Counter(e["event"] for e in events)
            assert kinds == {"flow_start": 1, "node_start": 5, "node_end": 5, "flow_end": 1}
            saved = db.get_checkpoints(run["run_id"])
            assert [c["node_name"] for c in saved] == list(NODES)
            last = db.load_checkpoint(run["run_id"], saved[-1]["step"])
            assert last["done"] == list(NODES)
            writers[last["writer"]] += 1
    expected = {f"t{i}": RUNS for i in range(THREADS)} | {f"p{i}": RUNS for i in range(PROCESSES)}
    assert writers == expected
