"""ResumeMixin: start a run mid-graph (``run(store, resume_from=node)``) or continue a
recorded run after its last completed node (``resume(run_id)``)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from ...errors import ResumeError
from ...runstore.base import RunStore
from ...runstore.open import open_store
from ...store.store import Store
from ...stream.scope import RunOptions, run_options
from ..background import start_background
from ..handle import RunHandle
from ..observe import flow_label
from .pending import claimed_by
from .plan import check_resumable_kind, graph_node, planned_start, run_plan, starting_at
from .point import Prepared, prepare


@contextmanager
def recorded_in(flow: Any, run_id: str, db_path: Any) -> Iterator[RunStore]:
    """The store to read run ``run_id`` from: ``db_path`` (read-only, so a mistyped path
    leaves no empty database behind) or the flow's own."""
    if db_path is not None:
        with open_store(db_path, readonly=True) as store:
            yield store
        return
    own = getattr(flow, "db", None)
    if own is None:
        raise ResumeError(
            f"flow {flow_label(flow)!r} does not record runs, so it cannot tell where run "
            f"{run_id!r} stopped; pass db_path= (the database the run was recorded in)"
        )
    yield own.store


def _prepare_for(
    flow: Any, run_id: str, db_path: Any, overrides: Mapping[str, Any] | None
) -> Prepared:
    with recorded_in(flow, run_id, db_path) as store:
        return prepare(flow, store, run_id, overrides)


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
        store, top_start, nested, extra = _prepare_for(self, run_id, db_path, overrides)
        with run_options(RunOptions(extra={"resumed_from": run_id, **extra})):
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
        store, top_start, nested, extra = _prepare_for(self, run_id, db_path, overrides)
        return start_background(
            self,
            store,
            lambda: run_plan(self, store, top_start, nested),
            extra={"resumed_from": run_id, **extra},
        )

    def run(self, shared: Any, resume_from: Any = None) -> Any:
        """Run the flow on ``shared``; with ``resume_from`` (a node of this flow's graph or
        its name) start at that node instead of the start node."""
        if resume_from is None:
            pending = claimed_by(self)  # ``pocketflow-ext run --resume``; None otherwise
            if pending is not None:
                return pending.run(self, shared)
            return super().run(shared)  # type: ignore[misc]
        check_resumable_kind(self, "resume_from")
        return starting_at(self, graph_node(self, resume_from)).run(shared)

    def _run(self, shared: Any) -> Any:
        start = planned_start(self)
        if start is None:
            return super()._run(shared)  # type: ignore[misc]
        return super(ResumeMixin, starting_at(self, start))._run(shared)  # type: ignore[misc]

    async def _run_async(self, shared: Any) -> Any:
        start = planned_start(self)
        if start is None:
            return await super()._run_async(shared)  # type: ignore[misc]
        return await super(ResumeMixin, starting_at(self, start))._run_async(shared)  # type: ignore[misc]


class AsyncResumeMixin(ResumeMixin):
    """``await flow.run_async(store, resume_from=node)`` for async flows."""

    async def run_async(self, shared: Any, resume_from: Any = None) -> Any:
        """``run_async`` that may start at ``resume_from`` (a node or its name)."""
        if resume_from is None:
            pending = claimed_by(self)
            if pending is not None:
                return await pending.run_async(self, shared)
            return await super().run_async(shared)  # type: ignore[misc]
        check_resumable_kind(self, "resume_from")
        return await starting_at(self, graph_node(self, resume_from)).run_async(shared)
