"""The event record: kinds, hook signatures, immutability, fields read by name."""

from __future__ import annotations

import pytest

from pocketflow_ext import EVENT_KINDS, Event
from pocketflow_ext.stream.events import FIELDS, HOOK_SIGNATURES


def test_event_kinds_and_hook_signatures_are_pocoflows() -> None:
    assert EVENT_KINDS[:6] == (
        "flow_start",
        "node_start",
        "node_retry",
        "node_end",
        "node_error",
        "flow_end",
    )
    assert {"run_waiting", "run_answered"} <= set(EVENT_KINDS)
    assert HOOK_SIGNATURES["node_end"] == "(name, action, elapsed_s, store)"


def test_custom_events_of_emit_are_a_kind_with_their_own_hook_signature() -> None:
    assert "custom" in EVENT_KINDS
    assert HOOK_SIGNATURES["custom"] == "(name, topic, data, store)"


def test_events_are_immutable() -> None:
    event = Event(kind="flow_start", run_id="r", flow_name="f", path="f", ts=0.0)
    with pytest.raises(AttributeError):
        event.kind = "x"  # type: ignore[misc]


def test_events_carry_the_documented_fields_and_default_the_optional_ones_to_none() -> None:
    assert list(FIELDS) == [
        "kind", "run_id", "flow_name", "path", "ts", "step", "node", "action", "elapsed_s",
        "attempt", "delay_s", "error", "traceback", "params", "status", "steps", "store", "exc",
        "topic", "data", "recorded",
    ]  # fmt: skip
    event = Event(kind="node_start", run_id="r", flow_name="f", path="f/A", ts=1.0, node="A")
    assert event.node == "A" and event.action is None and event.store is None
    assert all(hasattr(event, name) for name in FIELDS)


def test_events_compare_by_value_and_survive_pickling() -> None:
    import pickle

    event = Event(kind="node_end", run_id="r", flow_name="f", path="f/A", ts=1.0, action="done")
    same = Event(kind="node_end", run_id="r", flow_name="f", path="f/A", ts=1.0, action="done")
    assert event == same and event != Event(**{**fields_of(event), "action": "other"})
    assert pickle.loads(pickle.dumps(event)) == event


def fields_of(event: Event) -> dict:
    return {name: getattr(event, name) for name in FIELDS}


def test_events_are_built_by_keyword_so_new_fields_cannot_shift_old_ones() -> None:
    with pytest.raises(TypeError):
        Event("flow_start", "r", "f", "f", 0.0)  # type: ignore[misc]


def test_an_event_repr_leaves_out_the_store() -> None:
    event = Event(kind="flow_start", run_id="r", flow_name="f", path="f", ts=0.0, store={"k": 1})
    assert repr(event) == "Event(kind='flow_start', run_id='r', flow_name='f', path='f', ts=0.0)"
