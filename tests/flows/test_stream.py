"""flow.stream()/astream(): events as they happen, what each node wrote, emit()'s custom
events, errors after the last event, and leaving the loop early cancelling the run."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path
from typing import Any

import pytest

from pocketflow_ext import (
    AsyncFlow,
    AsyncNode,
    ConfigurationError,
    Flow,
    Node,
    WorkflowDB,
    emit,
)


class Tokens(Node):
    def exec(self, prep_res: Any) -> str:
        for token in ("Pocket", "Flow"):
            emit("token", token)
        return "PocketFlow"

    def post(self, shared: Any, prep_res: Any, exec_res: Any) -> str:
        shared["answer"] = exec_res
        return "check"


class Check(Node):
    def post(self, shared: Any, prep_res: Any, exec_res: Any) -> None:
        shared["checked"] = True


def answer_flow() -> Flow:
    tokens = Tokens()
    tokens - "check" >> Check()
    return Flow(start=tokens)


def test_stream_yields_every_event_in_order_and_ends_with_the_run() -> None:
    shared: dict[str, Any] = {"question": "?"}
    seen = [(e.kind, e.path, e.topic, e.data) for e in answer_flow().stream(shared)]
    assert seen == [
        ("flow_start", "Flow", None, None),
        ("node_start", "Flow/Tokens", None, None),
        ("custom", "Flow/Tokens", "token", "Pocket"),
        ("custom", "Flow/Tokens", "token", "Flow"),
        ("node_end", "Flow/Tokens", None, {"answer": "PocketFlow"}),
        ("node_start", "Flow/Check", None, None),
        ("node_end", "Flow/Check", None, {"checked": True}),
        ("flow_end", "Flow", None, None),
    ]
    assert shared == {"question": "?", "answer": "PocketFlow", "checked": True}


def test_a_node_end_reports_keys_assigned_even_to_an_equal_new_object() -> None:
    class Replace(Node):
        def post(self, shared: Any, prep_res: Any, exec_res: Any) -> None:
            shared["same"] = shared["same"]  # unchanged: not reported
            shared["items"] = [*shared["items"], 3]

    ends = [
        e for e in Flow(start=Replace()).stream({"same": 1, "items": [1]}) if e.kind == "node_end"
    ]
    assert ends[0].data == {"items": [1, 3]}


def test_a_failed_run_raises_its_error_after_its_last_event() -> None:
    class Boom(Node):
        def exec(self, prep_res: Any) -> None:
            raise ValueError("no answer")

    kinds = []
    with pytest.raises(ValueError, match="no answer"):
        for event in Flow(start=Boom()).stream({}):
            kinds.append((event.kind, event.status))
    assert kinds[-2:] == [("node_error", None), ("flow_end", "failed")]


def test_breaking_out_of_the_loop_cancels_the_run_before_its_next_node(tmp_path: Path) -> None:
    release = threading.Event()

    class Slow(Node):
        def exec(self, prep_res: Any) -> None:
            emit("progress", 1)
            release.wait(30)

    slow = Slow()
    slow >> Check()
    db_path = tmp_path / "runs.db"
    flow = Flow(start=slow, db_path=str(db_path))
    shared: dict[str, Any] = {}
    stream = flow.stream(shared, run_id="cancel-me")
    for event in stream:
        if event.kind == "custom":
            release.set()
            break
    stream.close()  # what leaving the loop does when the generator is collected
    assert "checked" not in shared  # Check never ran
    with WorkflowDB(str(db_path), readonly=True) as db:
        assert db.get_run("cancel-me")["status"] == "cancelled"


def test_emit_reaches_hooks_with_its_pocoflow_style_signature() -> None:
    calls = []
    flow = answer_flow().on(
        "custom", lambda name, topic, data, store: calls.append((name, topic, data))
    )
    flow.run({})
    assert calls == [("Tokens", "token", "Pocket"), ("Tokens", "token", "Flow")]


def test_emit_outside_an_observed_run_does_nothing() -> None:
    emit("token", "ignored")  # no run: nothing listens
    shared: dict[str, Any] = {}
    answer_flow().run(shared)  # a dormant flow: its emits go nowhere, the run is unchanged
    assert shared == {"answer": "PocketFlow", "checked": True}


def test_emit_refuses_a_topic_that_is_not_a_name() -> None:
    with pytest.raises(ConfigurationError, match="emit\\(\\) topic must be a non-empty string"):
        emit("", 1)


def test_custom_events_are_recorded_only_when_asked(tmp_path: Path) -> None:
    class Progress(Node):
        def exec(self, prep_res: Any) -> None:
            emit("token", "not kept")
            emit("milestone", {"done": 1}, record=True)

    db_path = tmp_path / "runs.db"
    Flow(start=Progress(), db_path=str(db_path), run_id="r1").run({})
    with WorkflowDB(str(db_path), readonly=True) as db:
        custom = [e for e in db.get_events("r1") if e["event"] == "custom"]
    assert len(custom) == 1
    assert custom[0]["node_name"] == "Progress"
    assert '"topic": "milestone"' in custom[0]["params"]
    assert '"done": 1' in custom[0]["params"]


def test_astream_runs_an_async_flow_on_the_callers_loop() -> None:
    class Answer(AsyncNode):
        async def exec_async(self, prep_res: Any) -> str:
            emit("token", "async")
            await asyncio.sleep(0)
            return "done"

        async def post_async(self, shared: Any, prep_res: Any, exec_res: Any) -> None:
            shared["answer"] = exec_res

    async def collect() -> list[tuple[str, Any]]:
        return [(e.kind, e.data) async for e in AsyncFlow(start=Answer()).astream({})]

    seen = asyncio.run(collect())
    assert ("custom", "async") in seen and ("node_end", {"answer": "done"}) in seen
    assert seen[-1][0] == "flow_end"


def test_astream_runs_a_sync_flow_in_a_worker_thread() -> None:
    async def collect() -> list[str]:
        return [e.kind async for e in answer_flow().astream({})]

    assert asyncio.run(collect()).count("custom") == 2


def test_leaving_astream_early_cancels_the_run() -> None:
    statuses: list[str] = []

    class Loop(AsyncNode):
        async def exec_async(self, prep_res: Any) -> None:
            emit("tick", None)
            await asyncio.sleep(0.01)

        async def post_async(self, shared: Any, prep_res: Any, exec_res: Any) -> str:
            shared["n"] = shared.get("n", 0) + 1
            return "again"

    loop = Loop()
    loop - "again" >> loop
    flow = AsyncFlow(start=loop).subscribe(
        lambda e: statuses.append(e.status) if e.kind == "flow_end" else None
    )
    shared: dict[str, Any] = {}

    async def first_ticks() -> None:
        async with contextlib.aclosing(flow.astream(shared)) as events:
            ticks = 0
            async for event in events:
                ticks += event.kind == "custom"
                if ticks == 3:
                    break

    asyncio.run(first_ticks())
    assert statuses == ["cancelled"]
    assert shared["n"] == 3


def _counting_loop(times: int) -> tuple[Flow, list[str]]:
    """A sync flow whose one node runs ``times`` times; the flow_end statuses it reports."""

    class Count(Node):
        def post(self, shared: Any, prep_res: Any, exec_res: Any) -> str:
            shared["n"] = shared.get("n", 0) + 1
            return "again" if shared["n"] < times else "done"

    count = Count()
    count - "again" >> count
    count - "done" >> Node()  # a quiet end: no "Flow ends" warning
    statuses: list[str] = []
    flow = Flow(start=count).subscribe(
        lambda e: statuses.append(e.status) if e.kind == "flow_end" and e.path == "Flow" else None
    )
    return flow, statuses


def test_astream_of_a_sync_flow_keeps_pace_so_leaving_after_the_first_event_stops_it() -> None:
    # The worker thread waits for the loop to take each event (one event ahead at most), so
    # a run of 200 nodes whose consumer leaves after flow_start runs one node at the most.
    flow, statuses = _counting_loop(200)
    shared: dict[str, Any] = {}

    async def first_event() -> str:
        async with contextlib.aclosing(flow.astream(shared)) as events:
            async for event in events:
                return event.kind
        raise AssertionError("no event")

    assert asyncio.run(first_event()) == "flow_start"
    assert shared.get("n", 0) <= 1
    assert statuses == ["cancelled"]


def test_astream_of_a_sync_flow_runs_to_the_end_when_the_loop_takes_every_event() -> None:
    flow, statuses = _counting_loop(50)
    shared: dict[str, Any] = {}

    async def every_event() -> list[str]:
        return [event.kind async for event in flow.astream(shared)]

    kinds = asyncio.run(every_event())
    assert kinds.count("node_end") == 51 and kinds[-1] == "flow_end"  # 50 and the exit node
    assert shared["n"] == 50 and statuses == ["completed"]
