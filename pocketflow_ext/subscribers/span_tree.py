"""A finished run's events as a tree of spans: pure data, no OpenTelemetry.

Only the events of ends are needed: a node's span runs from ``ts - elapsed_s`` to ``ts``
of its ``node_end`` (or ``node_error``), a flow level's from its ``flow_start`` to its
``flow_end``. So the flow's thread never builds ``node_start`` records for tracing.

A span's parent is the span that contains it in time at the longest path above it (a node
at ``Outer/Inner/Summarise`` sits in the level ``Outer/Inner``, which sits in the node
``Outer/Inner`` that ran it); among several executions of that path (a loop) the one
whose interval holds it. Parallel branches (``Flow/Parallel/b/Fetch``) land under their
group's node the same way, whatever thread or task they ran in.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from typing import Any

from ..stream import events as ev
from ..stream.events import Event

# Start times are computed from two clocks read a few microseconds apart: containment
# allows this much slack.
SLACK_S = 2e-5


class SpanItem:
    """One span to build: a run, a nested flow level or a node execution."""

    __slots__ = ("kind", "path", "start", "end", "step", "first", "last", "retries", "parent")

    def __init__(self, kind: str, path: str, start: float, first: Event) -> None:
        self.kind = kind  # "run", "flow" or "node"
        self.path = path
        self.start = start
        self.end: float | None = None
        self.step = first.step if kind == "node" else None
        self.first = first  # flow_start, or the node's end event
        self.last: Event | None = first if kind == "node" else None  # flow_end
        self.retries: list[Event] = []
        self.parent: SpanItem | None = None

    def contains(self, other: SpanItem) -> bool:
        end = self.end if self.end is not None else float("inf")
        other_end = other.end if other.end is not None else other.start
        if self.start > other.start + SLACK_S or other_end > end + SLACK_S:
            return False
        # Node executions are numbered in start order: a parent started first.
        return not (self.step is not None and other.step is not None and self.step >= other.step)


def span_tree(events: Iterable[Event]) -> list[SpanItem]:
    """The run's spans with their parents set (the run's own span first, parent None).
    Levels that never ended keep ``end`` None."""
    items: list[SpanItem] = []
    open_levels: dict[str, list[SpanItem]] = {}
    retries: dict[int | None, list[Event]] = {}
    for event in events:
        kind = event.kind
        if kind in (ev.NODE_END, ev.NODE_ERROR):
            item = SpanItem("node", event.path, event.ts - (event.elapsed_s or 0.0), event)
            item.end = event.ts
            items.append(item)
        elif kind == ev.FLOW_START:
            top = event.path == event.flow_name
            item = SpanItem("run" if top else "flow", event.path, event.ts, event)
            open_levels.setdefault(event.path, []).append(item)
            items.append(item)
        elif kind == ev.FLOW_END:
            stack = open_levels.get(event.path)
            if stack:
                item = stack.pop()
                item.end, item.last = event.ts, event
        elif kind == ev.NODE_RETRY:
            retries.setdefault(event.step, []).append(event)
    for item in items:
        if item.kind == "node":
            item.retries = retries.get(item.step, [])
    _link(items)
    return items


def _link(items: list[SpanItem]) -> None:
    by_path: dict[str, list[SpanItem]] = {}
    for item in sorted(items, key=lambda i: i.start):
        by_path.setdefault(item.path, []).append(item)
    starts = {path: [i.start for i in group] for path, group in by_path.items()}
    for item in items:
        if item.kind == "run":
            continue
        # A level's parent may be the node at its own path (the flow run as a node).
        probe = item.path if item.kind == "flow" else item.path.rpartition("/")[0]
        while probe and item.parent is None:
            item.parent = _containing(item, by_path.get(probe), starts.get(probe))
            probe = probe.rpartition("/")[0]


def _containing(
    item: SpanItem, group: list[SpanItem] | None, starts: list[float] | None
) -> SpanItem | None:
    """The latest-starting span of ``group`` that holds ``item`` (levels before the node
    at the same path: they sit inside it)."""
    if not group or starts is None:
        return None
    found: Any = None
    for index in range(bisect_right(starts, item.start + SLACK_S) - 1, -1, -1):
        candidate = group[index]
        if found is not None and candidate.start < found.start - SLACK_S:
            break  # earlier executions of this path: the one found is the innermost
        if candidate is item or (candidate.path == item.path and candidate.kind != "node"):
            continue  # a level never holds a level of its own path
        if candidate.contains(item):
            if found is None or (found.kind == "node" and candidate.kind != "node"):
                found = candidate
            if found.kind != "node":
                break
    return found
