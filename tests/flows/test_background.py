"""flow.run_background(store) -> RunHandle, without a database (status kept in memory)."""

from __future__ import annotations

import contextvars
import re
import threading

import pocketflow
import pytest

from pocketflow_ext import (
    AsyncFlow,
    AsyncNode,
    ConfigurationError,
    Flow,
    Node,
    RunCancelled,
    RunHandle,
    RunTimeout,
)
from pocketflow_ext.mixins import BackgroundMixin

pytestmark = pytest.mark.timeout(30)


class Append(Node):
    def __init__(self, label: str) -> None:
        super().__init__()
        self.name = label

    def post(self, shared, prep_res, exec_res):
        shared.setdefault("trail", []).append(self.name)


class Gate(Node):
    """Blocks until the test opens ``shared['gate']``, after telling it has started."""

    def post(self, shared, prep_res, exec_res):
        shared["entered"].set()
        shared["gate"].wait()
        shared.setdefault("trail", []).append("Gate")


class Boom(Node):
    def exec(self, prep_res):
        raise ValueError("boom")


def gated_flow() -> Flow:
    gate = Gate()
    gate >> Append("After")
    return Flow(start=gate, flow_name="gated")


def gated_store() -> dict:
    return {"entered": threading.Event(), "gate": threading.Event()}


def test_wait_returns_the_same_store_object_and_status_is_completed():
    a = Append("A")
    a >> Append("B")
    store: dict = {}
    handle = Flow(start=a).run_background(store)
    assert handle.wait() is store
    assert store["trail"] == ["A", "B"]
    assert handle.status == "completed"
    assert handle.is_done and handle.error is None


def test_run_id_is_known_at_once_and_is_the_id_the_run_reports(events):
    store = gated_store()
    handle = gated_flow().run_background(store)
    assert re.fullmatch(r"gated-[0-9a-f]{8}", handle.run_id)
    assert handle.status == "running" and not handle.is_done
    store["gate"].set()
    handle.wait()
    assert {e.run_id for e in events} == {handle.run_id}


def test_wait_reraises_the_flow_exception_and_status_is_failed():
    handle = Flow(start=Boom()).run_background({})
    with pytest.raises(ValueError, match="boom"):
        handle.wait()
    assert handle.status == "failed"
    assert isinstance(handle.error, ValueError)


def test_wait_with_timeout_raises_timeout_error_while_the_run_goes_on():
    store = gated_store()
    handle = gated_flow().run_background(store)
    store["entered"].wait()
    with pytest.raises(TimeoutError, match=handle.run_id) as caught:
        handle.wait(timeout=0.01)
    assert isinstance(caught.value, RunTimeout)
    store["gate"].set()
    assert handle.wait()["trail"] == ["Gate", "After"]


@pytest.mark.parametrize("bad", [-1, "5", True])
def test_wait_rejects_a_timeout_that_is_not_seconds(bad):
    handle = Flow(start=Append("A")).run_background({})
    with pytest.raises(ConfigurationError, match="timeout"):
        handle.wait(timeout=bad)
    handle.wait()


def test_cancel_stops_before_the_next_node_and_status_is_cancelled():
    store = gated_store()
    handle = gated_flow().run_background(store)
    store["entered"].wait()
    handle.cancel()
    store["gate"].set()
    with pytest.raises(RunCancelled, match="After"):
        handle.wait()
    assert store["trail"] == ["Gate"]  # the running node finished; the next never started
    assert handle.status == "cancelled"


def test_async_flow_runs_in_the_background():
    class Fetch(AsyncNode):
        async def exec_async(self, prep_res):
            return "fetched"

        async def post_async(self, shared, prep_res, exec_res):
            shared["result"] = exec_res

    handle = AsyncFlow(start=Fetch()).run_background({})
    assert handle.wait() == {"result": "fetched"}
    assert handle.status == "completed"


def test_async_flow_cancel_stops_before_the_next_node():
    class AsyncGate(AsyncNode):
        async def post_async(self, shared, prep_res, exec_res):
            shared["entered"].set()
            shared["gate"].wait()

    gate = AsyncGate()
    gate >> Append("After")
    store = gated_store()
    handle = AsyncFlow(start=gate).run_background(store)
    store["entered"].wait()
    handle.cancel()
    store["gate"].set()
    with pytest.raises(RunCancelled):
        handle.wait()
    assert "trail" not in store
    assert handle.status == "cancelled"


def test_many_background_runs_of_one_flow_have_their_own_ids_and_cancel_flags():
    flow = gated_flow()
    stores = [gated_store() for _ in range(6)]
    handles = [flow.run_background(s) for s in stores]
    for s in stores:
        s["entered"].wait()
    handles[0].cancel()
    for s in stores:
        s["gate"].set()
    assert len({h.run_id for h in handles}) == 6
    with pytest.raises(RunCancelled):
        handles[0].wait()
    for h in handles[1:]:
        assert h.wait()["trail"] == ["Gate", "After"]
    assert [h.status for h in handles] == ["cancelled"] + ["completed"] * 5
    assert flow.start_node.successors  # the shared flow object is untouched


def test_run_background_accepts_a_run_id(events):
    handle = Flow(start=Append("A")).run_background({}, run_id="nightly-0001")
    handle.wait()
    assert handle.run_id == "nightly-0001"
    assert {e.run_id for e in events} == {"nightly-0001"}


def test_background_run_started_inside_a_node_is_a_run_of_its_own(events):
    inner = Flow(start=Append("Inner"), flow_name="inner")
    handles: list[RunHandle] = []

    class Launch(Node):
        def post(self, shared, prep_res, exec_res):
            handles.append(inner.run_background({}))

    outer = Flow(start=Launch(), flow_name="outer")
    outer.run({})
    handles[0].wait()
    inner_events = [e for e in events if e.run_id == handles[0].run_id]
    assert inner_events[0].kind == "flow_start" and inner_events[0].path == "inner"
    assert {e.path for e in inner_events} == {"inner", "inner/Inner"}
    assert not handles[0].run_id.startswith("outer")


def test_background_run_sees_the_callers_context_variables():
    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

    class Read(Node):
        def post(self, shared, prep_res, exec_res):
            shared["request_id"] = request_id.get()

    token = request_id.set("req-42")
    try:
        handle = Flow(start=Read()).run_background({})
    finally:
        request_id.reset(token)
    assert handle.wait() == {"request_id": "req-42"}


def test_run_background_can_start_at_a_later_node():
    a = Append("A")
    a >> Append("B") >> Append("C")
    handle = Flow(start=a).run_background({}, resume_from="B")
    assert handle.wait()["trail"] == ["B", "C"]


def test_run_background_needs_a_flow_that_reports_events():
    class Plain(BackgroundMixin, pocketflow.Flow):
        pass

    with pytest.raises(ConfigurationError, match="HooksMixin"):
        Plain(start=Append("A")).run_background({})
