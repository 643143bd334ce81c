"""``pocketflow-ext run --resume RUN_ID``: the script's first top-level run of the recorded
run's flow continues that run instead of starting fresh, whether the flow is an upstream
``pocketflow`` flow (claimed in instrument's wrappers) or one of ours (in ``ResumeMixin``).

The script's own store is updated in place to the run's last checkpoint (its own values
stand in for keys the checkpoint could not save) and the flow runs from the node after the
last completed one, through the same preparation and plan as ``flow.resume(run_id)``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, MutableMapping
from typing import Any

from ...errors import ResumeError, RunNotFound
from ...recording.recorder import process_recorder
from ...runstore.open import open_store
from ...stream.scope import RunOptions, current_frame, run_options
from ..fork import prepare_fork
from ..observe import flow_label
from .answer import claim_answer, prepare_answer, waiting_question
from .claim import claim, claim_store, next_run_id
from .plan import run_plan, run_plan_async
from .point import prepare_resume, resume_point


class PendingResume:
    """A recorded run waiting for the script to run its flow: resumed, answered
    (``answers``) or forked (``fork=True``, at ``step`` with ``overrides``)."""

    def __init__(
        self,
        db_path: str | os.PathLike[str],
        run_id: str,
        *,
        answers: list[Any] | None = None,
        fork: bool = False,
        step: int | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> None:
        self.db_path = os.fspath(db_path)
        self.run_id = run_id
        self.answers, self.fork, self.step, self.overrides = answers, fork, step, overrides
        # Checked now, before the script starts: unknown, completed or checkpoint-less runs.
        with open_store(self.db_path, readonly=True) as store:
            if answers is not None:
                waiting_question(store, run_id)
                self.flow_name = str((store.get_run(run_id) or {})["flow_name"])
            elif fork:
                found = store.get_run(run_id)
                if found is None:
                    raise RunNotFound(f"no run {run_id!r} in {store.location}; check --db")
                self.flow_name = str(found["flow_name"])
            else:
                self.flow_name = resume_point(store, run_id).flow_name
        self.claimed = False
        self.error: ResumeError | None = None  # the refusal raised into the script, if any
        self._lock = threading.Lock()

    def claim(self, flow: Any) -> bool:
        """Whether this top-level run of ``flow`` is the one that resumes (only the first)."""
        if self.claimed or current_frame() is not None or flow_label(flow) != self.flow_name:
            return False
        with self._lock:
            if self.claimed:
                return False
            self.claimed = True
            return True

    def run(self, flow: Any, shared: Any) -> Any:
        top_start, nested, extra = self._restore(flow, shared)
        with run_options(self._options(flow, extra)):
            return run_plan(flow, shared, top_start, nested)

    async def run_async(self, flow: Any, shared: Any) -> Any:
        top_start, nested, extra = self._restore(flow, shared)
        with run_options(self._options(flow, extra)):
            return await run_plan_async(flow, shared, top_start, nested)

    def _options(self, flow: Any, extra: dict[str, Any]) -> RunOptions:
        """A plain resume claims the run; an answer already took it off ``waiting``."""
        if "resumed_from" in extra and "answers" not in extra:
            return RunOptions(run_id=self._claim(flow), extra=extra)
        return RunOptions(extra=extra)

    def _claim(self, flow: Any) -> str:
        """Claim the run in the store recording the script's runs (its own flow's, or the
        one ``instrument()`` set up), so a second process resuming it is refused."""
        own = getattr(flow, "db", None)
        recorder = process_recorder()
        if own is not None:
            store = own.store
        elif recorder is not None and recorder.writer is not None:
            store = recorder.writer.store
        else:
            store = None
        new_id = next_run_id(flow)
        try:
            claim(claim_store(store, self.db_path), self.run_id, new_id)
        except ResumeError as exc:
            self.error = exc
            raise
        return new_id

    def _restore(self, flow: Any, shared: Any) -> tuple[Any, dict[str, Any], dict[str, Any]]:
        """Checks the graph, then puts the checkpoint into the script's own store object."""
        extra: dict[str, Any] = {"resumed_from": self.run_id}
        try:
            if not isinstance(shared, MutableMapping):
                raise ResumeError(
                    f"flow {self.flow_name!r} was run on a {type(shared).__name__}, not a "
                    f"dict, so run {self.run_id!r}'s store cannot be restored into it"
                )
            if self.answers is not None:
                with open_store(self.db_path) as runs:
                    (store, top_start, nested), answers = prepare_answer(
                        flow, runs, self.run_id, self.answers, self.overrides, live=shared
                    )
                    claim_answer(runs, self.run_id)
                extra["answers"] = answers
            elif self.fork:
                with open_store(self.db_path, readonly=True) as runs:
                    (store, top_start, nested), at = prepare_fork(
                        flow, runs, self.run_id, self.step, self.overrides, live=shared
                    )
                extra = {"forked_from": self.run_id, "forked_at_step": at}
            else:
                with open_store(self.db_path, readonly=True) as runs:
                    (store, top_start, nested), options = prepare_resume(
                        flow, runs, self.run_id, self.overrides, live=shared
                    )
                extra.update(options)  # a Parallel group's finished branches
        except ResumeError as exc:
            self.error = exc
            raise
        restored = dict(store.items())
        shared.clear()
        shared.update(restored)
        return top_start, nested, extra


_pending: PendingResume | None = None


def resume_next_run(db_path: str | os.PathLike[str], run_id: str, **how: Any) -> PendingResume:
    """Make the next top-level run of run ``run_id``'s flow continue that run (answer it
    with ``answers=[...]``, or fork it with ``fork=True, step=, overrides=``)."""
    global _pending
    _pending = PendingResume(db_path, run_id, **how)
    return _pending


def claimed_by(flow: Any) -> PendingResume | None:
    """The pending resume if this top-level run of ``flow`` is the one to resume."""
    pending = _pending
    if pending is None or not pending.claim(flow):
        return None
    return pending
