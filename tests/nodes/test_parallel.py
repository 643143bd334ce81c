"""Parallel groups: fan-out/join wiring, concurrency, the state rules, events and failures."""

from __future__ import annotations

import asyncio
import operator
import random
import threading
import time
from typing import Any

import pocketflow
import pytest

import pocketflow_ext as pf
from pocketflow_ext import Parallel
from pocketflow_ext.graph import describe

BARRIER_TIMEOUT = 20  # only reached if branches ran one after another (the test then fails)


class Put(pf.Node):
    """Writes ``value`` to ``key`` in post (after an optional random pause in exec)."""

    def __init__(self, key: str, value: Any = None, jitter: float = 0.0, **kwargs: Any) -> None:
        super().__init__(name=kwargs.pop("name", key), **kwargs)
        self.key, self.value, self.jitter = key, value if value is not None else key, jitter

    def exec(self, prep_res: Any) -> Any:
        if self.jitter:
            time.sleep(random.uniform(0, self.jitter))
        return self.value

    def post(self, shared: Any, prep_res: Any, exec_res: Any) -> Any:
        shared[self.key] = exec_res
        return None


class Append(pf.Node):
    """Adds its own part to ``shared["parts"]`` (with a reducer, only its part)."""

    def __init__(self, part: str, jitter: float = 0.0) -> None:
        super().__init__(name=part)
        self.part, self.jitter = part, jitter

    def exec(self, prep_res: Any) -> Any:
        time.sleep(random.uniform(0, self.jitter))
        return [self.part]

    def post(self, shared: Any, prep_res: Any, exec_res: Any) -> Any:
        shared["parts"] = exec_res
        return None


class AsyncPut(pf.AsyncNode):
    def __init__(self, key: str, jitter: float = 0.0) -> None:
        super().__init__(name=key)
        self.key, self.jitter = key, jitter

    async def exec_async(self, prep_res: Any) -> Any:
        await asyncio.sleep(random.uniform(0, self.jitter))
        return self.key

    async def post_async(self, shared: Any, prep_res: Any, exec_res: Any) -> Any:
        shared[self.key] = exec_res


class WaitAtBarrier(pf.Node):
    """Passes only when every party is at the barrier at once: proves the branches overlap."""

    def __init__(self, name: str, barrier: threading.Barrier) -> None:
        super().__init__(name=name)
        self.barrier = barrier

    def exec(self, prep_res: Any) -> Any:
        self.barrier.wait(timeout=BARRIER_TIMEOUT)

    def post(self, shared: Any, prep_res: Any, exec_res: Any) -> Any:
        shared[self.name] = threading.get_ident()


class Boom(pf.Node):
    def exec(self, prep_res: Any) -> Any:
        raise ValueError("boom in branch")


def flow_of(*nodes: Any, **kwargs: Any) -> pf.Flow:
    """``nodes[0] >> nodes[1] >> ...`` as a flow (lists fan out and join)."""
    start = nodes[0]
    current = start
    for node in nodes[1:]:
        current = current >> node
    return pf.Flow(start=start, **kwargs)


# ── wiring ───────────────────────────────────────────────────────────────────
def test_rshift_with_a_list_fans_out_into_one_group_that_the_join_reuses() -> None:
    start, a, b, merge = Put("s"), Put("a"), Put("b"), Put("m")
    group = start >> [a, b]
    joined = [a, b] >> merge
    assert isinstance(group, Parallel) and group.branches == (a, b)
    assert start.successors["default"] is group
    assert joined is merge and group.successors["default"] is merge


def test_a_join_written_before_its_fan_out_wires_the_same_group() -> None:
    a, b, merge = Put("a"), Put("b"), Put("m")
    [a, b] >> merge
    start = Put("s")
    group = start >> [a, b]  # written after the join: still the same group
    assert isinstance(group, Parallel) and group.successors["default"] is merge
    shared: dict[str, Any] = {}
    pf.Flow(start=start).run(shared)
    assert shared == {"s": "s", "a": "a", "b": "b", "m": "m"}


def test_a_node_in_two_groups_joins_each_group_where_it_was_written() -> None:
    a, b, c, m1, m2 = Put("a"), Put("b"), Put("c"), Put("m1"), Put("m2")
    first, second = Put("s1") >> [a, b], Put("s2") >> [a, c]
    [a, b] >> m1
    [a, c] >> m2
    assert first is not second
    assert first.successors["default"] is m1 and second.successors["default"] is m2


def test_then_and_conditional_edges_fan_out_too() -> None:
    review, a, b, c = Put("r"), Put("a"), Put("b"), Put("c")
    review.then("approve", [a, b])
    review - "reject" >> [c]
    assert isinstance(review.successors["approve"], Parallel)
    assert review.successors["reject"].branches == (c,)


def test_a_parallel_group_runs_inside_an_upstream_flow() -> None:
    a, b = Put("a"), Put("b")
    shared: dict[str, Any] = {}
    pocketflow.Flow(start=Parallel(a, b)).run(shared)
    assert shared == {"a": "a", "b": "b"}


# ── concurrency ──────────────────────────────────────────────────────────────
def test_sync_branches_run_at_the_same_time_on_their_own_threads() -> None:
    barrier = threading.Barrier(3)
    nodes = [WaitAtBarrier(n, barrier) for n in ("x", "y", "z")]
    shared: dict[str, Any] = {}
    flow_of(Put("s"), nodes).run(shared)
    assert len({shared["x"], shared["y"], shared["z"]}) == 3


def test_async_branches_run_at_the_same_time_on_the_running_loop() -> None:
    arrived: list[str] = []
    all_here = asyncio.Event()

    class Meet(pf.AsyncNode):
        async def exec_async(self, prep_res: Any) -> Any:
            arrived.append(self.name)
            if len(arrived) == 3:
                all_here.set()
            await asyncio.wait_for(all_here.wait(), BARRIER_TIMEOUT)

    flow = pf.AsyncFlow(start=Parallel(Meet(name="a"), Meet(name="b"), Meet(name="c")))
    asyncio.run(flow.run_async({}))
    assert sorted(arrived) == ["a", "b", "c"]


@pytest.mark.parametrize("outer", ["sync", "async"])
def test_a_group_mixes_sync_and_async_branches_in_sync_and_async_flows(outer: str) -> None:
    group = Parallel(Put("a"), AsyncPut("b"), flow_of(Put("c1"), Put("c2"), flow_name="c"))
    shared: dict[str, Any] = {}
    if outer == "sync":
        pf.Flow(start=group).run(shared)
    else:
        asyncio.run(pf.AsyncFlow(start=group).run_async(shared))
    assert shared == {"a": "a", "b": "b", "c1": "c1", "c2": "c2"}


def test_max_concurrency_bounds_the_branches_in_flight() -> None:
    lock, running, peak = threading.Lock(), [0], [0]

    class Count(pf.Node):
        def exec(self, prep_res: Any) -> Any:
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            time.sleep(0.01)
            with lock:
                running[0] -= 1

    group = Parallel(*(Count(name=f"n{i}") for i in range(8)), max_concurrency=2)
    pf.Flow(start=group).run({})
    assert 1 <= peak[0] <= 2  # (that branches do overlap is the barrier test's job)


def test_max_concurrency_bounds_async_branches_too() -> None:
    running, peak = [0], [0]

    class Count(pf.AsyncNode):
        async def exec_async(self, prep_res: Any) -> Any:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            await asyncio.sleep(0.01)
            running[0] -= 1

    group = Parallel(*(Count(name=f"n{i}") for i in range(8)), max_concurrency=3)
    asyncio.run(pf.AsyncFlow(start=group).run_async({}))
    assert peak[0] == 3


# ── state rules ──────────────────────────────────────────────────────────────
def test_branches_see_the_store_as_it_was_when_the_group_started() -> None:
    seen: dict[str, Any] = {}

    class Look(pf.Node):
        def prep(self, shared: Any) -> Any:
            seen[self.name] = dict(shared)

    writer, looker = Put("written", jitter=0.0), Look(name="look")
    pf.Flow(start=Parallel(writer, looker)).run({"before": 1})
    assert seen["look"] == {"before": 1}  # never the other branch's write


def test_the_join_applies_writes_in_branch_order_whatever_order_branches_finish() -> None:
    results = set()
    for _ in range(30):
        group = Parallel(
            *(Append(p, jitter=0.005) for p in "abcdef"), reducers={"parts": operator.add}
        )
        shared: dict[str, Any] = {"parts": ["start"]}
        pf.Flow(start=group).run(shared)
        results.add(tuple(shared["parts"]))
    assert results == {("start", "a", "b", "c", "d", "e", "f")}


def test_async_and_mixed_joins_do_not_depend_on_scheduling_either() -> None:
    results = set()
    for _ in range(30):
        group = Parallel(
            AsyncPut("a", jitter=0.003), Put("b", jitter=0.003), AsyncPut("c", jitter=0.003)
        )
        shared: dict[str, Any] = {}
        asyncio.run(pf.AsyncFlow(start=group).run_async(shared))
        results.add(tuple(shared.items()))
    assert results == {(("a", "a"), ("b", "b"), ("c", "c"))}


def test_a_reducer_folds_into_the_value_before_the_group() -> None:
    class Count(pf.Node):
        def post(self, shared: Any, prep_res: Any, exec_res: Any) -> Any:
            shared["count"] = 1  # its own contribution

    group = Parallel(
        Count(name="a"), Count(name="b"), Count(name="c"), reducers={"count": operator.add}
    )
    shared = {"count": 10}
    pf.Flow(start=group).run(shared)
    assert shared["count"] == 13


def test_two_branches_writing_one_key_is_an_error_naming_the_key_and_both_branches() -> None:
    group = Parallel(Put("out", value=1, name="left"), Put("out", value=2, name="right"), Put("ok"))
    shared: dict[str, Any] = {"out": 0}
    with pytest.raises(pf.ParallelConflict) as caught:
        pf.Flow(start=group).run(shared)
    message = str(caught.value)
    assert "'out'" in message and "'left'" in message and "'right'" in message
    assert "reducers=" in message
    assert shared == {"out": 0}  # nothing applied: no half-joined store


def test_merge_combines_every_branch_write_itself() -> None:
    received: dict[str, Any] = {}

    def merge(store: Any, writes: dict[str, dict[str, Any]]) -> None:
        received.update(writes)
        store["out"] = [w["out"] for w in writes.values()]

    group = Parallel(
        Put("out", value=1, name="left"), Put("out", value=2, name="right"), merge=merge
    )
    shared: dict[str, Any] = {}
    pf.Flow(start=group).run(shared)
    assert shared == {"out": [1, 2]}
    assert list(received) == ["left", "right"]


def test_a_deleted_key_is_a_write_and_is_deleted_at_the_join() -> None:
    class Drop(pf.Node):
        def post(self, shared: Any, prep_res: Any, exec_res: Any) -> Any:
            del shared["temp"]

    shared = {"temp": 1, "keep": 2}
    pf.Flow(start=Parallel(Drop(), Put("new"))).run(shared)
    assert shared == {"keep": 2, "new": "new"}


def test_a_deletion_of_a_reduced_key_is_refused() -> None:
    class Drop(pf.Node):
        def post(self, shared: Any, prep_res: Any, exec_res: Any) -> Any:
            del shared["parts"]

    group = Parallel(Drop(), Append("a"), reducers={"parts": operator.add})
    with pytest.raises(pf.ParallelConflict, match="deleted key 'parts'"):
        pf.Flow(start=group).run({"parts": []})


def test_branches_share_nested_values_a_shallow_copy_does_not_copy_them() -> None:
    class Mutate(pf.Node):
        def post(self, shared: Any, prep_res: Any, exec_res: Any) -> Any:
            shared["config"]["touched"] = True  # in place: documented as unsafe

    shared: dict[str, Any] = {"config": {}}
    pf.Flow(start=Parallel(Mutate(), Put("x"))).run(shared)
    assert shared["config"] == {"touched": True}  # the one shared dict was changed in place


def test_a_store_checks_its_schema_and_tells_observers_at_the_join() -> None:
    store = pf.Store({"a": "", "b": ""}, schema={"a": str, "b": str})
    changes: list[tuple[str, Any, Any]] = []
    store.add_observer(lambda key, old, new: changes.append((key, old, new)))
    pf.Flow(start=Parallel(Put("a"), Put("b"))).run(store)
    assert changes == [("a", "", "a"), ("b", "", "b")]
    with pytest.raises(pf.StoreTypeError, match="'b'"):
        pf.Flow(start=Parallel(Put("a"), Put("b", value=3))).run(store)


# ── branch flows, nesting, events ────────────────────────────────────────────
def test_a_branch_flow_runs_its_own_graph_and_reports_paths_below_the_group(
    events: list[pf.Event],
) -> None:
    fetch, parse = Put("fetched", name="Fetch"), Put("parsed", name="Parse")
    fetch >> parse
    branch = pf.Flow(start=fetch, flow_name="b")
    flow = flow_of(Put("s", name="Start"), [Put("a", name="a"), branch], flow_name="F")
    shared: dict[str, Any] = {}
    flow.run(shared)
    assert shared == {"s": "s", "a": "a", "fetched": "fetched", "parsed": "parsed"}
    starts = [e.path for e in events if e.kind == "node_start"]
    assert starts[:2] == ["F/Start", "F/Parallel"]
    assert {"F/Parallel/a", "F/Parallel/b", "F/Parallel/b/Fetch", "F/Parallel/b/Parse"} <= set(
        starts
    )
    ends = [e.path for e in events if e.kind == "node_end"]
    assert sorted(starts) == sorted(ends)  # one end per start
    assert ends[-1] == "F/Parallel"  # the group ends after all its branches
    steps = [e.step for e in events if e.kind == "node_start"]
    assert sorted(steps) == list(range(len(steps)))  # unique steps from one counter


def test_hooks_see_branch_nodes_relative_to_the_flow_they_are_registered_on() -> None:
    names: list[str] = []
    lock = threading.Lock()

    def on_end(name: str, action: Any, elapsed: float, store: Any) -> None:
        with lock:
            names.append(name)

    inner = flow_of(Put("x", name="X"), flow_name="inner")
    flow = pf.Flow(start=Parallel(Put("a", name="A"), inner)).on("node_end", on_end)
    flow.run({})
    assert sorted(names) == ["Parallel", "Parallel/A", "Parallel/inner", "Parallel/inner/X"]


def test_a_group_nested_in_a_branch_flow_reports_nested_paths(events: list[pf.Event]) -> None:
    inner = pf.Flow(start=Parallel(Put("x"), Put("y"), name="Inner"), flow_name="b")
    flow = pf.Flow(start=Parallel(Put("a"), inner, name="Outer"), flow_name="F")
    shared: dict[str, Any] = {}
    flow.run(shared)
    assert shared == {"a": "a", "x": "x", "y": "y"}
    paths = {e.path for e in events if e.kind == "node_end"}
    assert {"F/Outer/b/Inner/x", "F/Outer/b/Inner/y", "F/Outer/b/Inner", "F/Outer/a"} <= paths


def test_a_retry_inside_a_branch_is_reported_with_the_branch_path(events: list[pf.Event]) -> None:
    calls = []

    class Flaky(pf.Node):
        def exec(self, prep_res: Any) -> Any:
            calls.append(1)
            if len(calls) == 1:
                raise OSError("flaky")

    pf.Flow(start=Parallel(Flaky(max_retries=2), Put("a")), flow_name="F").run({})
    retries = [e for e in events if e.kind == "node_retry"]
    assert [(e.path, e.attempt) for e in retries] == [("F/Parallel/Flaky", 1)]


def test_duplicate_branch_classes_get_unique_names_within_the_group() -> None:
    group = Parallel(Put("a", name="Put"), Put("b", name="Put"))
    assert group.branch_names() == ["Put", "Put#2"]


def test_the_graph_description_lists_a_groups_branches() -> None:
    inner = flow_of(Put("x", name="X"), flow_name="sub")
    flow = flow_of(Put("s", name="S"), [Put("a", name="A"), inner], Put("m", name="M"))
    graph = describe(flow)
    group = next(n for n in graph["nodes"] if n["kind"] == "parallel")
    assert [b["name"] for b in group["branches"]] == ["A", "sub"]
    assert group["branches"][1]["graph"]["nodes"][0]["name"] == "X"
    assert {"from": "Parallel", "to": "M", "action": "default"} in graph["edges"]


# ── failure ──────────────────────────────────────────────────────────────────
GATE_STARTED = threading.Event()


class Gate(pf.Node):
    """Waits until the failing branch has failed, then runs; records that it ran."""

    def __init__(self, name: str, failed: threading.Event, ran: list[str]) -> None:
        super().__init__(name=name)
        self.failed, self.ran = failed, ran

    def exec(self, prep_res: Any) -> Any:
        GATE_STARTED.set()
        self.failed.wait(BARRIER_TIMEOUT)
        time.sleep(0.05)  # let the group see the failure first
        self.ran.append(self.name)


class FailAndSignal(pf.Node):
    def __init__(self, failed: threading.Event) -> None:
        super().__init__(name="bad")
        self.failed = failed

    def exec(self, prep_res: Any) -> Any:
        GATE_STARTED.wait(BARRIER_TIMEOUT)  # fail while the other branch is mid-node
        raise ValueError("bad branch")

    def exec_fallback(self, prep_res: Any, exc: Exception) -> Any:
        self.failed.set()
        raise exc


def test_a_failing_branch_fails_the_group_and_stops_the_others_before_their_next_node(
    events: list[pf.Event],
) -> None:
    failed, ran = threading.Event(), []
    GATE_STARTED.clear()
    first, second = Gate("first", failed, ran), Put("second")
    first >> second
    slow = pf.Flow(start=first, flow_name="slow")
    flow = pf.Flow(start=Parallel(FailAndSignal(failed), slow), flow_name="F")
    with pytest.raises(ValueError, match="bad branch"):
        flow.run({})
    assert ran == ["first"]  # finished its node, then stopped
    paths = [e.path for e in events if e.kind == "node_start"]
    assert "F/Parallel/slow/second" not in paths
    assert any(e.kind == "flow_end" and e.path == "F" and e.status == "failed" for e in events)
    errors = {e.path for e in events if e.kind == "node_error"}
    assert {"F/Parallel/bad", "F/Parallel/slow", "F/Parallel"} <= errors


def test_on_error_finish_lets_the_other_branches_finish_then_raises() -> None:
    failed, ran = threading.Event(), []
    GATE_STARTED.clear()
    first, second = Gate("first", failed, ran), Put("second")
    first >> second
    slow = pf.Flow(start=first, flow_name="slow")
    shared: dict[str, Any] = {}
    with pytest.raises(ValueError, match="bad branch"):
        pf.Flow(start=Parallel(FailAndSignal(failed), slow, on_error="finish")).run(shared)
    assert ran == ["first"] and shared == {}  # finished, but a failed group applies nothing


def test_a_failing_async_branch_cancels_the_other_async_branches(events: list[pf.Event]) -> None:
    class Slow(pf.AsyncNode):
        async def exec_async(self, prep_res: Any) -> Any:
            await asyncio.sleep(BARRIER_TIMEOUT)

    class Bad(pf.AsyncNode):
        async def exec_async(self, prep_res: Any) -> Any:
            await asyncio.sleep(0.01)
            raise ValueError("bad async branch")

    flow = pf.AsyncFlow(start=Parallel(Slow(), Bad()), flow_name="F")
    started = time.monotonic()
    with pytest.raises(ValueError, match="bad async branch"):
        asyncio.run(flow.run_async({}))
    assert time.monotonic() - started < BARRIER_TIMEOUT
    errors = [e for e in events if e.kind == "node_error" and e.path == "F/Parallel/Slow"]
    assert len(errors) == 1


def test_cancel_from_a_run_handle_stops_every_branch(events: list[pf.Event]) -> None:
    started = threading.Event()

    class Tick(pf.Node):
        def exec(self, prep_res: Any) -> Any:
            started.set()
            time.sleep(0.01)

        def post(self, shared: Any, prep_res: Any, exec_res: Any) -> Any:
            return "again"

    def looping(name: str) -> pf.Flow:
        tick = Tick(name="Tick")
        tick - "again" >> tick
        return pf.Flow(start=tick, flow_name=name)

    flow = pf.Flow(start=Parallel(looping("a"), looping("b")), flow_name="F")
    handle = flow.run_background({})
    assert started.wait(BARRIER_TIMEOUT)
    handle.cancel()
    with pytest.raises(pf.RunCancelled):
        handle.wait(timeout=BARRIER_TIMEOUT)
    assert handle.status == "cancelled"
    starts = [e for e in events if e.kind == "node_start"]
    ends = [e for e in events if e.kind in ("node_end", "node_error")]
    assert len(starts) == len(ends)


# ── bad input ────────────────────────────────────────────────────────────────
@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((), {}, "at least one branch"),
        (("not a node",), {}, "not a node or flow"),
        ((Put("a"),), {"on_error": "ignore"}, "on_error must be"),
        ((Put("a"),), {"max_concurrency": 0}, "max_concurrency must be"),
        ((Put("a"),), {"max_workers": -1}, "max_workers must be"),
        ((Put("a"),), {"reducers": {"k": 1}}, "reducer for key 'k'"),
        ((Put("a"),), {"merge": print, "reducers": {"k": operator.add}}, "not both"),
        ((Put("a"),), {"executor": "gpu"}, "executor must be"),
    ],
)
def test_bad_arguments_are_refused_with_what_to_do(
    args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(pf.ConfigurationError, match=message):
        Parallel(*args, **kwargs)


def test_the_same_node_twice_is_refused() -> None:
    node = Put("a")
    with pytest.raises(pf.ConfigurationError, match="given twice"):
        Parallel(node, node)


def test_a_store_that_is_not_a_dict_is_refused() -> None:
    with pytest.raises(TypeError, match="needs the shared store to be a dict"):
        Parallel(Put("a")).run([])  # type: ignore[arg-type]


def test_a_flow_with_a_group_pickles_with_its_branches_and_settings() -> None:
    import pickle

    start, merge = Put("s"), Put("m")
    start >> [Append("a"), Append("b")] >> merge
    start.successors["default"].reducers = {"parts": operator.add}
    clone = pickle.loads(pickle.dumps(pf.Flow(start=start, flow_name="F")))
    shared: dict[str, Any] = {"parts": []}
    clone.run(shared)
    assert shared == {"s": "s", "parts": ["a", "b"], "m": "m"}
