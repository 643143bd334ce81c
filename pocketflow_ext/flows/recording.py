"""RecordingMixin: ``db_path=``, ``checkpoint_dir=``, ``run_id=`` and ``durability=`` on a flow.

The destinations are opened (and checked) when the flow is built, so a bad path fails
before any node runs. Each top-level run gets its run row before its first node; the
rest is recorded by a :class:`~pocketflow_ext.recording.recorder.Recorder` subscribed to
the flow's event stream.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from ..errors import RunExistsError
from ..graph import cached_graph_json, graph_json
from ..recording.checkpoint_files import prepare_dir
from ..recording.recorder import Recorder, RunRecord, process_recorder
from ..recording.writer import StoreGone, check_durability, writer_for
from ..runstore.base import RunRow
from ..runstore.open import store_key
from ..runstore.runs import check_run_id, iso, params_json, process_identity
from ..runstore.workflow_db import WorkflowDB
from ..stream.dispatch import error_text, traceback_text
from ..stream.scope import (
    Level,
    RunOptions,
    clear_pending_options,
    current_frame,
    new_run_id,
    pending_options,
    run_options,
)
from .observe import flow_label


class RecordingMixin:
    """Record every run of the flow into SQLite (``db_path``) and/or JSON files
    (``checkpoint_dir``); needs :class:`~pocketflow_ext.mixins.HooksMixin` after it.

    >>> flow = Flow(start=node, db_path="runs.db", flow_name="summarise")  # doctest: +SKIP
    """

    db: WorkflowDB | None = None
    db_path: str | os.PathLike[str] | None = None
    checkpoint_dir: str | os.PathLike[str] | None = None
    run_id: str | None = None
    durability: str = "sync"
    _recorder: Recorder | None = None
    _recorded_graph: tuple[Any, str | None] | None = None  # (signature, graph JSON) of the last run

    def __init__(
        self,
        *args: Any,
        db_path: str | os.PathLike[str] | None = None,
        run_id: str | None = None,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        durability: str = "sync",
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.durability = check_durability(durability)
        if run_id is not None:
            self.run_id = check_run_id(run_id)
        # A list so the first run can take the id atomically, even from several threads.
        self._unused_run_id = [run_id] if run_id is not None else []
        writer = writer_for(db_path) if db_path is not None else None
        directory = prepare_dir(checkpoint_dir) if checkpoint_dir is not None else None
        self.db = WorkflowDB(writer.store) if writer is not None else None
        self.db_path, self.checkpoint_dir = db_path, directory
        if writer is not None or directory is not None:
            subscribe = getattr(self, "subscribe", None)
            if subscribe is None:
                raise TypeError(
                    f"{type(self).__name__}: RecordingMixin needs HooksMixin after it in the "
                    "bases (or use pocketflow_ext.Flow)"
                )
            self._recorder = Recorder(writer, self.durability, directory)
            subscribe(self._recorder)

    # Pickling (a process pool, a Dask worker): the open store, its writer thread and the
    # recorder stay behind; the copy re-opens the same store by its path or URL (absolute,
    # so another working directory finds the same file) through that process's writer.
    def __getstate__(self) -> Any:
        getstate = getattr(super(), "__getstate__", None)
        state = dict(getstate() if getstate is not None else self.__dict__)
        recorder = state.pop("_recorder", None)
        if recorder is None:
            return state
        state.pop("db", None)
        state["_listeners"] = tuple(
            (event, _RECORDER if callback is recorder else callback)
            for event, callback in state.get("_listeners", ())
        )
        db_path = state.get("db_path")
        state["db_path"] = store_key(db_path) if db_path is not None else None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        listeners = state.get("_listeners", ())
        if not any(_is_recorder_mark(callback) for _event, callback in listeners):
            return
        writer = writer_for(self.db_path) if self.db_path is not None else None
        self.db = WorkflowDB(writer.store) if writer is not None else None
        directory = Path(self.checkpoint_dir) if self.checkpoint_dir is not None else None
        recorder = self._recorder = Recorder(writer, self.durability, directory)
        self._listeners = tuple(
            (event, recorder if _is_recorder_mark(callback) else callback)
            for event, callback in listeners
        )

    def _run(self, shared: Any) -> Any:
        recorder = recorder_for(self)
        if recorder is None:
            return super()._run(shared)  # type: ignore[misc]
        with recording(self, recorder):
            return super()._run(shared)  # type: ignore[misc]

    async def _run_async(self, shared: Any) -> Any:
        recorder = recorder_for(self)
        if recorder is None:
            return await super()._run_async(shared)  # type: ignore[misc]
        with recording(self, recorder):
            return await super()._run_async(shared)  # type: ignore[misc]

    def _take_run_id(self) -> str | None:
        if self.run_id is None:
            return None
        try:
            return self._unused_run_id.pop()
        except IndexError:
            raise RunExistsError(
                f"flow {flow_label(self)!r} was built with run_id={self.run_id!r}, which its "
                "first run already used; run ids are never reused: build the flow without "
                "run_id, or pass one per call"
            ) from None


_RECORDER = "pocketflow_ext:recorder"  # stands for the flow's recorder in pickled state


def _is_recorder_mark(callback: Any) -> bool:
    return isinstance(callback, str) and callback == _RECORDER


def recorder_for(flow: Any) -> Recorder | None:
    """Who records this run of ``flow``: its own recorder (``db_path=``), else, for a
    top-level run, the one ``instrument(db_path=...)`` set for the process."""
    own: Recorder | None = getattr(flow, "_recorder", None)
    if own is not None:
        return own
    return process_recorder() if current_frame() is None else None


def _recorded_above(level: Level | None) -> bool:
    while level is not None:
        if getattr(level.flow, "_recorder", None) is not None:
            return True
        level = level.parent
    return False


@contextmanager
def recording(flow: Any, recorder: Recorder) -> Iterator[None]:
    """Record the flow level about to start in this context with ``recorder``: its run row
    first, then (registered) its events. Nested in a recorded run, it adds nothing."""
    frame = current_frame()
    if frame is not None and _recorded_above(frame.level):
        yield  # an enclosing flow records this level under its path
        return
    label = flow_label(flow)
    if frame is None:
        options = pending_options() or RunOptions()
        take = getattr(flow, "_take_run_id", None)  # upstream flows under instrument() have none
        run_id = check_run_id(options.run_id or (take and take()) or new_run_id(label))
        extra = options.extra
        parent = extra.get("parent_run_id")
        events_of = run_id
        scope: Any = run_options(dataclasses.replace(options, run_id=run_id))
    else:  # nested in a run nobody records: a run of its own, linked to that run
        run_id, extra, parent = new_run_id(label), {}, frame.level.run.run_id
        events_of = parent  # its events carry the enclosing run's id
        scope = nullcontext()
    record = RunRecord(recorder, run_id)
    if recorder.writer is not None and record.rows is not None:
        recorder.writer.create_run(
            record.rows,
            RunRow(
                run_id=run_id,
                flow_name=label,
                # Upstream flows (instrument) get no cache attribute set on them.
                graph=cached_graph_json(flow)
                if isinstance(flow, RecordingMixin)
                else graph_json(flow),
                params=params_json(getattr(flow, "params", None)),
                resumed_from=extra.get("resumed_from"),
                forked_from=extra.get("forked_from"),
                forked_at_step=extra.get("forked_at_step"),
                parent_run_id=parent,
                **process_identity(),
            ),
        )
    recorder.register(record, events_of)
    try:
        with scope:
            yield
    except StoreGone as exc:  # the store stayed unavailable: the run stopped (writer.py)
        raise exc.error from None
    except BaseException as exc:
        live = recorder.is_live(record)
        if live and recorder.writer is not None and record.rows is not None:
            # Failed before its first event: the run row must not stay 'running'.
            recorder.writer.end_unstarted(
                record.rows,
                status="cancelled" if isinstance(exc, KeyboardInterrupt) else "failed",
                completed_at=iso(),
                error_msg=error_text(exc),
                traceback=traceback_text(exc),
            )
        raise
    finally:
        recorder.forget(record)
        if frame is None:
            # As without recording: the options were for this run only (resetting our
            # scope above brought the caller's back).
            clear_pending_options()
