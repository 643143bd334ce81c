"""The event record: kinds, hook signatures, immutability."""

from __future__ import annotations

import pytest

from pocketflow_ext import EVENT_KINDS, Event
from pocketflow_ext.stream.events import HOOK_SIGNATURES


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


def test_events_are_immutable() -> None:
    event = Event("flow_start", "r", "f", "f", 0.0)
    with pytest.raises(AttributeError):
        event.kind = "x"  # type: ignore[misc]
