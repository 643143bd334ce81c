"""EventLog: every event as one structured dd-logging record.

Flow events go to the ``pocketflow_ext.flow`` logger, node events to ``pocketflow_ext.node``,
with run_id, flow, path, step, node, action, elapsed_s (and error, attempt, status, ...) as
fields, so ``setup_logging(log_format="jsonl")`` writes one JSON object per event. Until
logging is set up the loggers are disabled and each event costs one level check.
"""

from __future__ import annotations

import logging
from typing import Any

from dd_logging import log_event

from ..logging import get_logger
from ..stream import events as ev
from ..stream.events import Event

_FLOW = get_logger("flow")
_NODE = get_logger("node")

_LEVELS = {
    ev.NODE_RETRY: logging.WARNING,
    ev.NODE_ERROR: logging.ERROR,
    ev.CUSTOM: logging.DEBUG,  # emit(): possibly one per token, so only when asked for
}
_STATUS_LEVELS = {"failed": logging.ERROR, "cancelled": logging.WARNING}

# Fields copied from the event when set; ``store`` and ``exc`` are live objects, not log data.
_FIELDS = (
    "step",
    "node",
    "action",
    "elapsed_s",
    "attempt",
    "delay_s",
    "error",
    "params",
    "status",
    "steps",
    "topic",
)


class EventLog:
    """Subscriber logging each event; ``flow.subscribe(EventLog())`` or process-wide with
    ``pocketflow_ext.subscribe(EventLog())`` (``instrument()`` and the CLI attach one)."""

    def wants(self, kind: str) -> bool:
        """Asked as each flow starts: records are only built for kinds that would be logged."""
        if kind == ev.FLOW_END:
            return _FLOW.isEnabledFor(max(_STATUS_LEVELS.values()))  # failed runs log highest
        logger = _NODE if kind.startswith("node_") else _FLOW
        return logger.isEnabledFor(_LEVELS.get(kind, logging.INFO))

    def __call__(self, event: Event) -> None:
        is_node = event.kind.startswith("node_")
        logger = _NODE if is_node else _FLOW
        level = _LEVELS.get(event.kind, logging.INFO)
        if event.kind == ev.FLOW_END:
            level = _STATUS_LEVELS.get(event.status or "", logging.INFO)
        if not logger.isEnabledFor(level):
            return
        fields: dict[str, Any] = {
            "run_id": event.run_id,
            "flow": event.flow_name,
            "path": event.path,
        }
        for name in _FIELDS:
            value = getattr(event, name)
            if value is not None:
                fields[name] = value
        if event.kind == ev.NODE_END:
            fields["action"] = event.action  # None is upstream's "default" and worth showing
        if event.kind == ev.NODE_ERROR and event.traceback:
            fields["traceback"] = event.traceback
        log_event(logger, event.kind, level=level, **fields)
