"""ResumeMixin: start a run mid-graph (``run(store, resume_from=node)``) or continue a
recorded run after its last completed node (``resume(run_id)``)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from ...errors import ResumeError
from ...runstore.base import RunStore
from ...runstore.open import open_store
from ...store.store import Store
from ...stream.scope import RunOptions, run_options
from ..background import start_background
from ..fork import prepare_fork
from ..handle import RunHandle
from ..interrupt import Halts
from ..observe import flow_label
from .answer import NO_ANSWER, answer_values, claim_answer, prepare_answer
from .claim import claim, claim_store, next_run_id
from .pending import claimed_by
from .plan import check_resumable_kind, graph_node, planned_start, run_plan, starting_at
from .point import Prepared, prepare_resume


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
) -> tuple[Prepared, dict[str, Any]]:
    """What the resume needs, and the new run's options (``resumed_from``, and the finished
    branches of a Parallel group it stopped in)."""
    with recorded_in(flow, run_id, db_path) as store:
        prepared, options = prepare_resume(flow, store, run_id, overrides)
    return prepared, {"resumed_from": run_id, **options}


def _claimed(flow: Any, run_id: str, db_path: Any) -> str:
    """The new run's id, once run ``run_id`` is claimed for it (``ResumeError`` if another
    process is resuming it now)."""
    own = getattr(flow, "db", None)
    new_id = next_run_id(flow)
    claim(claim_store(own.store if own is not None else None, db_path), run_id, new_id)
    return new_id


@contextmanager
def _writable(flow: Any, run_id: str, db_path: Any) -> Iterator[RunStore]:
    """The store run ``run_id`` is recorded in, writable: answering claims the run there."""
    if db_path is None:
        with recorded_in(flow, run_id, None) as own:
            yield own
        return
    with open_store(db_path) as store:
        yield store


def _prepare_answer(
    flow: Any, run_id: str, db_path: Any, values: list[Any], overrides: Any
) -> tuple[Prepared, dict[str, Any]]:
    """Check, then claim: only a run that can be continued is taken off ``waiting``."""
    with _writable(flow, run_id, db_path) as store:
        prepared, answers = prepare_answer(flow, store, run_id, values, overrides)
        claim_answer(store, run_id)
    return prepared, {"resumed_from": run_id, "answers": answers}


def _prepare_continuation(
    flow: Any,
    run_id: str,
    db_path: Any,
    overrides: Mapping[str, Any] | None,
    answer: Any,
    answers: Sequence[Any] | None,
) -> tuple[Prepared, RunOptions]:
    """What ``resume`` and ``resume_background`` start: a plain resume claims run
    ``run_id`` for a new run id; an answer's claim is the run's status change (``waiting``
    to answered), so its new run takes the usual fresh id."""
    values = answer_values(answer, answers)
    if values is None:
        prepared, extra = _prepare_for(flow, run_id, db_path, overrides)
        return prepared, RunOptions(run_id=_claimed(flow, run_id, db_path), extra=extra)
    prepared, extra = _prepare_answer(flow, run_id, db_path, values, overrides)
    return prepared, RunOptions(extra=extra)


def _prepare_fork(
    flow: Any, run_id: str, step: int | None, db_path: Any, overrides: Any
) -> tuple[Prepared, dict[str, Any]]:
    with recorded_in(flow, run_id, db_path) as store:
        prepared, at = prepare_fork(flow, store, run_id, step, overrides)
    return prepared, {"forked_from": run_id, "forked_at_step": at}


class ResumeMixin:
    """``flow.run(store, resume_from=node)``, ``flow.resume(run_id)`` (also answering a
    waiting run), ``flow.fork(run_id, step=N)`` and ``halt_before=``/``halt_after=``."""

    halts: Halts | None = None

    def __init__(
        self,
        *args: Any,
        halt_before: Iterable[str] | None = None,
        halt_after: Iterable[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if halt_before is not None or halt_after is not None:
            self.halts = Halts(halt_before or (), halt_after or ()) or None

    def resume(
        self,
        run_id: str,
        db_path: str | os.PathLike[str] | None = None,
        *,
        overrides: Mapping[str, Any] | None = None,
        answer: Any = NO_ANSWER,
        answers: Sequence[Any] | None = None,
    ) -> Store:
        """Continue a failed, cancelled or interrupted recorded run, or answer a waiting
        one; returns its store.

        Restores the store of the run's last checkpoint and runs the flow from the node
        after the last completed one, as a new run whose ``resumed_from`` is ``run_id``.
        ``db_path`` defaults to the flow's own database (the new run is recorded only if the
        flow records); ``overrides`` puts back values the checkpoint could not save as
        JSON (clients, locks, ...) or edits the store.

        ``answer=value`` answers a ``waiting`` run: the node that paused runs again from
        its start and its ``interrupt()`` returns ``value`` (``answers=[...]`` for several
        calls, in order). Exactly one of several concurrent answers wins; the others, and
        answering a run that is not waiting, raise ``ResumeError``.
        """
        (store, top_start, nested), options = _prepare_continuation(
            self, run_id, db_path, overrides, answer, answers
        )
        with run_options(options):
            run_plan(self, store, top_start, nested)
        return store

    def resume_background(
        self,
        run_id: str,
        db_path: str | os.PathLike[str] | None = None,
        *,
        overrides: Mapping[str, Any] | None = None,
        answer: Any = NO_ANSWER,
        answers: Sequence[Any] | None = None,
    ) -> RunHandle:
        """``resume`` in a daemon thread; returns the new run's ``RunHandle``."""
        (store, top_start, nested), options = _prepare_continuation(
            self, run_id, db_path, overrides, answer, answers
        )
        return start_background(
            self,
            store,
            lambda: run_plan(self, store, top_start, nested),
            run_id=options.run_id,
            extra=options.extra,
        )

    def fork(
        self,
        run_id: str,
        step: int | None = None,
        *,
        overrides: Mapping[str, Any] | None = None,
        db_path: str | os.PathLike[str] | None = None,
    ) -> Store:
        """Start a new run from the checkpoint after ``step`` of run ``run_id`` (default:
        its latest), with ``overrides`` put into the store, at the node that followed that
        step; returns the new run's store. The new run records ``forked_from`` and
        ``forked_at_step``; the original run is only read. Any status can be forked.
        """
        (store, top_start, nested), extra = _prepare_fork(self, run_id, step, db_path, overrides)
        with run_options(RunOptions(extra=extra)):
            run_plan(self, store, top_start, nested)
        return store

    def fork_background(
        self,
        run_id: str,
        step: int | None = None,
        *,
        overrides: Mapping[str, Any] | None = None,
        db_path: str | os.PathLike[str] | None = None,
    ) -> RunHandle:
        """``fork`` in a daemon thread; returns the new run's ``RunHandle``."""
        (store, top_start, nested), extra = _prepare_fork(self, run_id, step, db_path, overrides)
        return start_background(
            self, store, lambda: run_plan(self, store, top_start, nested), extra=extra
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
