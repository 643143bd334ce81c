"""Delta checkpoints: every step of a real run rebuilds exactly the store as it was then."""

from __future__ import annotations

import asyncio
import copy
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from pocketflow_ext import (
    AsyncFlow,
    AsyncNode,
    AsyncParallelBatchFlow,
    BatchFlow,
    Event,
    Flow,
    Node,
    Store,
    Unserialisable,
    WorkflowDB,
)
from pocketflow_ext.recording.checkpoints import CheckpointTracker
from pocketflow_ext.runstore.checkpoints import DELTA, FULL, chain, reconstruct, store_at
from pocketflow_ext.store.codec import dumps_store, loads


class Tape:
    """A subscriber checkpointing the run the way the recorder does, and keeping, for every
    step, what the store was at that node end (a deep copy and its full-snapshot text)."""

    def __init__(self, live: bool, tracker: CheckpointTracker | None = None) -> None:
        self.live = live
        self.tracker = tracker or CheckpointTracker()
        self.captures: dict[int, Any] = {}
        self.rows: dict[int, dict[str, Any]] = {}
        self.copies: dict[int, Any] = {}
        self.full_texts: dict[int, str] = {}
        self.lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        if event.kind != "node_end":
            return
        step = event.step
        assert step is not None and step not in self.captures
        store = event.store
        data = dict(store)
        self.full_texts[step] = dumps_store(data)[0]
        try:
            self.copies[step] = copy.deepcopy(data)
        except TypeError:  # a lock or client: only the text oracle applies
            pass
        capture = self.tracker.capture(store, step)
        self.captures[step] = capture
        if self.live:  # sync durability renders before the next node runs
            self.rows[step] = row(capture, capture.render(live=True))

    def finish(self) -> dict[int, dict[str, Any]]:
        if not self.live:  # async/exit durability renders later, on the writer's thread
            for step, capture in self.captures.items():
                self.rows[step] = row(capture, capture.render())
        return self.rows

    def check_every_step(self) -> None:
        rows = self.finish()
        assert rows, "no node ended"
        for step in rows:
            rebuilt = store_at(rows, step)
            assert rebuilt == loads(self.full_texts[step]), f"step {step}"
            if step in self.copies:
                assert rebuilt == self.copies[step], f"step {step}"
            # Key order is the store's too, not only the content.
            assert list(rebuilt) == list(loads(self.full_texts[step])), f"step {step}"


def row(capture: Any, text: Any) -> dict[str, Any]:
    """The columns a checkpoint row stores."""
    return {
        "step": capture.step,
        "kind": capture.kind,
        "parent_step": capture.parent_step,
        "store_json": text.store_json,
        "deleted_json": text.deleted_json,
    }


modes = pytest.mark.parametrize("live", [True, False], ids=["rendered-now", "rendered-later"])


# ── nodes that change the store in every way a node can ──────────────────────
class AddKeys(Node):
    def post(self, shared, prep_res, exec_res):
        shared["items"] = [1, 2]
        shared["profile"] = {"name": "Ada", "tags": ["x"]}
        shared["title"] = "draft"
        shared["tmp"] = "scratch"
        shared[7] = "int key"
        shared["pair"] = (1, "a", (2.5, None))
        shared["raw"] = b"\x00\xff"


class AppendInPlace(Node):
    def post(self, shared, prep_res, exec_res):
        shared["items"].append(3)  # no store write: only the content changed
        shared["profile"]["tags"].append("y")


class DeleteKey(Node):
    def post(self, shared, prep_res, exec_res):
        del shared["tmp"]


class ReplaceWithEqual(Node):
    def post(self, shared, prep_res, exec_res):
        shared["title"] = "".join(["dr", "aft"])  # a new, equal object
        shared["items"] = list(shared["items"])


class TouchNothing(Node):
    pass


class Count(Node):
    def post(self, shared, prep_res, exec_res):
        shared["count"] = shared.get("count", 0) + 1


def chain_flow(*nodes: Node, **flow_kwargs: Any) -> Flow:
    for a, b in zip(nodes, nodes[1:], strict=False):
        a >> b
    return Flow(start=nodes[0], **flow_kwargs)


def run_with(flow: Flow, shared: Any, tape: Tape) -> None:
    flow.subscribe(tape)
    flow.run(shared)


@modes
def test_every_step_of_a_flow_rebuilds_the_store_as_it_was(live: bool) -> None:
    tape = Tape(live)
    flow = chain_flow(
        AddKeys(), AppendInPlace(), DeleteKey(), ReplaceWithEqual(), TouchNothing(), Count()
    )
    run_with(flow, {"count": 0}, tape)
    tape.check_every_step()
    kinds = [tape.rows[s]["kind"] for s in sorted(tape.rows)]
    assert kinds == [FULL] + [DELTA] * 5


@modes
def test_a_store_and_a_plain_dict_record_the_same_checkpoints(live: bool) -> None:
    texts = []
    for shared in ({"count": 0}, Store({"count": 0})):
        tape = Tape(live)
        run_with(chain_flow(AddKeys(), AppendInPlace(), DeleteKey(), Count()), shared, tape)
        tape.check_every_step()
        texts.append([tape.rows[s]["store_json"] for s in sorted(tape.rows)])
    assert texts[0] == texts[1]


def test_a_delta_holds_only_what_the_node_changed() -> None:
    tape = Tape(live=True)
    run_with(chain_flow(AddKeys(), AppendInPlace(), DeleteKey(), TouchNothing()), {}, tape)
    rows = [tape.rows[s] for s in sorted(tape.rows)]
    assert loads(rows[1]["store_json"]) == {
        "items": [1, 2, 3],
        "profile": {"name": "Ada", "tags": ["x", "y"]},
    }
    assert (rows[2]["store_json"], loads(rows[2]["deleted_json"])) == ("{}", ["tmp"])
    assert (rows[3]["store_json"], rows[3]["deleted_json"]) == ("{}", "[]")
    assert [r["parent_step"] for r in rows] == [
        None,
        rows[0]["step"],
        rows[1]["step"],
        rows[2]["step"],
    ]


def test_a_key_replaced_by_an_equal_value_rebuilds_and_an_equal_list_is_not_rewritten() -> None:
    tape = Tape(live=True)
    run_with(chain_flow(AddKeys(), ReplaceWithEqual()), {}, tape)
    tape.check_every_step()
    last = loads(tape.rows[max(tape.rows)]["store_json"])
    assert "items" not in last  # same content under a new list object
    assert last.get("title", "draft") == "draft"


class HoldLock(Node):
    def post(self, shared, prep_res, exec_res):
        shared["lock"] = threading.Lock()
        shared["n"] = 1


class KeepGoing(Node):
    def post(self, shared, prep_res, exec_res):
        shared["n"] += 1


@modes
def test_an_unserialisable_value_is_a_marker_at_every_step_and_costs_only_its_key(
    live: bool,
) -> None:
    tape = Tape(live)
    run_with(chain_flow(HoldLock(), KeepGoing(), KeepGoing()), {}, tape)
    tape.check_every_step()
    rows = [tape.rows[s] for s in sorted(tape.rows)]
    assert isinstance(loads(rows[0]["store_json"])["lock"], Unserialisable)
    assert loads(rows[2]["store_json"]) == {"n": 3}  # the unchanged lock is not rewritten


class Inner(Node):
    def post(self, shared, prep_res, exec_res):
        shared.setdefault("log", []).append(f"inner {self.params.get('i')}")


@modes
def test_nested_flows_rebuild_at_the_inner_nodes_and_at_the_nested_flow_itself(live: bool) -> None:
    inner = chain_flow(Inner(), Count())
    outer = chain_flow(AddKeys(), inner, AppendInPlace(), DeleteKey())
    tape = Tape(live)
    run_with(outer, {}, tape)
    assert len(tape.captures) == 6  # four outer steps, two inner nodes
    tape.check_every_step()


class Items(BatchFlow):
    def prep(self, shared):
        return [{"i": i} for i in range(4)]


@modes
def test_batch_flows_rebuild_at_every_item(live: bool) -> None:
    tape = Tape(live)
    flow = Items(start=chain_flow(Inner(), Count()).start_node)
    run_with(flow, {"count": 0}, tape)
    assert len(tape.captures) == 8
    tape.check_every_step()


class Slow(AsyncNode):
    async def exec_async(self, prep_res):
        await asyncio.sleep(0)

    async def post_async(self, shared, prep_res, exec_res):
        shared.setdefault("seen", []).append(self.params["i"])
        shared[f"item_{self.params['i']}"] = {"i": self.params["i"]}
        await asyncio.sleep(0)
        if self.params["i"] % 2:
            shared.pop("scratch", None)


class Fan(AsyncParallelBatchFlow):
    async def prep_async(self, shared):
        shared["scratch"] = [0]
        return [{"i": i} for i in range(6)]


@modes
def test_async_parallel_batch_flows_rebuild_at_every_interleaved_step(live: bool) -> None:
    tape = Tape(live)
    flow = Fan(start=Slow())
    flow.subscribe(tape)
    asyncio.run(flow.run_async({}))
    assert len(tape.captures) == 6
    tape.check_every_step()


def test_threads_checkpointing_one_run_at_once_keep_every_step_rebuildable() -> None:
    tracker = CheckpointTracker()
    shared: dict[str, Any] = {"log": []}
    lock = threading.Lock()
    rows: dict[int, dict[str, Any]] = {}
    expected: dict[int, Any] = {}
    steps = iter(range(400))

    def work(name: str) -> None:
        for _ in range(50):
            with lock:  # the store change and its step number, as one node end
                step = next(steps)
                shared["log"].append(step)
                shared[name] = step
                expected[step] = copy.deepcopy(shared)
                capture = tracker.capture(shared, step)
            rows[step] = row(capture, capture.render())

    threads = [threading.Thread(target=work, args=(f"t{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for step, store in expected.items():
        assert store_at(rows, step) == store


# ── when a full snapshot is written ──────────────────────────────────────────
def counting_run(tracker: CheckpointTracker, shared: dict[str, Any], n: int) -> list[Any]:
    captures = []
    for step in range(n):
        shared["count"] = step
        captures.append(tracker.capture(shared, step))
    return captures


def test_a_full_snapshot_follows_once_the_deltas_would_cost_more_to_read_than_a_full() -> None:
    tracker = CheckpointTracker(row_cost=100, load_floor=0)
    shared = {"text": "x" * 1000}
    kinds = [c.kind for c in counting_run(tracker, shared, 25)]
    assert kinds[0] == FULL
    gaps = [i for i, kind in enumerate(kinds) if kind == FULL]
    # each delta costs its row (100) plus its number (24): eight fit under a 1 KB full
    assert gaps == [0, 9, 18], kinds


def test_a_large_store_with_small_changes_stays_on_deltas_up_to_the_chain_limit() -> None:
    tracker = CheckpointTracker(max_chain=50)
    shared = {f"doc{i}": "lorem ipsum " * 1000 for i in range(100)}  # ~1.2 MB
    captures = counting_run(tracker, shared, 120)
    assert [i for i, c in enumerate(captures) if c.kind == FULL] == [0, 51, 102]
    assert [c.parent_step for c in captures[:3]] == [None, 0, 1]


def test_a_small_store_gets_a_full_snapshot_within_the_load_floor() -> None:
    tracker = CheckpointTracker()  # defaults: 1 KiB per row, 64 KiB floor
    captures = counting_run(tracker, {"query": "hello"}, 200)
    fulls = [i for i, c in enumerate(captures) if c.kind == FULL]
    assert fulls[0] == 0 and 1 < len(fulls) < 10
    assert max(b - a for a, b in zip(fulls, fulls[1:], strict=False)) <= 64


def test_a_store_whose_keys_were_reordered_gets_a_full_snapshot() -> None:
    tracker = CheckpointTracker()
    shared: dict[str, Any] = {"a": 1, "b": 2}
    first = tracker.capture(shared, 0)
    v = shared.pop("a")
    shared["a"] = v  # same keys and values, different order
    second = tracker.capture(shared, 1)
    assert (first.kind, second.kind) == (FULL, FULL)
    assert list(loads(second.render().store_json)) == ["b", "a"]


def test_invalidate_makes_the_next_checkpoint_full() -> None:
    tracker = CheckpointTracker()
    counting_run(tracker, {}, 3)
    tracker.invalidate()
    assert tracker.capture({"count": 9}, 3).kind == FULL


def test_a_non_mapping_shared_is_always_a_full_snapshot_under_shared() -> None:
    tracker = CheckpointTracker()
    captures = [tracker.capture(["a", "list"], step) for step in range(3)]
    assert [c.kind for c in captures] == [FULL] * 3
    assert loads(captures[2].render().store_json) == {"shared": ["a", "list"]}


def test_a_capture_rendered_later_shows_the_store_as_it_was_captured() -> None:
    tracker = CheckpointTracker()
    shared: dict[str, Any] = {"items": [1], "meta": {"k": "v"}}
    first = tracker.capture(shared, 0)
    shared["items"].append(2)
    second = tracker.capture(shared, 1)
    shared["items"].append(3)
    shared["meta"]["k"] = "changed"
    rows = {0: row(first, first.render()), 1: row(second, second.render())}
    assert store_at(rows, 0) == {"items": [1], "meta": {"k": "v"}}
    assert store_at(rows, 1) == {"items": [1, 2], "meta": {"k": "v"}}


def test_values_marshal_refuses_are_compared_by_their_json() -> None:
    class Tagged(list):
        pass

    tracker = CheckpointTracker()
    shared: dict[str, Any] = {"tagged": Tagged([1]), "cycle": []}
    shared["cycle"].append(shared["cycle"])
    tracker.capture(shared, 0)
    assert tracker.capture(shared, 1).keys == []
    shared["tagged"].append(2)
    assert tracker.capture(shared, 2).keys == ["tagged"]


def test_in_place_changes_of_exact_types_are_seen() -> None:
    tracker = CheckpointTracker()
    shared: dict[str, Any] = {"flags": [1], "zero": [0.0], "s": {1}}
    tracker.capture(shared, 0)
    shared["flags"][0] = True  # equal to 1, but JSON writes true
    shared["zero"][0] = -0.0  # equal to 0.0, but JSON writes -0.0
    shared["s"].add(2)
    assert tracker.capture(shared, 1).keys == ["flags", "zero", "s"]


# ── reading ──────────────────────────────────────────────────────────────────
def test_rows_written_before_delta_checkpoints_read_as_full_snapshots() -> None:
    pocoflow_row = {"step": 3, "kind": None, "store_json": '{"a": 1}', "deleted_json": None}
    assert store_at({3: pocoflow_row}, 3) == {"a": 1}


def test_a_delta_whose_parent_row_is_missing_is_a_clear_error() -> None:
    tracker = CheckpointTracker()
    captures = counting_run(tracker, {}, 3)
    rows = {c.step: row(c, c.render()) for c in captures}
    del rows[1]
    with pytest.raises(ValueError, match=r"step 2 builds on step 1, which is missing"):
        store_at(rows, 2)
    with pytest.raises(KeyError, match="no checkpoint for step 1"):
        chain(rows, 1)


def test_a_damaged_row_in_a_chain_is_named_among_good_ones() -> None:
    tracker = CheckpointTracker()
    captures = counting_run(tracker, {}, 4)
    rows = [row(c, c.render()) for c in captures]
    rows[2]["deleted_json"] = '"a", "b"'  # valid inside a list, not on its own
    with pytest.raises(ValueError, match=r"step 2: deleted_json is not valid JSON"):
        reconstruct(rows)


def test_a_delta_without_a_full_snapshot_before_it_is_a_clear_error() -> None:
    delta = {"step": 1, "kind": DELTA, "store_json": "{}", "deleted_json": "[]", "parent_step": 0}
    with pytest.raises(ValueError, match="delta with no full snapshot before it"):
        reconstruct([delta])


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{not json", "store_json is not valid JSON"),
        ("[1, 2]", "holds list, not a JSON object"),
        (None, "store_json is not text"),
    ],
)
def test_a_damaged_row_names_its_step(text: str | None, problem: str) -> None:
    damaged = {"step": 4, "kind": FULL, "store_json": text, "deleted_json": None}
    with pytest.raises(ValueError, match=rf"step 4\b.*{problem}"):
        reconstruct([damaged])


def test_a_full_snapshot_is_the_text_a_store_snapshot_writes() -> None:
    shared: dict[Any, Any] = {"a": [1, (2, 3)], "b": {"x": b"y"}, "c": "é"}
    capture = CheckpointTracker().capture(shared, 0)
    assert capture.render().store_json == dumps_store(shared)[0]
    shared[1] = "int key"
    capture = CheckpointTracker().capture(shared, 0)
    assert capture.render().store_json == dumps_store(shared)[0]


@pytest.mark.parametrize("live", [True, False])
def test_render_names_the_keys_written_as_markers(live: bool) -> None:
    tracker = CheckpointTracker()
    shared: dict[str, Any] = {"lock": threading.Lock(), "n": 1, "items": [1j]}
    assert set(tracker.capture(shared, 0).render(live).lossy) == {"lock", "items"}
    shared["lock"] = threading.Lock()
    assert tracker.capture(shared, 1).render(live).lossy == ("lock",)
    shared["n"] = 2
    assert tracker.capture(shared, 2).render(live).lossy == ()


def test_values_json_cannot_say_directly_come_back_exactly_from_deltas() -> None:
    tracker = CheckpointTracker()
    shared: dict[Any, Any] = {"name": "plain"}
    rows, expected = {}, {}
    changes = [
        ("name", "\udcff-not-utf8.txt"),  # os.fsdecode() of a non-UTF-8 file name
        ("big", 10**5000),
        ("inf", [float("inf"), -0.0]),
        (("tuple", "key"), {1: "int key", "s": {2, 3}}),
        ("__pocketflow_ext__", "our tag as a user key"),
    ]
    for step, (key, value) in enumerate([(None, None), *changes]):
        if key is not None:
            shared[key] = value
        capture = tracker.capture(shared, step)
        rows[step] = row(capture, capture.render())
        expected[step] = copy.deepcopy(shared)
    for step, store in expected.items():
        assert store_at(rows, step) == store


# ── recorded runs: what load_checkpoint returns at every step ─────────────────
class Copies:
    """A subscriber keeping a deep copy of the store at every node end, by step."""

    def __init__(self) -> None:
        self.by_step: dict[int, Any] = {}

    def __call__(self, event: Event) -> None:
        if event.kind == "node_end":
            self.by_step[event.step] = copy.deepcopy(dict(event.store))


def stored_kinds(path: Path, run_id: str) -> list[str | None]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT kind FROM pf_checkpoints WHERE run_id = ? ORDER BY id", (run_id,)
        ).fetchall()
    finally:
        conn.close()
    return [r[0] for r in rows]


def check_recorded(path: Path, copies: Copies) -> str:
    db = WorkflowDB(path)
    try:
        (run,) = db.list_runs()
        assert run["status"] == "completed"
        for step, expected in copies.by_step.items():
            assert dict(db.load_checkpoint(run["run_id"], step)) == expected, f"step {step}"
        return str(run["run_id"])
    finally:
        db.close()


durabilities = pytest.mark.parametrize("durability", ["sync", "async", "exit"])


@durabilities
def test_every_recorded_step_loads_as_the_store_was(tmp_path: Path, durability: str) -> None:
    path = tmp_path / "runs.db"
    inner = chain_flow(Inner(), Count())
    flow = chain_flow(
        AddKeys(),
        AppendInPlace(),
        inner,
        DeleteKey(),
        ReplaceWithEqual(),
        TouchNothing(),
        db_path=path,
        durability=durability,
    )
    copies = Copies()
    flow.subscribe(copies)
    flow.run({"count": 0})
    assert len(copies.by_step) == 8
    run_id = check_recorded(path, copies)
    kinds = stored_kinds(path, run_id)
    assert kinds[0] == FULL and set(kinds[1:]) == {DELTA}


class AddList(Node):
    def post(self, shared, prep_res, exec_res):
        shared["items"] = [shared["count"]]


class AppendItem(Node):
    def post(self, shared, prep_res, exec_res):
        shared["items"].append(shared["count"])


class DropList(Node):
    def post(self, shared, prep_res, exec_res):
        shared["items"].append("last")
        del shared["items"]


@durabilities
def test_steps_captured_now_and_steps_worked_out_on_the_writer_thread_interleave(
    tmp_path: Path, durability: str
) -> None:
    # async/exit: a store of immutable values is only copied at the node end and diffed on
    # the writer thread; a list in the store makes the flow's thread capture at once.
    path = tmp_path / "runs.db"
    flow = chain_flow(
        Count(), Count(), AddList(), Count(), AppendItem(), DropList(), Count(), Count(),
        db_path=path, durability=durability,
    )  # fmt: skip
    copies = Copies()
    flow.subscribe(copies)
    flow.run({"count": 0, "name": "mixed"})
    assert len(copies.by_step) == 8
    check_recorded(path, copies)


@durabilities
def test_every_step_of_a_recorded_parallel_batch_loads_as_the_store_was(
    tmp_path: Path, durability: str
) -> None:
    path = tmp_path / "runs.db"
    outer = AsyncFlow(start=Fan(start=Slow()), db_path=path, durability=durability)
    copies = Copies()
    outer.subscribe(copies)
    asyncio.run(outer.run_async({}))
    assert len(copies.by_step) == 7  # six items and the batch flow itself
    check_recorded(path, copies)


class Grow(Node):
    def post(self, shared, prep_res, exec_res):
        shared["count"] += 1
        return "again" if shared["count"] < 50 else "stop"


def test_a_large_store_is_written_once_not_after_every_node(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    grow = Grow()
    grow - "again" >> grow
    grow - "stop" >> TouchNothing()  # a quiet exit: no upstream "Flow ends" warning
    flow = Flow(start=grow, db_path=path)
    copies = Copies()
    flow.subscribe(copies)
    flow.run({"count": 0, "document": "x" * 200_000, "pages": [f"page {i}" for i in range(2000)]})
    run_id = check_recorded(path, copies)
    conn = sqlite3.connect(path)
    try:
        (stored,) = conn.execute(
            "SELECT sum(length(store_json)) FROM pf_checkpoints WHERE run_id = ?", (run_id,)
        ).fetchone()
    finally:
        conn.close()
    assert 220_000 < stored < 2 * 220_000  # one full snapshot and 49 small deltas


@durabilities
def test_an_unserialisable_value_is_recorded_as_a_marker_at_every_step(
    tmp_path: Path, durability: str
) -> None:
    path = tmp_path / "runs.db"
    flow = chain_flow(HoldLock(), KeepGoing(), KeepGoing(), db_path=path, durability=durability)
    steps = Copies()
    flow.subscribe(
        lambda e: steps.by_step.setdefault(e.step, None) if e.kind == "node_end" else None
    )
    with pytest.warns(UserWarning, match="'lock'"):
        flow.run({})
    db = WorkflowDB(path)
    try:
        (run,) = db.list_runs()
        for step in steps.by_step:
            store = db.load_checkpoint(run["run_id"], step)
            assert isinstance(store["lock"], Unserialisable)
    finally:
        db.close()


# ── Store(in_place="declared"): values change only by writes or touch() ───────
def test_by_default_a_store_s_values_changed_in_place_are_seen() -> None:
    tracker = CheckpointTracker()
    store = Store({"items": [1], "profile": {"name": "a"}, "n": 0})
    assert store.in_place == "detect"
    tracker.capture(store, 0)
    store["items"].append(2)
    store["profile"]["name"] = "b"
    assert tracker.capture(store, 1).keys == ["items", "profile"]


def test_a_declared_store_writes_what_was_assigned_or_touched_only() -> None:
    tracker = CheckpointTracker()
    store = Store({"items": [1], "profile": {"name": "a"}, "n": 0}, in_place="declared")
    tracker.capture(store, 0)
    store["items"].append(2)
    store.touch("items")  # declared: written
    store["profile"]["name"] = "b"  # a broken promise: not compared, not written
    store["n"] = 1
    capture = tracker.capture(store, 1)
    assert capture.keys == ["items", "n"]
    assert loads(capture.render().store_json) == {"items": [1, 2], "n": 1}
    store["profile"] = {"name": "c"}  # assignment is always seen
    assert tracker.capture(store, 2).keys == ["profile"]
    store["items"] = [1, 2]  # assigned an equal value: compared, nothing new to write
    assert tracker.capture(store, 3).keys == []
    store["items"].append(3)
    store["items"] = store["items"]  # the same object assigned: works like touch()
    assert tracker.capture(store, 4).keys == ["items"]
    dict.__setitem__(store, "profile", {"name": "d"})  # around the Store: found by identity
    assert tracker.capture(store, 5).keys == ["profile"]


def test_a_declared_store_s_next_full_snapshot_holds_its_true_state() -> None:
    tracker = CheckpointTracker(max_chain=2)
    store = Store({"items": [1]}, in_place="declared")
    assert tracker.capture(store, 0).kind == FULL
    store["items"].append(2)  # not touched
    assert tracker.capture(store, 1).keys == []
    assert tracker.capture(store, 2).keys == []
    full = tracker.capture(store, 3)  # the chain limit: a full snapshot
    assert full.kind == FULL and loads(full.render().store_json) == {"items": [1, 2]}


def test_a_declared_store_sees_writes_made_between_the_copy_and_the_next_capture() -> None:
    tracker = CheckpointTracker()
    store = Store({"rows": []}, in_place="declared")
    tracker.capture(store, 0)
    store["rows"] = ["a"]
    store.start_tracking()  # the recorder's own call again: keeps the keys gathered so far
    assert tracker.capture(store, 1).keys == ["rows"]
    store["rows"].append("b")
    store.touch("rows")
    assert tracker.capture(store, 2).keys == ["rows"]


class AppendTouched(Node):
    def post(self, shared, prep_res, exec_res):
        shared["items"].append(shared["count"])
        shared.touch("items")
        shared["count"] += 1


class AppendUntouched(Node):
    def post(self, shared, prep_res, exec_res):
        shared["items"].append("untouched")
        shared["count"] += 1


@durabilities
def test_a_declared_store_records_touched_changes_in_every_mode(
    tmp_path: Path, durability: str
) -> None:
    path = tmp_path / "runs.db"
    flow = chain_flow(AppendTouched(), AppendTouched(), db_path=path, durability=durability)
    copies = Copies()
    flow.subscribe(copies)
    flow.run(Store({"count": 0, "items": []}, in_place="declared"))
    check_recorded(path, copies)  # every step loads as the store was


@durabilities
def test_an_untouched_in_place_change_is_recorded_by_default_but_not_when_declared(
    tmp_path: Path, durability: str
) -> None:
    path = tmp_path / "runs.db"
    for in_place in ("detect", "declared"):
        flow = chain_flow(
            AppendTouched(), AppendUntouched(), db_path=path, durability=durability, run_id=in_place
        )
        flow.run(Store({"count": 0, "items": []}, in_place=in_place))
    db = WorkflowDB(path)
    assert dict(db.load_checkpoint("detect", 1)) == {"count": 2, "items": [0, "untouched"]}
    # The broken promise: the untouched append is missing from that step's delta ...
    assert dict(db.load_checkpoint("declared", 1)) == {"count": 2, "items": [0]}
    db.close()
    # ... and a full snapshot, the run's next one, holds the true state again.
    tracker = CheckpointTracker()
    store = Store({"items": []}, in_place="declared")
    tracker.capture(store, 0)
    store["items"].append("untouched")
    tracker.invalidate()
    assert loads(tracker.capture(store, 1).render().store_json) == {"items": ["untouched"]}
