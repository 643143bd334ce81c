"""Dispatch: who is called in which order, with which records, and isolation of failures."""

from __future__ import annotations

import warnings

import pytest

import pocketflow_ext
from pocketflow_ext import BatchFlow, Event, Flow, Node


class Work(Node):
    def post(self, shared, prep_res, exec_res):
        return "done"


def test_global_subscribers_are_called_before_flow_listeners() -> None:
    order: list[str] = []
    flow = Flow(start=Work()).subscribe(lambda e: order.append("flow"))
    unsubscribe = pocketflow_ext.subscribe(lambda e: order.append("global"))
    try:
        flow.run({})
    finally:
        unsubscribe()
    assert order == ["global", "flow"] * 4


def test_outer_flow_listeners_come_before_nested_flow_listeners() -> None:
    order: list[str] = []
    inner = Flow(start=Work(), flow_name="Inner")
    inner.on("node_start", lambda name, store: order.append(f"inner:{name}"))
    outer = Flow(start=inner, flow_name="Outer")
    outer.on("node_start", lambda name, store: order.append(f"outer:{name}"))
    outer.run({})
    assert order == ["outer:Inner", "outer:Inner/Work", "inner:Work"]


def test_event_records_carry_the_documented_fields(events) -> None:
    store = {"k": 1}
    assert Flow(start=Work(), flow_name="f").run(store) == "done"
    start, node_start, node_end, end = events
    assert isinstance(start, Event) and start.kind == "flow_start" and start.path == "f"
    assert (node_start.node, node_start.path, node_start.step) == ("Work", "f/Work", 0)
    assert node_end.action == "done" and node_end.elapsed_s >= 0 and node_end.step == 0
    assert end.status == "completed" and end.steps == 1 and end.store is store
    assert all(e.run_id == start.run_id and e.flow_name == "f" for e in events)
    assert [e.ts for e in events] == sorted(e.ts for e in events)


def test_node_records_of_a_batch_flow_carry_the_items_params(events) -> None:
    class Items(BatchFlow):
        def prep(self, shared):
            return [{"item": 7}]

    store = {"k": 1}
    Items(start=Work(), flow_name="f").run(store)
    node_start, node_end = (e for e in events if e.kind.startswith("node_"))
    assert node_start.params == {"item": 7} and node_end.params == {"item": 7}
    assert (node_start.path, node_end.path, node_end.action) == ("f/Work", "f/Work", "done")
    assert node_start.store is store and node_end.store is store
    # Fields of other kinds stay unset on node records.
    assert node_end.error is node_end.exc is node_end.status is node_end.attempt is None


def test_a_subscriber_that_raises_does_not_stop_the_next_one(ext_logs) -> None:
    seen: list[str] = []
    flow = Flow(start=Work())
    flow.subscribe(lambda e: 1 / 0).subscribe(lambda e: seen.append(e.kind))
    flow.run({})
    assert seen == ["flow_start", "node_start", "node_end", "flow_end"]
    assert len([r for r in ext_logs.records if r.exc_info]) == 4


def test_a_keyboard_interrupt_in_a_node_is_reported_as_cancelled(events) -> None:
    class Interrupted(Node):
        def exec(self, prep_res):
            raise KeyboardInterrupt

    try:
        Flow(start=Interrupted()).run({})
    except KeyboardInterrupt:
        pass
    assert [e.kind for e in events][-2:] == ["node_error", "flow_end"]
    assert events[-1].status == "cancelled"


def test_a_subscriber_that_unsubscribes_itself_does_not_make_the_next_one_miss_events() -> None:
    seen: list[tuple[str, str]] = []

    def once(event: Event) -> None:
        seen.append(("once", event.kind))
        unsubscribe_once()

    unsubscribe_once = pocketflow_ext.subscribe(once)
    unsubscribe_next = pocketflow_ext.subscribe(lambda e: seen.append(("next", e.kind)))
    try:
        Flow(start=Work()).run({})
    finally:
        unsubscribe_next()
    assert seen[:2] == [("once", "flow_start"), ("next", "flow_start")]
    assert [k for who, k in seen if who == "next"] == [
        "flow_start",
        "node_start",
        "node_end",
        "flow_end",
    ]


def test_a_node_whose_next_node_lookup_raises_still_ends_once(events) -> None:
    # Upstream's "Flow ends" warning turned into an error by a warnings filter: the node
    # itself finished, so it gets its node_end; the run fails on the raised warning.
    class Lost(Node):
        def post(self, shared, prep_res, exec_res):
            return "nowhere"

    lost = Lost()
    lost - "elsewhere" >> Work()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UserWarning, match="Flow ends: 'nowhere'"):
            Flow(start=lost).run({})
    assert [e.kind for e in events] == ["flow_start", "node_start", "node_end", "flow_end"]
    assert events[2].action == "nowhere" and events[3].status == "failed"


def test_hooks_that_raise_on_node_start_and_end_are_logged_and_the_run_goes_on(ext_logs) -> None:
    calls: list[str] = []
    flow = Flow(start=Work())
    flow.on("node_start", lambda name, store: 1 / 0)
    flow.on("node_end", lambda name, action, elapsed, store: 1 / 0)
    flow.on("node_end", lambda name, action, elapsed, store: calls.append(f"{name}:{action}"))
    assert flow.run({}) == "done"
    assert calls == ["Work:done"]
    failed = [r for r in ext_logs.records if r.exc_info]
    assert len(failed) == 2 and all("raised; the run continues" in r.getMessage() for r in failed)


class OnlyEnds:
    """A subscriber that says which kinds it wants."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def wants(self, kind: str) -> bool:
        return kind in ("node_end", "flow_end")

    def __call__(self, event: Event) -> None:
        self.seen.append(event.kind)


def test_a_flow_subscriber_gets_only_the_kinds_it_wants() -> None:
    only_ends = OnlyEnds()
    Flow(start=Work()).subscribe(only_ends).run({})
    assert only_ends.seen == ["node_end", "flow_end"]


def test_a_subscriber_without_wants_still_gets_every_kind_next_to_a_choosy_one() -> None:
    everything: list[str] = []
    Flow(start=Work()).subscribe(OnlyEnds()).subscribe(lambda e: everything.append(e.kind)).run({})
    assert everything == ["flow_start", "node_start", "node_end", "flow_end"]


def test_a_process_wide_subscriber_that_wants_nothing_gets_nothing_and_hooks_still_run() -> None:
    class Nothing:
        calls = 0

        def wants(self, kind: str) -> bool:
            return False

        def __call__(self, event: Event) -> None:
            Nothing.calls += 1

    ended: list[str] = []
    unsubscribe = pocketflow_ext.subscribe(Nothing())
    try:
        Flow(start=Work()).on("node_end", lambda name, *rest: ended.append(name)).run({})
    finally:
        unsubscribe()
    assert (Nothing.calls, ended) == (0, ["Work"])


def test_a_subscriber_whose_wants_raises_is_logged_and_gets_every_kind(ext_logs) -> None:
    class Broken:
        def __init__(self) -> None:
            self.seen: list[str] = []

        def wants(self, kind: str) -> bool:
            raise RuntimeError("no idea")

        def __call__(self, event: Event) -> None:
            self.seen.append(event.kind)

    broken = Broken()
    Flow(start=Work()).subscribe(broken).run({})
    assert broken.seen == ["flow_start", "node_start", "node_end", "flow_end"]
    assert any("raised in wants" in r.getMessage() for r in ext_logs.records)
