"""The background writer: heartbeats of live runs, slow node starts, group commits, Ctrl+C."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from pocketflow_ext import Flow, Node, WorkflowDB
from pocketflow_ext.runstore import runs as schema
from pocketflow_ext.stream.scope import RunOptions, run_options

pytestmark = pytest.mark.timeout(60)


class Gate(Node):
    """Blocks in exec until ``release`` is set; ``entered`` tells the test it is inside."""

    def __init__(self) -> None:
        super().__init__()
        self.entered, self.release = threading.Event(), threading.Event()

    def exec(self, prep_res):
        self.entered.set()
        self.release.wait()


class Put(Node):
    def post(self, shared, prep_res, exec_res):
        shared["put"] = True


def run_in_thread(flow: Flow, run_id: str) -> threading.Thread:
    def target() -> None:
        with run_options(RunOptions(run_id=run_id)):
            flow.run({})

    thread = threading.Thread(target=target)
    thread.start()
    return thread


def read(db_path: Path, fn):
    db = WorkflowDB(db_path, readonly=True)
    try:
        return fn(db)
    finally:
        db.close()


def wait_until(check) -> None:
    while not check():  # bounded by the test timeout
        time.sleep(0.02)


def test_heartbeat_stays_fresh_while_a_node_runs_long(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schema, "HEARTBEAT_INTERVAL_S", 0.05)
    gate = Gate()
    flow = Flow(start=gate, db_path=tmp_path / "r.db")
    thread = run_in_thread(flow, "long-1")
    gate.entered.wait()
    first = read(tmp_path / "r.db", lambda db: db.get_run("long-1")["heartbeat_at"])
    wait_until(
        lambda: read(tmp_path / "r.db", lambda db: db.get_run("long-1")["heartbeat_at"]) > first
    )
    assert read(tmp_path / "r.db", lambda db: db.get_run("long-1")["status"]) == "running"
    gate.release.set()
    thread.join()


def test_sync_commits_the_start_of_a_slow_node_while_it_runs(tmp_path: Path) -> None:
    gate = Gate()
    first = Put()
    first >> gate
    flow = Flow(start=first, db_path=tmp_path / "r.db", flow_name="slow")
    thread = run_in_thread(flow, "slow-1")
    gate.entered.wait()

    def started() -> bool:
        events = read(tmp_path / "r.db", lambda db: db.get_events("slow-1"))
        return [e["event"] for e in events][-1:] == ["node_start"]

    wait_until(started)  # the writer commits it after SLOW_START_S
    assert read(tmp_path / "r.db", lambda db: db.get_run("slow-1")["current_node"]) == "Gate"
    gate.release.set()
    thread.join()
    events = read(tmp_path / "r.db", lambda db: db.get_events("slow-1"))
    assert [e["event"] for e in events] == [
        "flow_start",
        "node_start",
        "node_end",
        "node_start",
        "node_end",
        "flow_end",
    ]


def test_async_commits_finished_nodes_while_the_run_goes_on(tmp_path: Path) -> None:
    gate = Gate()
    first = Put()
    first >> gate
    flow = Flow(start=first, db_path=tmp_path / "r.db", durability="async")
    thread = run_in_thread(flow, "async-1")
    gate.entered.wait()
    # The flow's thread is blocked in Gate: only the writer thread can commit Put's rows.
    wait_until(lambda: len(read(tmp_path / "r.db", lambda db: db.get_checkpoints("async-1"))) == 1)
    gate.release.set()
    thread.join()
    assert read(tmp_path / "r.db", lambda db: db.get_run("async-1")["status"]) == "completed"


@pytest.mark.parametrize("durability", ["async", "exit"])
def test_ctrl_c_commits_everything_before_it_propagates(tmp_path: Path, durability: str) -> None:
    class CtrlC(Node):
        def exec(self, prep_res):
            raise KeyboardInterrupt

    first = Put()
    first >> CtrlC()
    flow = Flow(start=first, db_path=tmp_path / "r.db", durability=durability)
    with run_options(RunOptions(run_id="ctrlc-1")), pytest.raises(KeyboardInterrupt):
        flow.run({})
    reader = WorkflowDB(tmp_path / "r.db", readonly=True)
    assert reader.get_run("ctrlc-1")["status"] == "cancelled"
    assert [c["node_name"] for c in reader.get_checkpoints("ctrlc-1")] == ["Put"]
    assert [e["event"] for e in reader.get_events("ctrlc-1")][-2:] == ["node_error", "flow_end"]


@pytest.mark.parametrize("durability", ["async", "exit"])
def test_one_writer_serves_many_threads_without_losing_rows(
    tmp_path: Path, durability: str
) -> None:
    nodes = [Put() for _ in range(10)]
    for a, b in zip(nodes, nodes[1:], strict=False):
        a >> b
    flow = Flow(start=nodes[0], db_path=tmp_path / "r.db", durability=durability)
    threads = [run_in_thread(flow, f"many-{i}") for i in range(8)]
    for thread in threads:
        thread.join()
    reader = WorkflowDB(tmp_path / "r.db", readonly=True)
    for i in range(8):
        assert reader.get_run(f"many-{i}")["status"] == "completed"
        assert [c["step"] for c in reader.get_checkpoints(f"many-{i}")] == list(range(10))
        assert len(reader.get_events(f"many-{i}")) == 22
