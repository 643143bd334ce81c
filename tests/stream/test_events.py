"""The event record: kinds, hook signatures, and the positional fast constructor."""

from __future__ import annotations

import pytest

from pocketflow_ext import EVENT_KINDS, Event
from pocketflow_ext.stream.events import HOOK_SIGNATURES, node_record


def test_event_kinds_and_hook_signatures_are_pocoflows() -> None:
    assert EVENT_KINDS == (
        "flow_start",
        "node_start",
        "node_retry",
        "node_end",
        "node_error",
        "flow_end",
    )
    assert HOOK_SIGNATURES["node_end"] == "(name, action, elapsed_s, store)"


def test_node_record_puts_every_value_in_its_named_field() -> None:
    store, params = {"s": 1}, {"i": 2}
    fast = node_record(
        "node_end", "run-1", "flow", "flow/N", 1.5, 3, "N", "go", 0.25, params, store
    )
    assert fast == Event(
        "node_end",
        "run-1",
        "flow",
        "flow/N",
        1.5,
        step=3,
        node="N",
        action="go",
        elapsed_s=0.25,
        params=params,
        store=store,
    )
    assert type(fast) is Event and fast.store is store and fast.error is None


def test_events_are_immutable() -> None:
    event = Event("flow_start", "r", "f", "f", 0.0)
    with pytest.raises(AttributeError):
        event.kind = "x"  # type: ignore[misc]
