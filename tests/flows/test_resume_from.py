"""flow.run(store, resume_from=node): start mid-graph without touching the flow object."""

from __future__ import annotations

import asyncio
import threading

import pytest

from pocketflow_ext import AsyncFlow, AsyncNode, BatchFlow, Flow, Node, ResumeError

pytestmark = pytest.mark.timeout(30)


class Worker(Node):
    def post(self, shared, prep_res, exec_res):
        shared.setdefault("trail", []).append("Worker")
        return "next"


class Step(Node):
    def __init__(self, label: str) -> None:
        super().__init__()
        self.name = label

    def post(self, shared, prep_res, exec_res):
        shared.setdefault("trail", []).append(self.name)


def three_steps() -> tuple[Flow, Node, Node, Node]:
    a, b, c = Step("A"), Step("B"), Step("C")
    a >> b >> c
    return Flow(start=a, flow_name="three"), a, b, c


def test_resume_from_a_node_object_skips_the_nodes_before_it():
    flow, _a, b, _c = three_steps()
    store = {"trail": ["A"]}
    flow.run(store, resume_from=b)
    assert store["trail"] == ["A", "B", "C"]


def test_resume_from_a_node_name_starts_at_that_node():
    flow, *_ = three_steps()
    store: dict = {}
    flow.run(store, resume_from="C")
    assert store["trail"] == ["C"]


def test_resume_from_returns_the_last_action_like_run():
    first, second = Worker(), Worker()
    first - "next" >> second
    assert Flow(start=first).run({}, resume_from=second) == "next"


def test_nodes_keep_the_names_of_the_original_graph(events):
    first, second = Worker(), Worker()
    first - "next" >> second
    Flow(start=first, flow_name="twice").run({}, resume_from="Worker#2")
    assert [e.path for e in events if e.kind == "node_start"] == ["twice/Worker#2"]


def test_the_flow_object_is_left_unchanged():
    flow, a, b, _c = three_steps()
    flow.run({}, resume_from=b)
    assert flow.start_node is a
    assert not hasattr(flow, "naming_root")
    flow_store: dict = {}
    flow.run(flow_store)
    assert flow_store["trail"] == ["A", "B", "C"]


def test_concurrent_runs_of_one_flow_resume_from_different_nodes():
    barrier = threading.Barrier(2, timeout=10)

    class Meet(Step):
        def prep(self, shared):
            barrier.wait()  # both runs are inside the flow at the same moment

    start, left, right = Step("Start"), Meet("Left"), Meet("Right")
    start - "left" >> left >> Step("LeftEnd")
    start - "right" >> right
    flow = Flow(start=start)
    results: dict[str, list[str]] = {}

    def run(node: str) -> None:
        store: dict = {}
        flow.run(store, resume_from=node)
        results[node] = store["trail"]

    threads = [threading.Thread(target=run, args=(n,)) for n in ("Left", "Right")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {"Left": ["Left", "LeftEnd"], "Right": ["Right"]}


def test_unknown_node_name_is_a_resume_error_listing_the_names():
    flow, *_ = three_steps()
    with pytest.raises(ResumeError, match=r"no node named 'Z'.*A, B, C"):
        flow.run({}, resume_from="Z")


def test_node_outside_the_graph_is_a_resume_error():
    flow, *_ = three_steps()
    with pytest.raises(ResumeError, match="not in the graph of flow 'three'"):
        flow.run({}, resume_from=Step("Elsewhere"))


def test_resume_from_on_a_batch_flow_is_refused():
    a = Step("A")
    a >> Step("B")

    class Items(BatchFlow):
        def prep(self, shared):
            return [{"i": 1}, {"i": 2}]

    with pytest.raises(ResumeError, match="BatchFlow"):
        Items(start=a).run({}, resume_from="B")


class AStep(AsyncNode):
    def __init__(self, label: str) -> None:
        super().__init__()
        self.name = label

    async def post_async(self, shared, prep_res, exec_res):
        shared.setdefault("trail", []).append(self.name)


def test_async_flow_run_async_resumes_from_a_node():
    a, b = AStep("A"), AStep("B")
    a >> b
    store: dict = {}
    asyncio.run(AsyncFlow(start=a).run_async(store, resume_from="B"))
    assert store["trail"] == ["B"]


def test_async_flow_run_resumes_from_a_node():
    a, b = AStep("A"), AStep("B")
    a >> b
    store: dict = {}
    AsyncFlow(start=a).run(store, resume_from=b)
    assert store["trail"] == ["B"]
