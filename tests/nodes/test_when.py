"""when=: a false predicate skips the node (node_skip instead of start/end), the flow goes on."""

from __future__ import annotations

import asyncio
import io
import json
import pickle

import pytest
from function_nodes import has_ticket

from pocketflow_ext import (
    AsyncFlow,
    AsyncNode,
    ConfigurationError,
    ConsoleTrace,
    EventLog,
    Flow,
    Node,
    NodeInputError,
    WorkflowDB,
    node,
)


class Step(Node):
    """Records its prep/exec/post calls under its name."""

    def __init__(self, calls: list[str], **kwargs):
        super().__init__(**kwargs)
        self.calls = calls

    def prep(self, shared):
        self.calls.append(f"prep {self.name}")

    def exec(self, prep_res):
        self.calls.append(f"exec {self.name}")

    def post(self, shared, prep_res, exec_res):
        self.calls.append(f"post {self.name}")
        shared.setdefault("ran", []).append(self.name)


def chain(calls, when=None, **flow_kwargs):
    a = Step(calls, name="A")
    b = Step(calls, name="B", when=when)
    c = Step(calls, name="C")
    a >> b >> c
    return Flow(start=a, **flow_kwargs), b


def hooks(flow):
    seen = []
    for kind in ("node_start", "node_end", "node_skip"):
        flow.on(kind, lambda name, *rest, kind=kind: seen.append((kind, name)))
    return seen


def test_a_false_predicate_skips_prep_exec_and_post_and_follows_default() -> None:
    calls = []
    flow, _ = chain(calls, when=lambda shared: False)
    shared = {}
    flow.run(shared)
    assert shared["ran"] == ["A", "C"]
    assert not [c for c in calls if c.endswith(" B")]


def test_a_true_predicate_runs_the_node() -> None:
    calls = []
    flow, _ = chain(calls, when=lambda shared: True)
    shared = {}
    flow.run(shared)
    assert shared["ran"] == ["A", "B", "C"]


def test_a_skip_is_one_node_skip_instead_of_start_and_end() -> None:
    flow, _ = chain([], when=lambda shared: False)
    seen = hooks(flow)
    flow.run({})
    assert seen == [
        ("node_start", "A"),
        ("node_end", "A"),
        ("node_skip", "B"),
        ("node_start", "C"),
        ("node_end", "C"),
    ]


def test_the_skip_event_takes_a_step_and_carries_the_path(events) -> None:
    flow, _ = chain([], when=lambda shared: False, flow_name="Main")
    flow.run({})
    node_events = [(e.kind, e.node, e.step, e.path) for e in events if e.node is not None]
    assert ("node_skip", "B", 1, "Main/B") in node_events
    assert [e.step for e in events if e.kind == "node_start"] == [0, 2]
    flow_end = next(e for e in events if e.kind == "flow_end")
    assert flow_end.steps == 3


def test_a_skipped_edge_is_followed_when_the_node_has_one() -> None:
    calls = []
    a, c, other = (Step(calls, name=n) for n in "ACX")
    cond = Step(calls, name="Cond", when=lambda flag: flag)
    a >> cond >> c
    cond - "skipped" >> other
    shared = {"flag": False}
    Flow(start=a).run(shared)
    assert shared["ran"] == ["A", "X"]
    shared = {"flag": True}
    Flow(start=a).run(shared)
    assert shared["ran"] == ["A", "Cond", "C"]


def test_predicates_read_named_store_values_like_flowkit() -> None:
    calls = []
    flow, _ = chain(calls, when=lambda total: total > 1000)
    big, small = {"total": 1500}, {"total": 10}
    flow.run(big)
    flow.run(small)
    assert big["ran"] == ["A", "B", "C"] and small["ran"] == ["A", "C"]


def test_a_missing_key_of_a_predicate_names_node_parameter_and_keys() -> None:
    flow, _ = chain([], when=lambda total: total > 1)
    with pytest.raises(NodeInputError, match="node 'B' needs store key 'total'.*keys present: 'x'"):
        flow.run({"x": 1})


def test_when_as_a_class_method_and_as_a_class_attribute() -> None:
    class OnlyBig(Node):
        def when(self, size):
            return size > 10

        def post(self, shared, prep_res, exec_res):
            shared["ran"] = True

    for size, ran in ((5, False), (50, True)):
        shared = {"size": size}
        Flow(start=OnlyBig()).run(shared)
        assert shared.get("ran", False) is ran


def test_a_skipped_first_node_hands_over_to_its_successor() -> None:
    calls = []
    first = Step(calls, name="First", when=lambda shared: False)
    second = Step(calls, name="Second")
    first >> second
    flow = Flow(start=first)
    seen = hooks(flow)
    shared = {}
    flow.run(shared)
    assert shared["ran"] == ["Second"]
    assert seen[0] == ("node_skip", "First")


def test_skips_work_without_anything_listening_and_in_node_run() -> None:
    calls = []
    flow, _ = chain(calls, when=lambda shared: False)
    shared = {}
    flow.run(shared)  # dormant: no hooks, no subscribers
    assert shared["ran"] == ["A", "C"]
    alone = Step(calls, name="Alone", when=lambda shared: False)
    assert alone.run({}) == "default" and "prep Alone" not in calls


def test_an_async_node_is_skipped_in_an_async_flow() -> None:
    class Fetch(AsyncNode):
        async def exec_async(self, prep_res):
            return "fetched"

        async def post_async(self, shared, prep_res, exec_res):
            shared["fetch"] = exec_res

    flow = AsyncFlow(start=Fetch(when=lambda online: online))
    seen = hooks(flow)
    offline, online = {"online": False}, {"online": True}
    asyncio.run(flow.run_async(offline))
    asyncio.run(flow.run_async(online))
    assert "fetch" not in offline and online["fetch"] == "fetched"
    assert seen[0] == ("node_skip", "Fetch") and ("node_end", "Fetch") in seen


def test_a_predicate_that_raises_fails_its_node() -> None:
    def broken(shared):
        raise RuntimeError("bad predicate")

    flow, _ = chain([], when=broken)
    seen = []
    flow.on("node_error", lambda name, exc, store: seen.append((name, str(exc))))
    with pytest.raises(RuntimeError, match="bad predicate"):
        flow.run({})
    assert seen == [("B", "bad predicate")]


def test_nodes_without_when_keep_their_class_and_conditional_ones_pickle() -> None:
    plain = Node()
    assert type(plain) is Node
    conditional = Node(when=has_ticket, name="Gate")
    assert isinstance(conditional, Node) and type(conditional).__name__ == "Node"
    copied = pickle.loads(pickle.dumps(conditional))
    assert copied.when is has_ticket and copied.name == "Gate"
    assert copied.run({}) == "default"  # no ticket: skipped, nothing ran


def test_bad_when_values_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="must be a callable predicate"):
        Node(when=True)
    with pytest.raises(ConfigurationError, match=r"parameter \*\*values"):
        Node(when=lambda **values: True)
    with pytest.raises(ConfigurationError, match="when= is for nodes, not flows"):
        AsyncFlow(when=lambda shared: True)


def test_function_nodes_take_when_through_their_reads() -> None:
    @node(reads={"size": "measured"}, when=lambda size: size > 2)
    def handle(size):
        return "handled"

    shared = {"measured": 1}
    Flow(start=handle).run(shared)
    assert "handle" not in shared
    shared = {"measured": 5}
    Flow(start=handle).run(shared)
    assert shared["handle"] == "handled"


def test_the_console_trace_and_the_event_log_show_skips(ext_logs) -> None:
    out = io.StringIO()
    flow, _ = chain([], when=lambda shared: False, flow_name="Main")
    flow.subscribe(ConsoleTrace("friendly", stream=out)).subscribe(EventLog())
    plain = io.StringIO()
    flow.subscribe(ConsoleTrace("plain", stream=plain))
    flow.run({})
    assert "↷ Main/B skipped" in out.getvalue()
    assert " node_skip Main/B " in plain.getvalue()
    skips = [
        r
        for r in ext_logs.records
        if r.name == "pocketflow_ext.node" and "node_skip" in r.getMessage()
    ]
    assert len(skips) == 1


def test_the_recorder_writes_a_skip_row_and_counts_its_step(tmp_path) -> None:
    db = str(tmp_path / "runs.db")
    flow, _ = chain([], when=lambda shared: False, flow_name="Main", db_path=db)
    flow.run({})
    with WorkflowDB(db, readonly=True) as reader:
        run = reader.list_runs()[0]
        rows = reader.get_events(run["run_id"])
        checkpoints = reader.get_checkpoints(run["run_id"])
    skip = [r for r in rows if r["event"] == "node_skip"]
    assert len(skip) == 1 and skip[0]["node_name"] == "B" and skip[0]["step"] == 1
    assert not [r for r in rows if r["event"] == "node_start" and r["node_name"] == "B"]
    assert [c["step"] for c in checkpoints] == [0, 2]
    assert run["total_steps"] == 3 and run["status"] == "completed"
    json.dumps(rows)  # plain rows, as every reader gets them
