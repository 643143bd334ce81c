"""Run scope: dormant flows, run ids, run options and the cancel flag."""

from __future__ import annotations

import asyncio
import re
import threading

import pytest

import pocketflow_ext
from pocketflow_ext import AsyncNode, AsyncParallelBatchFlow, Flow, Node, RunCancelled
from pocketflow_ext.stream.scope import RunOptions, current_frame, run_options


class SeeFrame(Node):
    def post(self, shared, prep_res, exec_res):
        frame = current_frame()
        shared.setdefault("frames", []).append(frame and frame.node)


def test_a_flow_nobody_listens_to_runs_dormant_without_a_scope() -> None:
    shared: dict = {}
    Flow(start=SeeFrame()).run(shared)
    assert shared["frames"] == [None]


def test_a_flow_with_a_hook_runs_inside_a_scope() -> None:
    shared: dict = {}
    Flow(start=SeeFrame()).on("node_end", lambda *a: None).run(shared)
    assert shared["frames"] == ["SeeFrame"]
    assert current_frame() is None  # and the scope is gone afterwards


def test_run_ids_name_the_flow_and_differ_per_run(events) -> None:
    flow = Flow(start=SeeFrame(), flow_name="pipeline")
    flow.run({})
    flow.run({})
    ids = {e.run_id for e in events}
    assert len(ids) == 2 and all(re.fullmatch(r"pipeline-[0-9a-f]{8}", i) for i in ids)


def test_run_options_set_the_next_runs_id_only() -> None:
    seen: list[str] = []
    flow = Flow(start=SeeFrame()).subscribe(lambda e: seen.append(e.run_id))
    with run_options(RunOptions(run_id="chosen-1")):
        flow.run({})
        flow.run({})
    assert seen[0] == "chosen-1" and seen[-1] != "chosen-1"


def test_a_set_cancel_flag_stops_the_run_before_the_next_node(events) -> None:
    cancel = threading.Event()

    class CancelAfter(Node):
        def post(self, shared, prep_res, exec_res):
            shared["ran"] = True
            cancel.set()

    first = CancelAfter()
    first >> SeeFrame()
    shared: dict = {}
    with run_options(RunOptions(cancel=cancel)), pytest.raises(RunCancelled, match="SeeFrame"):
        Flow(start=first).run(shared)
    assert shared == {"ran": True}
    assert events[-1].kind == "flow_end" and events[-1].status == "cancelled"


def test_global_subscribe_returns_an_unsubscribe_function() -> None:
    seen: list[str] = []
    unsubscribe = pocketflow_ext.subscribe(lambda e: seen.append(e.kind))
    Flow(start=SeeFrame()).run({})
    unsubscribe()
    unsubscribe()  # a second call is harmless
    Flow(start=SeeFrame()).run({})
    assert seen == ["flow_start", "node_start", "node_end", "flow_end"]


def test_global_subscribe_rejects_non_callables() -> None:
    with pytest.raises(TypeError, match="callable"):
        pocketflow_ext.subscribe("not a function")  # type: ignore[arg-type]


def test_cancelling_a_parallel_batch_flow_leaves_every_node_start_closed(events) -> None:
    cancel = threading.Event()

    class Branch(AsyncNode):
        async def exec_async(self, prep_res):
            if self.params["i"] == 0:
                cancel.set()
            await asyncio.sleep(0)

    class Items(AsyncParallelBatchFlow):
        async def prep_async(self, shared):
            return [{"i": i} for i in range(3)]

    first = Branch()
    first >> Branch()
    with run_options(RunOptions(cancel=cancel)), pytest.raises(RunCancelled):
        asyncio.run(Items(start=first).run_async({}))
    started = {(e.run_id, e.step) for e in events if e.kind == "node_start"}
    closed = [(e.run_id, e.step) for e in events if e.kind in ("node_end", "node_error")]
    assert sorted(closed) == sorted(started) and len(closed) == len(set(closed))
    assert events[-1].kind == "flow_end" and events[-1].status == "cancelled"


def test_a_process_wide_hook_hears_every_top_level_run_as_if_on_its_top_flow() -> None:
    from pocketflow_ext.stream.scope import add_global_hook

    calls: list[tuple] = []
    remove_end = add_global_hook("node_end", lambda name, *rest: calls.append(("end", name)))
    remove_flow = add_global_hook("flow_end", lambda steps, store: calls.append(("flow", steps)))
    try:
        inner = Flow(start=SeeFrame(), flow_name="Inner")
        Flow(start=inner, flow_name="Outer").run({})
    finally:
        remove_end()
        remove_flow()
    # Nested names relative to the top flow; flow_end of the top flow only.
    assert calls == [("end", "Inner/SeeFrame"), ("end", "Inner"), ("flow", 1)]
    Flow(start=SeeFrame()).run({})
    assert len(calls) == 3  # removed: the next run is dormant and calls nothing
