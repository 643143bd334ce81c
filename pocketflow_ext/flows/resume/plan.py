"""Starting a flow mid-graph without changing the flow object other runs may be using.

A run goes through a shallow copy whose ``start_node`` is the resume node and whose
``naming_root`` is the original start, so nodes keep the names (and checkpoints the
paths) of the original graph. A flow nested as a node is entered mid-graph the same way,
through the resume plan of the run in progress.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import pocketflow

from ...errors import ResumeError
from ...graph import assign_names, base_name, graph_nodes
from ...stream.scope import current_frame
from ..observe import flow_label


def naming_root(flow: Any) -> Any:
    return getattr(flow, "naming_root", None) or flow.start_node


def node_names(flow: Any) -> dict[int, str]:
    """The names of ``flow``'s nodes by ``id()``, as its runs record them."""
    return assign_names(naming_root(flow))


def find_node(flow: Any, name: str) -> Any | None:
    """The node of ``flow``'s graph (not inside nested flows) named ``name``, or None.

    The one lookup of a recorded name in a graph: ``resume_from="Name"`` and resuming a
    recorded run both use it.
    """
    names = node_names(flow)
    for node in graph_nodes(naming_root(flow)):
        if names[id(node)] == name:
            return node
    return None


def starting_at(flow: Any, node: Any) -> Any:
    """A shallow copy of ``flow`` that starts at ``node`` and names nodes as ``flow`` does."""
    start = copy.copy(flow)
    start.naming_root = naming_root(flow)
    start.start_node = node
    return start


def graph_node(flow: Any, node: Any) -> Any:
    """``node`` (a node of ``flow``'s graph, or its name) as a node of that graph."""
    if isinstance(node, str):
        found = find_node(flow, node)
        if found is None:
            raise ResumeError(
                f"flow {flow_label(flow)!r} has no node named {node!r}; its nodes are "
                f"{', '.join(sorted(node_names(flow).values()))}. Pass one of these names or "
                "the node object"
            )
        return found
    if id(node) not in node_names(flow):
        raise ResumeError(
            f"node {base_name(node)!r} ({type(node).__name__}) is not in the graph of flow "
            f"{flow_label(flow)!r}; pass a node reachable from its start node "
            "(a node inside a nested flow is resumed with flow.resume(run_id))"
        )
    return node


def check_resumable_kind(flow: Any, what: str) -> None:
    if isinstance(flow, pocketflow.BatchFlow):
        raise ResumeError(
            f"{what} of BatchFlow {flow_label(flow)!r} is not supported: every batch iteration "
            "would start at that node. Run the batch again, or resume the flow that contains it"
        )


@dataclass
class ResumePlan:
    """Where nested flow levels of one resumed run start: level path -> node."""

    top: Any
    starts: dict[str, Any]

    def start_for(self, flow: Any) -> Any:
        frame = current_frame()
        if frame is None or not self.starts:
            return None
        level = frame.level
        while level.parent is not None:
            level = level.parent
        if level.flow is not self.top:
            return None  # another run (one started from inside a node, say)
        path = f"{frame.level.path}/{frame.node or base_name(flow)}"
        # Popped: a loop that comes back to this flow later runs it from its start.
        return self.starts.pop(path, None)


_plan: ContextVar[ResumePlan | None] = ContextVar("pocketflow_ext_resume_plan", default=None)


def planned_start(flow: Any) -> Any:
    """The node a nested ``flow`` level starts at in the resumed run in progress, or None."""
    plan = _plan.get()
    return plan.start_for(flow) if plan is not None else None


def run_plan(flow: Any, store: Any, top_start: Any, nested: Mapping[str, Any]) -> Any:
    """Run ``flow`` from ``top_start``, entering nested flows at their ``nested`` starts."""
    with _planned(flow, top_start, nested) as top:
        return top.run(store)


async def run_plan_async(flow: Any, store: Any, top_start: Any, nested: Mapping[str, Any]) -> Any:
    """``run_plan`` for an async flow (``run_async``)."""
    with _planned(flow, top_start, nested) as top:
        return await top.run_async(store)


@contextmanager
def _planned(flow: Any, top_start: Any, nested: Mapping[str, Any]) -> Iterator[Any]:
    top = starting_at(flow, top_start)
    token = _plan.set(ResumePlan(top, dict(nested)))
    try:
        yield top
    finally:
        _plan.reset(token)
