"""The background writer: heartbeats of live runs, slow node starts, group commits, Ctrl+C."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import tracemalloc
from pathlib import Path

import pytest

from pocketflow_ext import CheckpointDamaged, Flow, Node, WorkflowDB
from pocketflow_ext.recording import writer
from pocketflow_ext.runstore import runs as schema
from pocketflow_ext.runstore import sqlite as sqlite_store
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


# ── a row that cannot be built or written costs only itself ──────────────────────
class Squat(Node):
    """Saves a checkpoint for step 2 of its own run first (say, another program did),
    so the recorder's own checkpoint of step 2 breaks a UNIQUE constraint."""

    def __init__(self, db_path: Path) -> None:
        super().__init__()
        self.db_path = db_path

    def post(self, shared, prep_res, exec_res):
        with WorkflowDB(self.db_path) as db:
            db.save_checkpoint(shared["run_id"], 2, "Squatter", {"squatted": True})


class Huge(Node):
    """Puts an int json.dumps refuses (over 4,300 digits) into a store of plain scalars."""

    def post(self, shared, prep_res, exec_res):
        shared["huge"] = 10**5000


class Surrogate(Node):
    """A node named from ``os.fsdecode`` of a non-UTF-8 file name (a lone surrogate),
    which also drops the huge int again."""

    def __init__(self) -> None:
        super().__init__()
        self.name = "report-\udcff.txt"

    def post(self, shared, prep_res, exec_res):
        del shared["huge"]
        shared["file"] = "report-\udcff.txt"


def chain(*nodes: Node) -> Node:
    for a, b in zip(nodes, nodes[1:], strict=False):
        a >> b
    return nodes[0]


def run_with_id(flow: Flow, run_id: str) -> threading.Thread:
    def target() -> None:
        with run_options(RunOptions(run_id=run_id)):
            flow.run({"run_id": run_id})

    thread = threading.Thread(target=target)
    thread.start()
    return thread


@pytest.mark.parametrize("durability", ["async", "sync", "exit"])
def test_rows_of_forty_runs_survive_poisoned_rows_of_some(tmp_path: Path, durability: str) -> None:
    db_path = tmp_path / "r.db"
    good = Flow(start=chain(Put(), Put(), Put()), db_path=db_path, durability=durability)
    poisoned = Flow(
        start=chain(Squat(db_path), Huge(), Surrogate(), Put()),
        db_path=db_path,
        durability=durability,
    )
    threads = [run_with_id(poisoned if i % 5 == 0 else good, f"run-{i:02d}") for i in range(40)]
    for thread in threads:
        thread.join()
    reader = WorkflowDB(db_path, readonly=True)
    for i in range(40):
        run_id = f"run-{i:02d}"
        run = reader.get_run(run_id)
        assert run is not None and run["status"] == "completed", run_id
        events = reader.get_events(run_id)
        kinds = [e["event"] for e in events]
        ends = {e["step"] for e in events if e["event"] == "node_end"}
        checkpoints = {c["step"]: c["node_name"] for c in reader.get_checkpoints(run_id)}
        errors = {e["step"]: e["error_msg"] for e in events if e["event"] == "record_error"}
        assert kinds[0] == "flow_start" and kinds[-1] == "flow_end", run_id
        if i % 5:
            assert kinds.count("node_start") == 3 and "record_error" not in kinds
            assert ends == set(checkpoints) == {0, 1, 2}, run_id
            continue
        assert kinds.count("node_start") == 4
        # Step 1 (the huge int): its node_end and checkpoint, built as one unit, are
        # recorded faithfully, or their loss is recorded on the run, naming the step.
        # Step 3 (a delta of step 2) appears only if it was captured before the writer
        # lost step 2: it would build on the squatter's row, so it is not written.
        assert set(errors) - {3} in ({2}, {1, 2})
        if 1 in errors:
            assert errors[1].startswith("could not record the rows of the node_end event")
            assert "4300 digits" in errors[1]
        assert ends == {0, 1, 2, 3} - (set(errors) - {2, 3})
        # Step 2: its checkpoint broke the constraint and is the only row lost; its event
        # was kept (the node name stored with the surrogate escaped).
        assert "could not record the checkpoint" in errors[2] and "UNIQUE" in errors[2]
        assert checkpoints[2] == "Squatter"
        assert set(checkpoints) == {0, 1, 2, 3} - (set(errors) - {2})
        assert "report-\\udcff.txt" in [e["node_name"] for e in events]
        if 3 in errors:  # never the squatter's store with step 3's changes on top
            assert "builds on the checkpoint of step 2" in errors[3]
            with pytest.raises(KeyError, match="no checkpoint"):
                reader.load_checkpoint(run_id, 3)
        else:  # written in full: the lost step 2 made the tracker start afresh
            assert reader.load_checkpoint(run_id, 3)["file"] == "report-\udcff.txt"


class Tally(Node):
    """Appends its step to a list in the store (a mutable value: captured on the flow's
    thread in every mode) and remembers the store it leaves; the eighth reorders the keys
    (a full snapshot in any mode)."""

    def __init__(self, seen: dict[int, dict]) -> None:
        super().__init__()
        self.seen = seen

    def post(self, shared, prep_res, exec_res):
        step = len(self.seen)
        shared.setdefault("log", []).append(step)
        shared["n"] = step
        if step == 7:
            shared["log"] = shared.pop("log")
        self.seen[step] = {"log": list(shared["log"]), "n": step}


@pytest.mark.parametrize("durability", ["sync", "async", "exit"])
def test_a_lost_checkpoint_never_reads_back_as_a_wrong_store(
    tmp_path: Path, durability: str
) -> None:
    db_path = tmp_path / "r.db"
    seen: dict[int, dict] = {}
    flow = Flow(
        start=chain(*[Tally(seen) for _ in range(12)]), db_path=db_path, durability=durability
    )
    poison = sqlite3.connect(db_path)
    poison.execute(
        "CREATE TRIGGER poison BEFORE INSERT ON pf_checkpoints WHEN NEW.step = 3 "
        "BEGIN SELECT RAISE(ABORT, 'poisoned checkpoint'); END"
    )
    poison.commit()
    poison.close()
    run_in_thread(flow, "lost-3").join()
    reader = WorkflowDB(db_path, readonly=True)
    errors = [e for e in reader.get_events("lost-3") if e["event"] == "record_error"]
    assert [(e["step"], "poisoned checkpoint" in e["error_msg"]) for e in errors] == [(3, True)]
    with pytest.raises(KeyError, match="no checkpoint"):
        reader.load_checkpoint("lost-3", 3)
    damaged: list[int] = []
    for step in [0, 1, 2, *range(4, 12)]:
        try:
            store = reader.load_checkpoint("lost-3", step)
        except CheckpointDamaged as exc:
            assert "builds on step 3, which is missing" in str(exc), exc
            damaged.append(step)
            continue
        assert store == seen[step], step
    # Only deltas captured before the writer lost step 3 build on it: from the next full
    # snapshot on (at the latest the reordering at step 7), every step loads exactly.
    assert damaged == list(range(4, 4 + len(damaged)))
    assert len(damaged) <= 3
    if durability == "sync":  # the tracker heard of the loss before step 4 was captured
        assert damaged == []
    if durability == "exit":  # nothing is written before the run ends
        assert damaged == [4, 5, 6]


# ── a database file deleted while the process lives ──────────────────────────────
def delete_database(db_path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)


def run_ids(db_path: Path) -> list[str]:
    with WorkflowDB(db_path, readonly=True) as db:
        return sorted(r["run_id"] for r in db.list_runs())


@pytest.mark.parametrize("durability", ["sync", "async", "exit"])
def test_a_new_flow_on_a_deleted_database_file_creates_it_again(
    tmp_path: Path, durability: str
) -> None:
    db_path = tmp_path / "r.db"
    with run_options(RunOptions(run_id="before-1")):
        Flow(start=Put(), db_path=db_path, durability=durability).run({})
    delete_database(db_path)
    with run_options(RunOptions(run_id="after-1")):
        Flow(start=Put(), db_path=db_path, durability=durability).run({})
    assert db_path.is_file()
    assert run_ids(db_path) == ["after-1"]
    with WorkflowDB(db_path, readonly=True) as db:
        assert db.get_run("after-1")["status"] == "completed"
        assert [c["node_name"] for c in db.get_checkpoints("after-1")] == ["Put"]


def test_a_flow_built_before_its_database_was_deleted_records_into_the_new_file(
    tmp_path: Path,
) -> None:
    db_path = tmp_path / "r.db"
    flow = Flow(start=Put(), db_path=db_path)
    with run_options(RunOptions(run_id="before-1")):
        flow.run({})
    delete_database(db_path)
    with run_options(RunOptions(run_id="after-1")):
        flow.run({})
    assert run_ids(db_path) == ["after-1"]
    assert flow.db.get_run("after-1")["status"] == "completed"


def test_a_run_in_progress_keeps_its_file_while_new_flows_get_the_new_one(
    tmp_path: Path,
) -> None:
    db_path = tmp_path / "r.db"
    gate = Gate()
    long = Flow(start=gate, db_path=db_path)
    thread = run_in_thread(long, "long-1")
    gate.entered.wait()
    moved = tmp_path / "moved.db"
    for suffix in ("", "-wal", "-shm"):  # moved away: the open file lives on under its new name
        Path(f"{db_path}{suffix}").rename(f"{moved}{suffix}")
    with run_options(RunOptions(run_id="new-1")):
        Flow(start=Put(), db_path=db_path).run({})
    gate.release.set()
    thread.join()
    assert run_ids(db_path) == ["new-1"]
    with WorkflowDB(moved, readonly=True) as db:
        assert db.get_run("long-1")["status"] == "completed"


# ── bounded growth: the WAL, the async queue, exit mode's memory ────────────────
class Blob(Node):
    """Replaces a nested store value of about ``size`` bytes (so every checkpoint is new text)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def post(self, shared, prep_res, exec_res):
        shared["n"] = shared.get("n", 0) + 1
        shared["blob"] = {"n": shared["n"], "rows": ["x" * 100] * (self.size // 104)}


class Text(Node):
    """Replaces a string of about ``size`` bytes: a store of immutable values, which async
    and exit modes copy on the flow's thread and capture later on the writer's."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def post(self, shared, prep_res, exec_res):
        shared["n"] = shared.get("n", 0) + 1
        shared["blob"] = f"{shared['n']}:" + "x" * self.size


class Reader:
    """A connection held open for the whole test, querying as a monitor does (only far
    more often: hundreds of times a second)."""

    def __init__(self, db_path: Path) -> None:
        self.conn = sqlite3.connect(db_path, check_same_thread=False)
        self.stop = threading.Event()
        self.queries = 0
        self.thread = threading.Thread(target=self._read)
        self.thread.start()

    def _read(self) -> None:
        while not self.stop.wait(0.002):
            self.conn.execute("SELECT count(*) FROM pf_events").fetchall()
            self.conn.execute("SELECT step FROM pf_checkpoints ORDER BY id DESC LIMIT 1").fetchall()
            self.queries += 1

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.conn.close()


@pytest.mark.parametrize("durability", ["sync", "async"])
def test_the_wal_stays_near_its_limit_while_a_monitor_keeps_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, durability: str
) -> None:
    limit = 1024 * 1024
    monkeypatch.setattr(sqlite_store, "WAL_LIMIT_BYTES", limit)
    db_path = tmp_path / "r.db"
    flow = Flow(
        start=chain(*[Blob(20_000) for _ in range(20)]), db_path=db_path, durability=durability
    )
    flow.run({})
    reader = Reader(db_path)
    peak = 0
    try:
        for _ in range(80):  # 1,600 checkpoints of 20 KB: 32 MB of pages, 32x the limit
            flow.run({})
            peak = max(peak, os.stat(f"{db_path}-wal").st_size)
    finally:
        reader.close()
    assert reader.queries > 0
    assert os.stat(db_path).st_size > 24 * 1024 * 1024  # the pages did reach the database
    # Unbounded, it would hold all 32 MB (measured here: 1-2x the limit).
    assert peak < 4 * limit


def test_the_async_queue_holds_at_most_its_bound_while_the_database_is_locked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "MAX_QUEUED_ROWS", 40)
    db_path = tmp_path / "r.db"
    ran: list[int] = []

    class Count(Node):
        def post(self, shared, prep_res, exec_res):
            ran.append(1)

    flow = Flow(start=chain(*[Count() for _ in range(100)]), db_path=db_path, durability="async")
    queue = writer.writer_for(db_path)
    lock = sqlite3.connect(db_path, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # the writer cannot commit: a slow disk, another process
    thread = run_in_thread(flow, "flood-1")
    wait_until(lambda: queue.waits_for_room > 0)  # the flow is waiting for room
    # Each node queues two row groups (its start, its end).
    assert queue.peak_queued_rows == 40 and len(ran) <= 20
    lock.execute("COMMIT")
    lock.close()
    thread.join()
    assert queue.peak_queued_rows == 40
    reader = WorkflowDB(db_path, readonly=True)
    assert reader.get_run("flood-1")["status"] == "completed"
    assert len(reader.get_checkpoints("flood-1")) == 100  # nothing dropped


@pytest.mark.parametrize("node", [Blob, Text])
def test_the_async_queue_holds_at_most_its_byte_bound_of_checkpoints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, node: type[Node]
) -> None:
    bound = 200_000
    monkeypatch.setattr(writer, "MAX_QUEUED_BYTES", bound)
    db_path = tmp_path / "r.db"
    flow = Flow(
        start=chain(*[node(50_000) for _ in range(60)]), db_path=db_path, durability="async"
    )
    queue = writer.writer_for(db_path)
    lock = sqlite3.connect(db_path, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")
    ran: list[int] = []
    flow.on("node_end", lambda *args: ran.append(1))
    thread = run_in_thread(flow, "flood-1")
    wait_until(lambda: queue.waits_for_room > 0)  # the flow is waiting for room
    assert len(ran) < 10  # four checkpoints of 50 KB fill 200 KB
    lock.execute("COMMIT")
    lock.close()
    thread.join()
    assert bound - 60_000 < queue.peak_queued_bytes <= bound
    assert len(WorkflowDB(db_path, readonly=True).get_checkpoints("flood-1")) == 60


@pytest.mark.parametrize("node", [Blob, Text])
def test_exit_mode_memory_does_not_grow_with_nodes_times_store_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, node: type[Node]
) -> None:
    monkeypatch.setattr(writer, "EXIT_SPILL_BYTES", 1024 * 1024)

    def peak_memory(nodes: int) -> int:
        db_path = tmp_path / f"{nodes}.db"
        flow = Flow(
            start=chain(*[node(100_000) for _ in range(nodes)]), db_path=db_path, durability="exit"
        )
        tracemalloc.start()
        try:
            with run_options(RunOptions(run_id=f"exit-{nodes}")):
                flow.run({})
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            reader = WorkflowDB(db_path, readonly=True)
            assert len(reader.get_checkpoints(f"exit-{nodes}")) == nodes
            assert reader.load_checkpoint(f"exit-{nodes}", nodes - 1)["n"] == nodes

    few, many = peak_memory(30), peak_memory(240)
    # Held in memory, 210 more checkpoints of 100 KB would be 21 MB more.
    assert many < few + 3 * 1024 * 1024
