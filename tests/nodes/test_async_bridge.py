"""AsyncNode inside a synchronous Flow, with or without a running event loop."""

from __future__ import annotations

import asyncio

import pytest

from pocketflow_ext import AsyncFlow, AsyncNode, Flow, Node


class Fetch(AsyncNode):
    async def prep_async(self, shared):
        return shared["q"]

    async def exec_async(self, q):
        await asyncio.sleep(0)
        return q.upper()

    async def post_async(self, shared, prep_res, exec_res):
        shared["answer"] = exec_res
        return "fetched"


class PocoStyle(AsyncNode):
    """PocoFlow's style: synchronous prep and post around an async exec."""

    def prep(self, shared):
        return shared["q"]

    async def exec_async(self, q):
        await asyncio.sleep(0)
        return q[::-1]

    def post(self, shared, prep_res, exec_res):
        shared["reversed"] = exec_res
        return "done"


class Boom(AsyncNode):
    async def exec_async(self, prep_res):
        raise LookupError("async boom")


def test_an_async_node_runs_inside_a_sync_flow() -> None:
    shared = {"q": "hi"}
    assert Flow(start=Fetch()).run(shared) == "fetched"
    assert shared == {"q": "hi", "answer": "HI"}


def test_pocoflow_style_sync_prep_and_post_with_async_exec() -> None:
    shared = {"q": "abc"}
    fetch = Fetch()
    fetch - "fetched" >> PocoStyle()
    assert Flow(start=fetch).run(shared) == "done"
    assert shared["reversed"] == "cba"


def test_pocoflow_style_node_runs_natively_in_an_async_flow() -> None:
    shared = {"q": "xy"}
    assert asyncio.run(AsyncFlow(start=PocoStyle()).run_async(shared)) == "done"
    assert shared["reversed"] == "yx"


def test_a_sync_flow_with_async_nodes_runs_inside_a_running_event_loop(events) -> None:
    async def handler() -> tuple:
        shared = {"q": "loop"}
        flow = Flow(start=Fetch(), flow_name="web")
        return flow.run(shared), shared

    action, shared = asyncio.run(handler())
    assert action == "fetched" and shared["answer"] == "LOOP"
    # The node ran on a helper thread but still reported into the run's scope.
    assert [(e.kind, e.path) for e in events] == [
        ("flow_start", "web"),
        ("node_start", "web/Fetch"),
        ("node_end", "web/Fetch"),
        ("flow_end", "web"),
    ]


def test_a_nested_async_flow_runs_inside_a_sync_flow(events) -> None:
    inner = AsyncFlow(start=Fetch(), flow_name="Inner")
    head = Node()
    head >> inner
    shared = {"q": "n"}
    Flow(start=head, flow_name="Outer").run(shared)
    assert shared["answer"] == "N"
    assert [e.path for e in events if e.kind == "node_end"] == [
        "Outer/Node",
        "Outer/Inner/Fetch",
        "Outer/Inner",
    ]


def test_an_async_node_runs_alone_from_sync_code() -> None:
    shared = {"q": "solo"}
    assert Fetch().run(shared) == "fetched" and shared["answer"] == "SOLO"


@pytest.mark.parametrize("in_loop", [False, True], ids=["no-loop", "running-loop"])
def test_exceptions_from_the_coroutine_reach_the_caller_unchanged(in_loop: bool) -> None:
    flow = Flow(start=Boom())

    async def inside() -> None:
        flow.run({})

    with pytest.raises(LookupError, match="async boom"):
        asyncio.run(inside()) if in_loop else flow.run({})


def test_async_retries_work_through_the_bridge() -> None:
    class Flaky(AsyncNode):
        async def exec_async(self, prep_res):
            self.calls = getattr(self, "calls", 0) + 1
            if self.calls < 3:
                raise TimeoutError
            return self.calls

        async def post_async(self, shared, prep_res, exec_res):
            shared["calls"] = exec_res

    shared: dict = {}
    Flow(start=Flaky(max_retries=3)).run(shared)
    assert shared == {"calls": 3}
