"""The same scenarios built on upstream's classes and on ours must behave identically.

Each scenario is a function of a class set (``pocketflow`` or ``pocketflow_ext``) and a call
log; it returns what the user can observe. Ours runs twice: dormant, and with a
process-wide subscriber attached (the observed path must not change behaviour either).
"""

from __future__ import annotations

import asyncio
import os
import types
import warnings
from collections.abc import Callable
from typing import Any

import pocketflow
import pytest

import pocketflow_ext

Scenario = Callable[[types.ModuleType, list], Any]
SCENARIOS: dict[str, Scenario] = {}


def scenario(fn: Scenario) -> Scenario:
    SCENARIOS[fn.__name__] = fn
    return fn


@scenario
def branching(pf: types.ModuleType, calls: list) -> Any:
    class Decide(pf.Node):
        def prep(self, shared):
            calls.append(("prep", "decide"))
            return shared["x"]

        def exec(self, x):
            calls.append(("exec", x))
            return "big" if x > 10 else "small"

        def post(self, shared, prep_res, exec_res):
            shared["decision"] = exec_res
            return exec_res

    class Say(pf.Node):
        def __init__(self, word):
            super().__init__()
            self.word = word

        def post(self, shared, prep_res, exec_res):
            calls.append(("say", self.word))
            shared.setdefault("said", []).append(self.word)

    results = []
    for x in (3, 30):
        decide = Decide()
        decide - "big" >> Say("big")
        decide - "small" >> Say("small")
        shared = {"x": x}
        results.append((pf.Flow(start=decide).run(shared), shared))
    return results


@scenario
def loop_until_done(pf: types.ModuleType, calls: list) -> Any:
    class Count(pf.Node):
        def prep(self, shared):
            return shared["n"]

        def exec(self, n):
            calls.append(n)
            return n + 1

        def post(self, shared, prep_res, exec_res):
            shared["n"] = exec_res
            return "again" if exec_res < 7 else "done"

    class Finish(pf.Node):
        def post(self, shared, prep_res, exec_res):
            shared["finished"] = True
            return "end"

    count = Count()
    count - "again" >> count
    count - "done" >> Finish()
    shared = {"n": 0}
    return pf.Flow(start=count).run(shared), shared


@scenario
def action_without_edge_ends_with_upstream_warning(pf: types.ModuleType, calls: list) -> Any:
    class Step(pf.Node):
        def post(self, shared, prep_res, exec_res):
            calls.append("step")
            return "unknown"

    step = Step()
    step - "known" >> Step()
    return pf.Flow(start=step).run({})


@scenario
def overwriting_an_edge_and_running_a_node_alone_warn(pf: types.ModuleType, calls: list) -> Any:
    a, b, c = pf.Node(), pf.Node(), pf.Node()
    a >> b
    a >> c
    a - "x" >> b
    a - "x" >> c
    return a.run({}), a.successors == {"default": c, "x": c}


@scenario
def batch_node(pf: types.ModuleType, calls: list) -> Any:
    class Square(pf.BatchNode):
        def prep(self, shared):
            return shared["items"]

        def exec(self, item):
            calls.append(item)
            return item * item

        def post(self, shared, prep_res, exec_res):
            shared["squares"] = exec_res

    empty = Square()
    shared = {"items": [1, 2, 3]}
    other = {"items": None}
    return pf.Flow(start=Square()).run(shared), shared, empty.run(other), other


@scenario
def batch_flow_with_params(pf: types.ModuleType, calls: list) -> Any:
    class Record(pf.Node):
        def prep(self, shared):
            return dict(self.params)

        def post(self, shared, prep_res, exec_res):
            calls.append(prep_res)
            shared.setdefault("seen", []).append(prep_res)

    class Each(pf.BatchFlow):
        def prep(self, shared):
            return [{"i": i} for i in range(3)]

    flow = Each(start=Record())
    flow.set_params({"base": 1})
    shared: dict = {}
    return flow.run(shared), shared


@scenario
def nested_flow_action_drives_outer_edge(pf: types.ModuleType, calls: list) -> Any:
    class Inner(pf.Node):
        def post(self, shared, prep_res, exec_res):
            calls.append("inner")
            shared["inner"] = shared.get("inner", 0) + 1
            return "finished"

    class After(pf.Node):
        def post(self, shared, prep_res, exec_res):
            calls.append("after")
            return "last"

    inner = pf.Flow(start=Inner())
    inner - "finished" >> After()
    outer_start = pf.Node()
    outer_start >> inner
    inner - "last" >> After()
    shared: dict = {}
    return pf.Flow(start=outer_start).run(shared), shared


@scenario
def node_state_is_copied_per_step(pf: types.ModuleType, calls: list) -> Any:
    class Counter(pf.Node):
        def __init__(self):
            super().__init__()
            self.runs = 0

        def post(self, shared, prep_res, exec_res):
            self.runs += 1
            calls.append(self.runs)
            shared["k"] = shared.get("k", 0) + 1
            return "again" if shared["k"] < 3 else None

    node = Counter()
    node - "again" >> node
    shared: dict = {}
    return pf.Flow(start=node).run(shared), shared, node.runs


@scenario
def exception_propagates_unchanged(pf: types.ModuleType, calls: list) -> Any:
    class Boom(pf.Node):
        def exec(self, prep_res):
            calls.append("boom")
            raise KeyError("missing-thing")

    first = pf.Node()
    first >> Boom()
    return pf.Flow(start=first).run({})


@scenario
def retries_then_success_and_fallback(pf: types.ModuleType, calls: list) -> Any:
    class Flaky(pf.Node):
        def __init__(self, fail_times, **kw):
            super().__init__(**kw)
            self.fail_times = fail_times

        def exec(self, prep_res):
            calls.append(("attempt", self.cur_retry))
            if self.cur_retry < self.fail_times:
                raise ValueError(f"fail {self.cur_retry}")
            return "ok"

        def exec_fallback(self, prep_res, exc):
            calls.append(("fallback", str(exc)))
            return "fallback"

        def post(self, shared, prep_res, exec_res):
            shared.setdefault("results", []).append(exec_res)

    recovers = Flaky(2, max_retries=3, wait=0.001)
    gives_up = Flaky(5, max_retries=2)
    recovers >> gives_up
    shared: dict = {}
    return pf.Flow(start=recovers).run(shared), shared


@scenario
def failing_fallback_raises_its_exception(pf: types.ModuleType, calls: list) -> Any:
    class Bad(pf.Node):
        def exec(self, prep_res):
            calls.append("exec")
            raise RuntimeError("exec failed")

    return pf.Flow(start=Bad(max_retries=2)).run({})


@scenario
def async_flow_mixing_sync_and_async_nodes(pf: types.ModuleType, calls: list) -> Any:
    class Fetch(pf.AsyncNode):
        async def prep_async(self, shared):
            return shared["q"]

        async def exec_async(self, q):
            await asyncio.sleep(0)
            calls.append(("fetch", q))
            return q.upper()

        async def post_async(self, shared, prep_res, exec_res):
            shared["answer"] = exec_res
            return "sync"

    class Sync(pf.Node):
        def post(self, shared, prep_res, exec_res):
            calls.append("sync")
            return "done"

    fetch = Fetch()
    fetch - "sync" >> Sync()
    shared = {"q": "hi"}
    return asyncio.run(pf.AsyncFlow(start=fetch).run_async(shared)), shared


@scenario
def async_batch_and_parallel_batch_nodes(pf: types.ModuleType, calls: list) -> Any:
    class Seq(pf.AsyncBatchNode):
        async def prep_async(self, shared):
            return shared["items"]

        async def exec_async(self, item):
            calls.append(("seq", item))
            await asyncio.sleep(0)
            return item * 2

        async def post_async(self, shared, prep_res, exec_res):
            shared["seq"] = exec_res

    class Par(pf.AsyncParallelBatchNode):
        async def prep_async(self, shared):
            return shared["items"]

        async def exec_async(self, item):
            calls.append(("par-start", item))
            await asyncio.sleep(0)
            calls.append(("par-end", item))
            return item * 3

        async def post_async(self, shared, prep_res, exec_res):
            shared["par"] = exec_res

    seq = Seq()
    seq >> Par()
    shared = {"items": [1, 2, 3]}
    return asyncio.run(pf.AsyncFlow(start=seq).run_async(shared)), shared


@scenario
def async_batch_and_parallel_batch_flows(pf: types.ModuleType, calls: list) -> Any:
    class Work(pf.AsyncNode):
        async def prep_async(self, shared):
            return self.params["i"]

        async def exec_async(self, i):
            calls.append(("start", i))
            await asyncio.sleep(0)
            calls.append(("end", i))
            return i

        async def post_async(self, shared, prep_res, exec_res):
            shared.setdefault("done", []).append(exec_res)

    class Seq(pf.AsyncBatchFlow):
        async def prep_async(self, shared):
            return [{"i": i} for i in range(3)]

    class Par(pf.AsyncParallelBatchFlow):
        async def prep_async(self, shared):
            return [{"i": i} for i in range(10, 13)]

    shared: dict = {}

    async def both():
        return await Seq(start=Work()).run_async(shared), await Par(start=Work()).run_async(shared)

    return asyncio.run(both()), shared


@scenario
def async_retries_with_fallback(pf: types.ModuleType, calls: list) -> Any:
    class Flaky(pf.AsyncNode):
        async def exec_async(self, prep_res):
            calls.append("attempt")
            raise ValueError("always")

        async def exec_fallback_async(self, prep_res, exc):
            calls.append(("fallback", str(exc)))
            return "fell back"

        async def post_async(self, shared, prep_res, exec_res):
            shared["result"] = exec_res

    shared: dict = {}
    flow = pf.AsyncFlow(start=Flaky(max_retries=3, wait=0.001))
    return asyncio.run(flow.run_async(shared)), shared


@scenario
def async_node_run_directly_warns_with_successors(pf: types.ModuleType, calls: list) -> Any:
    class A(pf.AsyncNode):
        async def post_async(self, shared, prep_res, exec_res):
            return "a"

    node = A()
    node >> A()
    return asyncio.run(node.run_async({}))


def _observe(pf: types.ModuleType, fn: Scenario) -> dict[str, Any]:
    calls: list = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            outcome: Any = ("returned", fn(pf, calls))
        except Exception as exc:
            outcome = ("raised", type(exc), str(exc))
    return {
        "outcome": outcome,
        "calls": calls,
        "warnings": [
            (w.category, str(w.message), os.path.basename(w.filename), w.lineno) for w in caught
        ],
    }


# Scenarios that run nodes outside any flow, where there is nothing to observe.
NO_FLOW = {
    "overwriting_an_edge_and_running_a_node_alone_warn",
    "async_node_run_directly_warns_with_successors",
}


def test_drop_in_classes_are_upstream_subclasses_not_upstream_itself() -> None:
    for name in ("Node", "BatchNode", "Flow", "BatchFlow", "AsyncNode", "AsyncFlow",
                 "AsyncBatchNode", "AsyncParallelBatchNode", "AsyncBatchFlow",
                 "AsyncParallelBatchFlow", "BaseNode"):  # fmt: skip
        ours, theirs = getattr(pocketflow_ext, name), getattr(pocketflow, name)
        assert ours is not theirs and issubclass(ours, theirs)


@pytest.mark.parametrize("observed", [False, True], ids=["dormant", "with-subscriber"])
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_drop_in_classes_behave_exactly_like_upstream(name: str, observed: bool) -> None:
    expected = _observe(pocketflow, SCENARIOS[name])
    seen: list = []
    unsubscribe = pocketflow_ext.subscribe(seen.append) if observed else (lambda: None)
    try:
        actual = _observe(pocketflow_ext, SCENARIOS[name])
    finally:
        unsubscribe()
    assert actual == expected
    if observed and name not in NO_FLOW:
        assert seen, "the subscriber saw nothing: the observed path was not exercised"
