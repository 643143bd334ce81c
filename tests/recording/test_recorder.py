"""The recorder subscriber: events and checkpoints of every flow kind land in the database."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest

from pocketflow_ext import (
    AsyncFlow,
    AsyncNode,
    AsyncParallelBatchFlow,
    BatchFlow,
    Flow,
    Node,
    WorkflowDB,
)


class Put(Node):
    def __init__(self, key: str, value: object = True, action: str | None = None) -> None:
        super().__init__()
        self.key, self.value, self.action = key, value, action
        self.name = key

    def post(self, shared, prep_res, exec_res):
        shared[self.key] = self.value
        return self.action


class Boom(Node):
    def exec(self, prep_res):
        raise ValueError("no luck")


class APut(AsyncNode):
    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key
        self.name = key

    async def exec_async(self, prep_res):
        await asyncio.sleep(0.01)

    async def post_async(self, shared, prep_res, exec_res):
        shared.setdefault("done", []).append((self.key, self.params.get("item")))


def chain(*nodes: Node) -> Node:
    for a, b in zip(nodes, nodes[1:], strict=False):
        a >> b
    return nodes[0]


def only_run(db: WorkflowDB) -> dict:
    runs = db.list_runs()
    assert len(runs) == 1, runs
    return runs[0]


def kinds(db: WorkflowDB, run_id: str) -> list[tuple]:
    return [(e["event"], e["path"]) for e in db.get_events(run_id)]


def test_completed_run_has_status_steps_events_and_a_checkpoint_per_node(tmp_path: Path) -> None:
    flow = Flow(
        start=chain(Put("a"), Put("b", 2, "done")), db_path=tmp_path / "r.db", flow_name="demo"
    )
    flow.run({})
    run = only_run(flow.db)
    assert run["status"] == "completed" and run["total_steps"] == 2
    assert run["run_id"].startswith("demo-") and len(run["run_id"]) == len("demo-") + 8
    assert run["completed_at"] >= run["started_at"]
    assert kinds(flow.db, run["run_id"]) == [
        ("flow_start", "demo"),
        ("node_start", "demo/a"),
        ("node_end", "demo/a"),
        ("node_start", "demo/b"),
        ("node_end", "demo/b"),
        ("flow_end", "demo"),
    ]
    checkpoints = flow.db.get_checkpoints(run["run_id"])
    assert [(c["step"], c["node_name"]) for c in checkpoints] == [(0, "a"), (1, "b")]
    assert json.loads(checkpoints[0]["store_json"]) == {"a": True}
    assert json.loads(checkpoints[1]["store_json"]) == {"a": True, "b": 2}


def test_every_node_end_has_its_checkpoint_at_the_same_step(tmp_path: Path) -> None:
    flow = Flow(start=chain(Put("a"), Put("b"), Put("c")), db_path=tmp_path / "r.db")
    flow.run({})
    run_id = only_run(flow.db)["run_id"]
    ends = [e["step"] for e in flow.db.get_events(run_id) if e["event"] == "node_end"]
    assert ends == [c["step"] for c in flow.db.get_checkpoints(run_id)]


def test_failed_run_records_error_traceback_and_keeps_earlier_checkpoints(tmp_path: Path) -> None:
    flow = Flow(start=chain(Put("a"), Boom()), db_path=tmp_path / "r.db")
    with pytest.raises(ValueError, match="no luck"):
        flow.run({})
    run = only_run(flow.db)
    assert run["status"] == "failed"
    assert run["total_steps"] == 2 and run["current_node"] == "Boom"
    assert run["error_msg"] == "ValueError: no luck"
    assert "Traceback" in run["traceback"] and "no luck" in run["traceback"]
    error = [e for e in flow.db.get_events(run["run_id"]) if e["event"] == "node_error"][0]
    assert (error["node_name"], error["error_msg"]) == ("Boom", "ValueError: no luck")
    assert [c["node_name"] for c in flow.db.get_checkpoints(run["run_id"])] == ["a"]


def test_keyboard_interrupt_marks_the_run_cancelled_and_reraises(tmp_path: Path) -> None:
    class CtrlC(Node):
        def exec(self, prep_res):
            raise KeyboardInterrupt

    flow = Flow(start=chain(Put("a"), CtrlC()), db_path=tmp_path / "r.db")
    with pytest.raises(KeyboardInterrupt):
        flow.run({})
    run = only_run(flow.db)
    assert run["status"] == "cancelled"
    assert [c["node_name"] for c in flow.db.get_checkpoints(run["run_id"])] == ["a"]


def test_retries_are_recorded_with_attempt_and_error(tmp_path: Path) -> None:
    class Flaky(Node):
        calls = 0

        def exec(self, prep_res):
            Flaky.calls += 1
            if Flaky.calls < 3:
                raise TimeoutError("slow")

    flow = Flow(start=Flaky(max_retries=3), db_path=tmp_path / "r.db")
    flow.run({})
    retries = [
        e for e in flow.db.get_events(only_run(flow.db)["run_id"]) if e["event"] == "node_retry"
    ]
    assert [(e["attempt"], e["error_msg"]) for e in retries] == [
        (1, "TimeoutError: slow"),
        (2, "TimeoutError: slow"),
    ]


def test_nested_flow_is_recorded_under_the_parent_run_with_its_path(tmp_path: Path) -> None:
    inner = Flow(start=chain(Put("x"), Put("y")), flow_name="Inner")
    flow = Flow(start=chain(Put("a"), inner), db_path=tmp_path / "r.db", flow_name="Outer")
    flow.run({})
    run = only_run(flow.db)
    paths = [p for k, p in kinds(flow.db, run["run_id"]) if k == "node_end"]
    assert paths == ["Outer/a", "Outer/Inner/x", "Outer/Inner/y", "Outer/Inner"]
    assert run["total_steps"] == 4
    assert sorted(c["path"] for c in flow.db.get_checkpoints(run["run_id"])) == sorted(paths)


def test_nested_flow_with_its_own_db_path_is_not_recorded_twice(tmp_path: Path) -> None:
    inner = Flow(start=Put("x"), flow_name="Inner", db_path=tmp_path / "inner.db")
    same = Flow(start=Put("z"), flow_name="Same", db_path=tmp_path / "outer.db")
    flow = Flow(
        start=chain(Put("a"), inner, same), db_path=tmp_path / "outer.db", flow_name="Outer"
    )
    flow.run({})
    run = only_run(flow.db)
    events = flow.db.get_events(run["run_id"])
    assert [e["path"] for e in events if e["event"] == "node_end"].count("Outer/Same/z") == 1
    assert len(flow.db.get_checkpoints(run["run_id"])) == 5
    assert inner.db.list_runs() == []


def test_recording_flow_nested_in_an_unrecorded_run_gets_its_own_linked_run(tmp_path: Path) -> None:
    inner = Flow(start=Put("x"), flow_name="Inner", db_path=tmp_path / "inner.db")
    outer = Flow(start=chain(Put("a"), inner), flow_name="Outer")
    outer_runs: list[str] = []
    outer.subscribe(lambda e: outer_runs.append(e.run_id))
    outer.run({})
    run = only_run(inner.db)
    assert run["flow_name"] == "Inner" and run["status"] == "completed"
    assert run["parent_run_id"] == outer_runs[0]
    assert [e["path"] for e in inner.db.get_events(run["run_id"]) if e["event"] == "node_end"] == [
        "Outer/Inner/x"
    ]


def test_batch_flow_iterations_carry_their_params(tmp_path: Path) -> None:
    class Items(BatchFlow):
        def prep(self, shared):
            return [{"item": 1}, {"item": 2}]

    class Show(Node):
        def post(self, shared, prep_res, exec_res):
            shared.setdefault("seen", []).append(self.params["item"])

    flow = Items(start=Show(), db_path=tmp_path / "r.db")
    flow.run({})
    run_id = only_run(flow.db)["run_id"]
    ends = [e for e in flow.db.get_events(run_id) if e["event"] == "node_end"]
    assert [json.loads(e["params"]) for e in ends] == [{"item": 1}, {"item": 2}]
    assert [json.loads(c["params"]) for c in flow.db.get_checkpoints(run_id)] == [
        {"item": 1},
        {"item": 2},
    ]


def test_async_flow_is_recorded(tmp_path: Path) -> None:
    a = APut("a")
    a >> APut("b")
    flow = AsyncFlow(start=a, db_path=tmp_path / "r.db")
    asyncio.run(flow.run_async({}))
    run = only_run(flow.db)
    assert run["status"] == "completed"
    assert [c["node_name"] for c in flow.db.get_checkpoints(run["run_id"])] == ["a", "b"]


def test_parallel_batch_flow_records_concurrent_nodes_completely(tmp_path: Path) -> None:
    class Fan(AsyncParallelBatchFlow):
        async def prep_async(self, shared):
            return [{"item": i} for i in range(8)]

    a = APut("a")
    a >> APut("b")
    flow = Fan(start=a, db_path=tmp_path / "r.db")
    shared: dict = {}
    asyncio.run(flow.run_async(shared))
    run_id = only_run(flow.db)["run_id"]
    events = flow.db.get_events(run_id)
    starts = [e["step"] for e in events if e["event"] == "node_start"]
    ends = [e["step"] for e in events if e["event"] == "node_end"]
    assert len(starts) == len(set(starts)) == 16
    assert sorted(ends) == sorted(starts)
    checkpoints = flow.db.get_checkpoints(run_id)
    assert sorted(c["step"] for c in checkpoints) == sorted(ends)
    by_step = {
        e["step"]: json.loads(e["params"])["item"] for e in events if e["event"] == "node_end"
    }
    assert sorted(by_step.values()) == sorted(list(range(8)) * 2)


def test_runs_of_one_flow_object_in_many_threads_do_not_collide(tmp_path: Path) -> None:
    flow = Flow(start=chain(Put("a"), Put("b"), Put("c")), db_path=tmp_path / "r.db")
    errors: list[BaseException] = []

    def one() -> None:
        try:
            flow.run({})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    runs = flow.db.list_runs()
    assert len({r["run_id"] for r in runs}) == 8
    for run in runs:
        assert run["status"] == "completed"
        assert [c["step"] for c in flow.db.get_checkpoints(run["run_id"])] == [0, 1, 2]
        assert len(flow.db.get_events(run["run_id"])) == 8


def test_graph_describes_nodes_edges_and_nested_flows(tmp_path: Path) -> None:
    inner = Flow(start=Put("x"), flow_name="Inner")
    a = Put("a", action="stop")
    a - "more" >> inner
    a - "stop" >> Put("end")
    flow = Flow(start=a, db_path=tmp_path / "r.db", flow_name="G")
    flow.run({})
    graph = json.loads(only_run(flow.db)["graph"])
    assert graph["start"] == "a"
    assert {(e["from"], e["to"], e["action"]) for e in graph["edges"]} == {
        ("a", "Inner", "more"),
        ("a", "end", "stop"),
    }
    nested = [n for n in graph["nodes"] if n["name"] == "Inner"][0]
    assert nested["kind"] == "flow"
    assert [n["name"] for n in nested["graph"]["nodes"]] == ["x"]
    assert [n["class"] for n in graph["nodes"]][0].endswith("Put")


def test_run_records_its_process_and_heartbeat(tmp_path: Path) -> None:
    import os

    flow = Flow(start=Put("a"), db_path=tmp_path / "r.db")
    flow.run({})
    run = only_run(flow.db)
    assert run["pid"] == os.getpid()
    assert run["hostname"] and run["heartbeat_at"]


def test_flow_params_are_recorded_on_the_run(tmp_path: Path) -> None:
    flow = Flow(start=Put("a"), db_path=tmp_path / "r.db")
    flow.set_params({"lang": "fr"})
    flow.run({})
    assert json.loads(only_run(flow.db)["params"]) == {"lang": "fr"}


def test_graph_is_described_again_when_the_flow_changes_between_runs(tmp_path: Path) -> None:
    a = Put("a", action="next")
    flow = Flow(start=a, db_path=tmp_path / "r.db", flow_name="G")
    flow.run({})
    a - "next" >> Put("b")
    flow.run({})
    first, second = sorted(flow.db.list_runs(), key=lambda r: r["started_at"])
    assert json.loads(first["graph"])["edges"] == []
    assert json.loads(second["graph"])["edges"] == [{"from": "a", "to": "b", "action": "next"}]


def test_async_batch_flow_run_synchronously_is_recorded_with_params(tmp_path: Path) -> None:
    from pocketflow_ext import AsyncBatchFlow

    class Items(AsyncBatchFlow):
        async def prep_async(self, shared):
            return [{"item": "x"}, {"item": "y"}]

    flow = Items(start=APut("a"), db_path=tmp_path / "r.db")
    shared: dict = {}
    flow.run(shared)  # our AsyncFlow also runs from synchronous code
    assert shared["done"] == [("a", "x"), ("a", "y")]
    run_id = only_run(flow.db)["run_id"]
    params = [json.loads(c["params"]) for c in flow.db.get_checkpoints(run_id)]
    assert params == [{"item": "x"}, {"item": "y"}]


def test_the_recorder_writes_only_what_its_events_say(tmp_path: Path) -> None:
    # No flow runs here and no run scope exists: events made by hand are all it gets.
    from pocketflow_ext.recording.recorder import Recorder, RunRecord
    from pocketflow_ext.recording.writer import writer_for
    from pocketflow_ext.runstore import RunRow
    from pocketflow_ext.stream.events import Event

    writer = writer_for(tmp_path / "r.db")
    recorder = Recorder(writer, "sync", None)
    record = RunRecord(recorder, "made-1")
    assert record.rows is not None
    writer.create_run(record.rows, RunRow(run_id="made-1", flow_name="Made"))
    recorder.register(record)

    def event(run_id: str = "made-1", **fields: object) -> Event:
        return Event(run_id=run_id, flow_name="Made", ts=1_700_000_000.0, **fields)  # type: ignore[arg-type]

    for e in (
        event(kind="flow_start", path="Made", store={}),
        event(kind="node_start", path="Made/A", step=0, node="A", store={}),
        event(run_id="other-1", kind="node_end", path="Made/X", step=0, node="X", store={}),
        event(
            kind="node_end",
            path="Made/A",
            step=0,
            node="A",
            action="go",
            elapsed_s=0.5,
            store={"a": 1},
        ),  # fmt: skip
        event(kind="flow_end", path="Made", status="completed", steps=1, store={"a": 1}),
    ):
        recorder(e)
    db = WorkflowDB(tmp_path / "r.db")
    run = db.get_run("made-1")
    assert run is not None
    assert (run["status"], run["total_steps"], run["current_node"]) == ("completed", 1, "A")
    assert run["completed_at"] == "2023-11-14T22:13:20.000000+00:00"
    assert [(e["event"], e["path"], e["step"]) for e in db.get_events("made-1")] == [
        ("flow_start", "Made", None),
        ("node_start", "Made/A", 0),
        ("node_end", "Made/A", 0),
        ("flow_end", "Made", None),
    ]
    assert db.get_events("made-1")[2]["elapsed_ms"] == 500.0
    assert db.load_checkpoint("made-1", 0) == {"a": 1}
    assert db.get_run("other-1") is None


def test_current_node_of_a_failed_nested_run_is_the_leaf_that_failed(tmp_path: Path) -> None:
    inner = Flow(start=chain(Put("x"), Boom()), flow_name="Writing")
    flow = Flow(start=chain(Put("a"), inner), db_path=tmp_path / "r.db", flow_name="Outer")
    with pytest.raises(ValueError):
        flow.run({})
    run = only_run(flow.db)
    assert (run["status"], run["current_node"]) == ("failed", "Writing/Boom")
    assert run["total_steps"] == 4  # a, Writing, x, Boom
