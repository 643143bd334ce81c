"""flow.on / flow.subscribe on every flow kind: one start and one end-or-error per node run."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from pocketflow_ext import (
    EVENT_KINDS,
    AsyncBatchFlow,
    AsyncFlow,
    AsyncNode,
    AsyncParallelBatchFlow,
    BatchFlow,
    ConfigurationError,
    Event,
    Flow,
    HookError,
    Node,
)


class Step(Node):
    def post(self, shared, prep_res, exec_res):
        shared.setdefault("ran", []).append((type(self).__name__, dict(self.params)))


class Later(Step):
    pass


class Wait(AsyncNode):
    async def exec_async(self, prep_res):
        await asyncio.sleep(0)  # let parallel branches interleave

    async def post_async(self, shared, prep_res, exec_res):
        shared.setdefault("ran", []).append((type(self).__name__, dict(self.params)))


class Fail(Node):
    def exec(self, prep_res):
        raise ValueError("node failed")


ITEMS = [{"i": 0}, {"i": 1}, {"i": 2}]


class Items(BatchFlow):
    def prep(self, shared):
        return ITEMS


class AsyncItems(AsyncBatchFlow):
    async def prep_async(self, shared):
        return ITEMS


class ParallelItems(AsyncParallelBatchFlow):
    async def prep_async(self, shared):
        return ITEMS


def two_step(flow_cls: type, first: Any) -> Any:
    first >> Later()
    return flow_cls(start=first)


def nested() -> Flow:
    inner = two_step(Flow, Step())
    head = Step()
    head >> inner
    return Flow(start=head, flow_name="Outer")


# kind -> (build, number of node executions the outer flow's hooks see)
KINDS: dict[str, tuple[Callable[[], Any], int]] = {
    "Flow": (lambda: two_step(Flow, Step()), 2),
    "BatchFlow": (lambda: two_step(Items, Step()), 6),
    "AsyncFlow": (lambda: two_step(AsyncFlow, Wait()), 2),
    "AsyncBatchFlow": (lambda: two_step(AsyncItems, Wait()), 6),
    "AsyncParallelBatchFlow": (lambda: two_step(ParallelItems, Wait()), 6),
    "nested Flow": (nested, 4),  # Step, the inner flow, and its Step and Later
}


def run(flow: Any, shared: Any) -> Any:
    if isinstance(flow, AsyncFlow):
        return asyncio.run(flow.run_async(shared))
    return flow.run(shared)


def hook_calls(flow: Any) -> list[tuple]:
    calls: list[tuple] = []
    for kind in EVENT_KINDS:
        flow.on(kind, lambda *args, _kind=kind: calls.append((_kind, *args[:-1])))
    return calls


def assert_balanced(events: list[Event]) -> None:
    """Every node_start has exactly one node_end or node_error with the same run and step."""
    open_steps: dict[tuple[str, int], str] = {}
    for event in events:
        if event.kind == "node_start":
            assert (event.run_id, event.step) not in open_steps
            open_steps[(event.run_id, event.step)] = event.path
        elif event.kind in ("node_end", "node_error"):
            assert open_steps.pop((event.run_id, event.step)) == event.path
    assert open_steps == {}


@pytest.mark.parametrize("kind", KINDS)
def test_every_flow_kind_gives_one_start_and_one_end_per_node_run(kind: str, events) -> None:
    build, expected = KINDS[kind]
    flow = build()
    calls = hook_calls(flow)
    run(flow, {})
    starts = [c for c in calls if c[0] == "node_start"]
    ends = [c for c in calls if c[0] == "node_end"]
    assert len(starts) == len(ends) == expected
    assert Counter(c[1] for c in starts) == Counter(c[1] for c in ends)
    assert [c[0] for c in calls if c[0].startswith("flow")] == ["flow_start", "flow_end"]
    assert_balanced(events)


@pytest.mark.parametrize("kind", KINDS)
def test_every_flow_kind_keeps_upstreams_results(kind: str) -> None:
    build, _ = KINDS[kind]
    quiet, hooked = {}, {}
    run(build(), quiet)
    flow = build()
    hook_calls(flow)
    run(flow, hooked)
    assert sorted(hooked["ran"], key=repr) == sorted(quiet["ran"], key=repr)


def test_hooks_get_pocoflow_signatures() -> None:
    flow = two_step(Flow, Step())
    flow.flow_name = "demo"
    store: dict = {}
    calls: list[tuple] = []
    flow.on("flow_start", lambda name, s: calls.append(("flow_start", name, s is store)))
    flow.on("node_start", lambda name, s: calls.append(("node_start", name, s is store)))
    flow.on(
        "node_end",
        lambda name, action, elapsed, s: calls.append(
            ("node_end", name, action, elapsed >= 0, s is store)
        ),
    )
    flow.on("flow_end", lambda steps, s: calls.append(("flow_end", steps, s is store)))
    flow.run(store)
    assert calls == [
        ("flow_start", "demo", True),
        ("node_start", "Step", True),
        ("node_end", "Step", None, True, True),
        ("node_start", "Later", True),
        ("node_end", "Later", None, True, True),
        ("flow_end", 2, True),
    ]


def test_batch_flow_events_carry_each_items_params(events) -> None:
    flow = two_step(ParallelItems, Wait())
    asyncio.run(flow.run_async({}))
    starts = [e for e in events if e.kind == "node_start"]
    assert sorted((e.node, e.params["i"]) for e in starts) == [
        (name, i) for name in ("Later", "Wait") for i in range(3)
    ]


def test_parallel_branches_interleave_and_stay_balanced(events) -> None:
    flow = two_step(ParallelItems, Wait())
    asyncio.run(flow.run_async({}))
    kinds = [e.kind for e in events if e.node == "Wait"]
    # All three branches started before the first one ended: they really ran concurrently.
    assert kinds[:3] == ["node_start"] * 3
    assert_balanced(events)


def test_nested_flow_paths_are_relative_to_the_hooked_flow(events) -> None:
    inner = two_step(Flow, Step())
    inner.flow_name = "Inner"
    head = Step()
    head >> inner
    outer = Flow(start=head, flow_name="Outer")
    outer_names: list[str] = []
    inner_names: list[str] = []
    outer.on("node_start", lambda name, store: outer_names.append(name))
    inner.on("node_start", lambda name, store: inner_names.append(name))
    outer.run({})
    assert outer_names == ["Step", "Inner", "Inner/Step", "Inner/Later"]
    assert inner_names == ["Step", "Later"]
    assert [e.path for e in events if e.kind == "node_start"] == [
        "Outer/Step",
        "Outer/Inner",
        "Outer/Inner/Step",
        "Outer/Inner/Later",
    ]
    steps = [e.step for e in events if e.kind == "node_start"]
    assert steps == [0, 1, 2, 3]  # one step counter for the whole run


def test_flow_start_and_end_hooks_fire_only_for_their_own_flow() -> None:
    flow = nested()
    calls = hook_calls(flow)
    flow.run({})
    # steps counts the nodes of the hooked flow's own graph (Step and the inner flow).
    assert [c for c in calls if c[0].startswith("flow")] == [
        ("flow_start", "Outer"),
        ("flow_end", 2),
    ]


def test_a_failing_node_gives_node_error_then_flow_end_and_the_exception(events) -> None:
    first = Step()
    first >> Fail()
    flow = Flow(start=first)
    calls = hook_calls(flow)
    with pytest.raises(ValueError, match="node failed"):
        flow.run({})
    assert [c[:2] for c in calls] == [
        ("flow_start", "Flow"),
        ("node_start", "Step"),
        ("node_end", "Step"),
        ("node_start", "Fail"),
        ("node_error", "Fail"),
        ("flow_end", 2),
    ]
    error = next(e for e in events if e.kind == "node_error")
    assert error.error == "ValueError: node failed" and "node failed" in error.traceback
    assert isinstance(error.exc, ValueError)
    assert next(e for e in events if e.kind == "flow_end").status == "failed"
    assert_balanced(events)


def test_a_failure_inside_a_nested_flow_errors_the_inner_node_and_the_flow_node(events) -> None:
    inner = Flow(start=Fail(), flow_name="Inner")
    outer = Flow(start=inner, flow_name="Outer")
    with pytest.raises(ValueError):
        outer.run({})
    assert [(e.kind, e.path) for e in events if e.kind.startswith("node")] == [
        ("node_start", "Outer/Inner"),
        ("node_start", "Outer/Inner/Fail"),
        ("node_error", "Outer/Inner/Fail"),
        ("node_error", "Outer/Inner"),
    ]
    assert [(e.path, e.status) for e in events if e.kind == "flow_end"] == [
        ("Outer/Inner", "failed"),
        ("Outer", "failed"),
    ]


def test_a_failing_async_branch_is_balanced(events) -> None:
    class Boom(AsyncNode):
        async def exec_async(self, prep_res):
            await asyncio.sleep(0)
            if self.params["i"] == 1:
                raise KeyError("branch 1")

    with pytest.raises(KeyError):
        asyncio.run(ParallelItems(start=Boom()).run_async({}))
    errors = [e for e in events if e.kind == "node_error"]
    assert [e.params for e in errors] == [{"i": 1}]
    assert_balanced(events)


def test_a_raising_hook_is_logged_and_the_run_and_other_hooks_continue(ext_logs) -> None:
    flow = two_step(Flow, Step())

    def broken(name, store):
        raise RuntimeError("hook bug")

    later: list[str] = []
    flow.on("node_start", broken).on("node_start", lambda name, store: later.append(name))
    shared: dict = {}
    flow.run(shared)
    assert later == ["Step", "Later"] and len(shared["ran"]) == 2
    logged = [r for r in ext_logs.records if r.name == "pocketflow_ext.hooks"]
    assert len(logged) == 2 and "broken" in logged[0].getMessage()


def test_a_raising_subscriber_is_logged_and_never_breaks_the_run(ext_logs) -> None:
    flow = two_step(Flow, Step())
    flow.subscribe(lambda event: 1 / 0)
    assert flow.run({}) is None
    assert any(r.exc_info and r.exc_info[0] is ZeroDivisionError for r in ext_logs.records)


def test_hooks_and_subscribers_run_in_registration_order() -> None:
    flow = Flow(start=Step())
    order: list[str] = []
    flow.on("node_start", lambda n, s: order.append("hook-1"))
    flow.subscribe(lambda e: order.append("sub") if e.kind == "node_start" else None)
    flow.on("node_start", lambda n, s: order.append("hook-2"))
    flow.run({})
    assert order == ["hook-1", "sub", "hook-2"]


def test_on_and_subscribe_return_the_flow_for_chaining() -> None:
    flow = Flow(start=Step())
    assert flow.on("node_end", print) is flow
    assert flow.subscribe(print) is flow
    assert flow.unsubscribe(print) is flow


def test_unsubscribe_removes_a_hook() -> None:
    flow = Flow(start=Step())
    seen: list[str] = []

    def hook(name, store):
        seen.append(name)

    flow.on("node_start", hook).unsubscribe(hook)
    flow.run({})
    assert seen == []


def test_unknown_event_is_a_value_error_listing_the_events() -> None:
    with pytest.raises(ValueError, match="node_strat") as caught:
        Flow(start=Step()).on("node_strat", print)
    assert isinstance(caught.value, HookError)
    assert all(kind in str(caught.value) for kind in EVENT_KINDS)


@pytest.mark.parametrize("bad", [None, "print", 3])
def test_non_callable_hooks_and_subscribers_are_type_errors(bad: Any) -> None:
    flow = Flow(start=Step())
    with pytest.raises(TypeError, match="node_end"):
        flow.on("node_end", bad)
    with pytest.raises(TypeError, match="callable"):
        flow.subscribe(bad)


def test_flow_run_returns_the_last_action_with_hooks_attached() -> None:
    class Decide(Node):
        def post(self, shared, prep_res, exec_res):
            return "final-action"

    flow = Flow(start=Decide())
    flow.on("node_end", lambda *a: None)
    assert flow.run({}) == "final-action"


def test_the_same_flow_run_in_several_threads_keeps_runs_apart(events) -> None:
    flow = two_step(Flow, Wait())
    per_thread: dict[int, list[str]] = {}
    lock = threading.Lock()

    def hook(name, store):
        with lock:
            per_thread.setdefault(store["thread"], []).append(name)

    flow.on("node_start", hook)
    barrier = threading.Barrier(4)

    def worker(i: int) -> None:
        barrier.wait()
        for _ in range(5):
            flow.run({"thread": i})

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert per_thread == {i: ["Wait", "Later"] * 5 for i in range(4)}
    run_ids = {e.run_id for e in events}
    assert len(run_ids) == 20
    assert_balanced(events)
    for run_id in run_ids:
        mine = [e for e in events if e.run_id == run_id]
        assert [e.kind for e in mine][0] == "flow_start" and mine[-1].kind == "flow_end"
        assert [e.step for e in mine if e.kind == "node_start"] == [0, 1]


@pytest.mark.parametrize("bad", ["nightly\nreport", "tab\there", "x" * 10_000, "x" * 192])
def test_a_flow_name_that_cannot_make_a_run_id_is_refused_when_the_flow_is_built(
    bad: str, tmp_path
) -> None:
    with pytest.raises(ConfigurationError, match="flow_name .* cannot name runs: run ids are"):
        Flow(start=Step(), flow_name=bad, db_path=tmp_path / "r.db")
    assert not (tmp_path / "r.db").exists()  # refused before any file is touched


def test_the_longest_flow_name_allowed_records_its_runs(tmp_path) -> None:
    flow = Flow(start=Step(), flow_name="x" * 191, db_path=tmp_path / "r.db")
    flow.run({})
    assert flow.db.list_runs()[0]["run_id"].startswith("x" * 191 + "-")


# ── how a flow reports its handovers ─────────────────────────────────────────
def _first_second() -> tuple[Node, Node]:
    first, second = Step(name="First"), Later(name="Second")
    first >> second
    return first, second


def test_a_dormant_flow_runs_upstreams_handover_as_is() -> None:
    import pocketflow

    # Nothing listens: no method of ours between upstream's loop and its get_next_node.
    assert Flow.get_next_node is pocketflow.Flow.get_next_node
    shared: dict[str, Any] = {}
    Flow(start=_first_second()[0]).run(shared)
    assert [name for name, _ in shared["ran"]] == ["Step", "Later"]


def test_a_get_next_node_override_is_reported_with_what_it_returns_and_sees_the_flow() -> None:
    first, second = _first_second()
    detour = Later(name="Detour")

    class Routed(Flow):
        def get_next_node(self, curr: Any, action: Any) -> Any:
            self.asked = getattr(self, "asked", 0) + 1  # lands on the flow itself
            chosen = super().get_next_node(curr, action)
            return detour if chosen is second else chosen

    starts: list[str] = []
    flow = Routed(start=first).on("node_start", lambda name, store: starts.append(name))
    flow.run({})
    assert starts == ["First", "Detour"]
    assert flow.asked == 2  # after First and after Detour
    assert type(flow) is Routed


def test_hooks_added_or_removed_between_runs_take_effect_on_the_next_run() -> None:
    ends: list[str] = []

    def hook(name: str, action: Any, elapsed: float, store: Any) -> None:
        ends.append(name)

    flow = Flow(start=_first_second()[0])
    flow.run({})
    flow.on("node_end", hook)
    flow.run({})
    assert ends == ["First", "Second"]
    flow.unsubscribe(hook)
    flow.run({})
    assert ends == ["First", "Second"]


def test_a_nested_flows_hooks_get_names_relative_to_where_they_were_registered() -> None:
    inner = Flow(start=_first_second()[0], flow_name="Inner")
    outer = Flow(start=inner, flow_name="Outer")
    inner_ends: list[str] = []
    outer_ends: list[str] = []
    inner.on("node_end", lambda name, action, elapsed, store: inner_ends.append(name))
    outer.on("node_end", lambda name, action, elapsed, store: outer_ends.append(name))
    for _ in range(2):  # the second run uses the listener tables kept from the first
        inner_ends.clear()
        outer_ends.clear()
        outer.run({})
        assert inner_ends == ["First", "Second"]
        assert outer_ends == ["Inner/First", "Inner/Second", "Inner"]


def test_every_event_of_a_run_carries_the_same_run_id() -> None:
    seen: list[Event] = []
    flow = Flow(start=_first_second()[0]).subscribe(seen.append)
    flow.run({})
    assert len({event.run_id for event in seen}) == 1
    assert seen[0].run_id.startswith("Flow-")
