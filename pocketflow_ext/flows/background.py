"""BackgroundMixin: ``flow.run_background(store)`` runs the flow in a daemon thread.

Each call gets its own run id (chosen before the thread starts, so the caller knows it at
once) and its own cancel flag, handed to the run through ``RunOptions``; the flow object
itself is never changed, so one flow may have many background runs at the same time.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from typing import Any

import pocketflow

from ..errors import ConfigurationError, RunExistsError
from ..runstore.runs import check_run_id
from ..stream.scope import RunOptions, new_run_id, run_options, set_current_frame
from .handle import Answerer, RunHandle, StatusReader
from .observe import flow_label, status_for


class BackgroundMixin:
    """Adds ``run_background(store) -> RunHandle`` to a flow that reports events
    (``HooksMixin``); async flows run on the thread's own event loop."""

    def run_background(
        self, shared: Any, *, run_id: str | None = None, resume_from: Any = None
    ) -> RunHandle:
        """Start the flow on ``shared`` in a daemon thread and return its ``RunHandle``.

        ``run_id`` names the run (default ``<flow_name>-<8 hex>``); ``resume_from`` starts
        at that node as ``run(shared, resume_from=...)`` does. A daemon thread dies with the
        process: ``wait()`` for the handle before exiting (an unfinished recorded run is
        reported ``interrupted`` and can be resumed).
        """
        kwargs = {} if resume_from is None else {"resume_from": resume_from}
        if is_async_flow(self):
            return start_background(
                self,
                shared,
                lambda: asyncio.run(self.run_async(shared, **kwargs)),  # type: ignore[attr-defined]
                run_id,
            )
        return start_background(self, shared, lambda: self.run(shared, **kwargs), run_id)  # type: ignore[attr-defined]


def is_async_flow(flow: Any) -> bool:
    return isinstance(flow, pocketflow.AsyncNode)


def start_background(
    flow: Any,
    shared: Any,
    call: Callable[[], Any],
    run_id: str | None = None,
    extra: dict[str, Any] | None = None,
    subscribers: tuple[Any, ...] = (),
) -> RunHandle:
    """Run ``call()`` in a daemon thread as a new top-level run of ``flow``;
    ``subscribers`` listen to this run only (``flow.stream()``)."""
    if not hasattr(flow, "_listeners"):
        raise ConfigurationError(
            f"flow {flow_label(flow)!r} does not report events, so a background run of it "
            "could not be identified or cancelled; add HooksMixin to its bases "
            "(the drop-in pocketflow_ext.Flow has it)"
        )
    if run_id is None:
        # A run id given when the flow was built is used once, by whichever run comes first.
        take = getattr(flow, "_take_run_id", None)
        run_id = (take() if take is not None else None) or new_run_id(flow_label(flow))
    else:
        check_new_run_id(flow, run_id)
    cancel = threading.Event()
    options = RunOptions(
        run_id=run_id, cancel=cancel, extra=dict(extra or {}), subscribers=subscribers
    )
    handle = RunHandle(run_id, shared, cancel, status_reader(flow))
    handle.answerer = answerer(flow)

    def target() -> None:
        # The caller's context variables come along, but not its run: a background run
        # started from inside a node is a run of its own, not a nested flow.
        set_current_frame(None)
        try:
            with run_options(options):
                call()
        except BaseException as exc:  # handed to the caller by wait()
            handle.finish(status_for(exc), exc)
        else:
            handle.finish("completed")

    context = contextvars.copy_context()
    thread = threading.Thread(
        target=context.run, args=(target,), name=f"pocketflow-ext-{run_id}", daemon=True
    )
    thread.start()
    return handle


def check_new_run_id(flow: Any, run_id: str) -> None:
    """Refuse a malformed or already recorded run id now, not later in the thread."""
    check_run_id(run_id)
    db = getattr(flow, "db", None)
    if db is not None and db.get_run(run_id) is not None:
        raise RunExistsError(
            f"run {run_id!r} is already recorded in {db.db_path}; run ids are never reused: "
            "pass another run_id (or none to get a fresh one)"
        )


def answerer(flow: Any) -> Answerer | None:
    """How a waiting run of ``flow`` is continued in this process (recording flows only)."""
    resume = getattr(flow, "resume_background", None)
    if getattr(flow, "db", None) is None or resume is None:
        return None

    def answer(run_id: str, values: list[Any], overrides: Any) -> RunHandle:
        handle: RunHandle = resume(run_id, answers=values, overrides=overrides)
        return handle

    return answer


def status_reader(flow: Any) -> StatusReader | None:
    """Where a recorded run's live status comes from; None when the flow does not record."""
    db = getattr(flow, "db", None)
    if db is None:
        return None

    def read(run_id: str) -> str | None:
        run = db.get_run(run_id)
        return None if run is None else str(run["status"])

    return read
