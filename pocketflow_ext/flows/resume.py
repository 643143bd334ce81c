"""ResumeMixin: start a run mid-graph (``run(store, resume_from=node)``) or continue a
recorded run after its last completed node (``resume(run_id)``).

The shared flow object is never changed, since other runs may be using it: the run goes
through a shallow copy whose ``start_node`` is the resume node and whose ``naming_root``
is the original start, so nodes keep the names (and checkpoints the paths) of the
original graph. A flow nested as a node is entered mid-graph the same way, through the
resume plan of the run in progress.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import pocketflow

from ..errors import ResumeError
from ..recording.db import WorkflowDB
from ..store.store import Store
from ..stream.scope import RunOptions, current_frame, run_options
from .background import start_background
from .handle import RunHandle
from .naming import assign_names, base_name, graph_nodes
from .observe import flow_label
from .resume_point import plan_starts, restored_store, resume_point


def naming_root(flow: Any) -> Any:
    return getattr(flow, "naming_root", None) or flow.start_node


def starting_at(flow: Any, node: Any) -> Any:
    """A shallow copy of ``flow`` that starts at ``node`` and names nodes as ``flow`` does."""
    start = copy.copy(flow)
    start.naming_root = naming_root(flow)
    start.start_node = node
    return start


def graph_node(flow: Any, node: Any) -> Any:
    """``node`` (a node of ``flow``'s graph, or its name) as a node of that graph."""
    names = assign_names(naming_root(flow))
    if isinstance(node, str):
        for candidate in graph_nodes(naming_root(flow)):
            if names.get(id(candidate)) == node:
                return candidate
        raise ResumeError(
            f"flow {flow_label(flow)!r} has no node named {node!r}; its nodes are "
            f"{', '.join(sorted(names.values()))}. Pass one of these names or the node object"
        )
    if id(node) not in names:
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


def run_plan(flow: Any, store: Any, top_start: Any, nested: Mapping[str, Any]) -> Any:
    """Run ``flow`` from ``top_start``, entering nested flows at their ``nested`` starts."""
    top = starting_at(flow, top_start)
    token = _plan.set(ResumePlan(top, dict(nested)))
    try:
        return top.run(store)
    finally:
        _plan.reset(token)


def prepare_resume(
    flow: Any, run_id: str, db_path: Any, overrides: Mapping[str, Any] | None
) -> tuple[Store, Any, dict[str, Any]]:
    """Everything a resume needs, checked before any node runs: store, top start, nested starts."""
    check_resumable_kind(flow, "resume")
    if db_path is not None:
        # Read-only: a mistyped path must not leave an empty database behind.
        with WorkflowDB(db_path, readonly=True) as db:
            return _plan_from(flow, db, run_id, overrides)
    own = getattr(flow, "db", None)
    if own is None:
        raise ResumeError(
            f"flow {flow_label(flow)!r} does not record runs, so it cannot tell where run "
            f"{run_id!r} stopped; pass db_path= (the database the run was recorded in)"
        )
    return _plan_from(flow, own, run_id, overrides)


def _plan_from(
    flow: Any, db: WorkflowDB, run_id: str, overrides: Mapping[str, Any] | None
) -> tuple[Store, Any, dict[str, Any]]:
    point = resume_point(db, run_id)
    top_start, nested = plan_starts(flow, point)
    return restored_store(point, overrides), top_start, nested


class ResumeMixin:
    """``flow.run(store, resume_from=node)`` and ``flow.resume(run_id)``."""

    def resume(
        self,
        run_id: str,
        db_path: str | os.PathLike[str] | None = None,
        *,
        overrides: Mapping[str, Any] | None = None,
    ) -> Store:
        """Continue a failed, cancelled or interrupted recorded run; returns its store.

        Restores the store of the run's last checkpoint and runs the flow from the node
        after the last completed one, as a new run whose ``resumed_from`` is ``run_id``.
        ``db_path`` defaults to the flow's own database (the new run is recorded only if the
        flow records); ``overrides`` puts back values the checkpoint could not save as
        JSON (clients, locks, ...).
        """
        store, top_start, nested = prepare_resume(self, run_id, db_path, overrides)
        with run_options(RunOptions(extra={"resumed_from": run_id})):
            run_plan(self, store, top_start, nested)
        return store

    def resume_background(
        self,
        run_id: str,
        db_path: str | os.PathLike[str] | None = None,
        *,
        overrides: Mapping[str, Any] | None = None,
    ) -> RunHandle:
        """``resume`` in a daemon thread; returns the new run's ``RunHandle``."""
        store, top_start, nested = prepare_resume(self, run_id, db_path, overrides)
        return start_background(
            self,
            store,
            lambda: run_plan(self, store, top_start, nested),
            extra={"resumed_from": run_id},
        )

    def run(self, shared: Any, resume_from: Any = None) -> Any:
        """Run the flow on ``shared``; with ``resume_from`` (a node of this flow's graph or
        its name) start at that node instead of the start node."""
        if resume_from is None:
            return super().run(shared)  # type: ignore[misc]
        check_resumable_kind(self, "resume_from")
        return starting_at(self, graph_node(self, resume_from)).run(shared)

    def _run(self, shared: Any) -> Any:
        plan = _plan.get()
        start = plan.start_for(self) if plan is not None else None
        if start is None:
            return super()._run(shared)  # type: ignore[misc]
        return super(ResumeMixin, starting_at(self, start))._run(shared)  # type: ignore[misc]

    async def _run_async(self, shared: Any) -> Any:
        plan = _plan.get()
        start = plan.start_for(self) if plan is not None else None
        if start is None:
            return await super()._run_async(shared)  # type: ignore[misc]
        return await super(ResumeMixin, starting_at(self, start))._run_async(shared)  # type: ignore[misc]


class AsyncResumeMixin(ResumeMixin):
    """``await flow.run_async(store, resume_from=node)`` for async flows."""

    async def run_async(self, shared: Any, resume_from: Any = None) -> Any:
        """``run_async`` that may start at ``resume_from`` (a node or its name)."""
        if resume_from is None:
            return await super().run_async(shared)  # type: ignore[misc]
        check_resumable_kind(self, "resume_from")
        return await starting_at(self, graph_node(self, resume_from)).run_async(shared)
