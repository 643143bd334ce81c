"""What events exist: the event kinds, the hook signatures and the immutable event record."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

FLOW_START = "flow_start"
NODE_START = "node_start"
NODE_RETRY = "node_retry"
NODE_END = "node_end"
NODE_ERROR = "node_error"
FLOW_END = "flow_end"

# Hook signatures are PocoFlow's so its hook code ports unchanged.
HOOK_SIGNATURES: Mapping[str, str] = {
    FLOW_START: "(flow_name, store)",
    NODE_START: "(name, store)",
    NODE_RETRY: "(name, attempt, exc, delay_s, store)",
    NODE_END: "(name, action, elapsed_s, store)",
    NODE_ERROR: "(name, exc, store)",
    FLOW_END: "(steps, store)",
}
EVENT_KINDS = tuple(HOOK_SIGNATURES)


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """One immutable record of something that happened in a run, built by keyword.

    Read fields by name: new fields may be added (always with a default), so a subscriber
    written today keeps working. ``path`` is the node's place in the run
    (``Outer/Inner/Summarise``); ``node`` its name within its own flow. The top flow of a
    run is the one whose ``path == flow_name``. ``status`` is set on ``flow_end``
    (completed, failed, cancelled). ``store`` and ``exc`` are live references for
    in-process subscribers; persist their serialised form, never the objects.
    """

    kind: str
    run_id: str
    flow_name: str
    path: str
    ts: float
    step: int | None = None
    node: str | None = None
    action: str | None = None
    elapsed_s: float | None = None
    attempt: int | None = None
    delay_s: float | None = None
    error: str | None = None
    traceback: str | None = None
    params: Mapping[str, Any] | None = None
    status: str | None = None
    steps: int | None = None
    store: Any = field(default=None, repr=False)  # the whole shared store: too big to print
    exc: BaseException | None = None


Subscriber = Callable[[Event], Any]
