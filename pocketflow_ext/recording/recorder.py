"""Recorder: the event-stream subscriber that turns a run's events into rows and files.

A flow with ``db_path`` or ``checkpoint_dir`` subscribes one Recorder. When recording
flows are nested, the outermost one records the whole run (nested levels under their
path), so nothing is recorded twice. Each run's state lives in a :class:`RunRecord`
bound to the run's top flow level; concurrent runs of one flow never share it.
"""

from __future__ import annotations

import json
import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from ..stream import events as ev
from ..stream.events import Event
from ..stream.scope import Level, _current
from . import schema
from .checkpoint_files import write_checkpoint
from .db import Statement, params_json
from .snapshot import LossyKeyWarnings, flat_copy, store_json
from .writer import RowSource, RunRows, Writer

# The record a RecordingMixin prepared for the flow level about to start in this context.
_claim: ContextVar[RunRecord | None] = ContextVar("pocketflow_ext_record_claim", default=None)

_FINISH_RUN = (
    "UPDATE pf_runs SET status = ?, completed_at = ?, total_steps = ?, current_node = ?, "
    "error_msg = ?, traceback = ? WHERE run_id = ?"
)


class RunRecord:
    """What one recorded run has written so far and where it writes."""

    __slots__ = (
        "recorder",
        "run_id",
        "rows",
        "level",
        "prefix",
        "warnings",
        "steps",
        "last_path",
        "finished",
    )

    def __init__(self, recorder: Recorder, run_id: str) -> None:
        self.recorder = recorder
        self.run_id = run_id
        writer = recorder.writer
        self.rows = RunRows(run_id, recorder.durability) if writer is not None else None
        self.level: Level | None = None
        self.prefix = 0
        self.warnings = LossyKeyWarnings()
        self.steps = 0
        self.last_path: str | None = None
        self.finished = False

    def relative(self, path: str) -> str:
        """A path below the run's top flow (``Inner/Summarise``), as shown in ``current_node``."""
        return path[self.prefix :] or path


class Recorder:
    """Subscriber writing a flow's runs to a database (via its Writer) and/or JSON files."""

    def __init__(self, writer: Writer | None, durability: str, checkpoint_dir: Path | None) -> None:
        self.writer = writer
        self.durability = durability
        self.checkpoint_dir = checkpoint_dir
        self._records: dict[int, RunRecord] = {}

    # ── run lifecycle, driven by RecordingMixin ──────────────────────────────
    def claim(self, record: RunRecord) -> Any:
        """Mark ``record`` as the one the next flow level started in this context binds to."""
        return _claim.set(record)

    @staticmethod
    def release(token: Any) -> None:
        _claim.reset(token)

    # ── the subscriber ───────────────────────────────────────────────────────
    # Node events are on every node's path: dispatch on the kind directly.
    def __call__(self, event: Event) -> None:
        frame = _current.get()
        if frame is None:
            return
        level = frame.level
        record = self._records.get(id(level)) or self._find(level.parent)
        kind = event.kind
        if record is None:
            if kind != ev.FLOW_START:
                return
            record = self._bind(level)
            if record is None:
                return
        if kind == ev.NODE_END:
            self._node_end(record, event)
        elif kind == ev.NODE_START:
            self._node_start(record, event)
        elif kind == ev.FLOW_END:
            self._flow_end(record, event, level)
        elif kind == ev.NODE_ERROR:
            record.last_path = event.path
            if (event.step or 0) > record.steps:
                record.steps = event.step or 0
            self._commit(record, (_event_rows, record.run_id, event, _params(event)))
        else:  # flow_start, node_retry
            self._add(record, (_event_rows, record.run_id, event, _params(event)))

    def _find(self, level: Level | None) -> RunRecord | None:
        records = self._records
        while level is not None:
            record = records.get(id(level))
            if record is not None:
                return record
            level = level.parent
        return None

    def _bind(self, level: Level) -> RunRecord | None:
        record = _claim.get()
        if record is None or record.recorder is not self or record.level is not None:
            return None
        _claim.set(None)  # nested levels started later in this context are not claimed
        record.level = level
        record.prefix = len(level.path) + 1
        self._records[id(level)] = record
        if record.rows is not None and self.writer is not None:
            self.writer.start(record.rows)
        return record

    # ── event handlers ───────────────────────────────────────────────────────
    # Rows are handed over as ``(function, *args)`` so ``async`` mode builds them on the
    # writer's thread; what they read is fixed now (events are immutable, params copied).
    def _node_start(self, record: RunRecord, event: Event) -> None:
        rows = record.rows
        if rows is None:
            return
        if rows.mode == "async":  # grouped anyway: keep current_node live for free
            source: RowSource = (_start_rows, record.run_id, event, _params(event), record.prefix)
        else:  # current_node is written only if the node runs long enough to be worth a commit
            rows.current = record.relative(event.path)
            source = (_event_rows, record.run_id, event, _params(event))
        self.writer.add(rows, source)  # type: ignore[union-attr]

    def _node_end(self, record: RunRecord, event: Event) -> None:
        step = event.step or 0
        if step > record.steps:
            record.steps = step
        record.last_path = event.path
        # A store of plain scalars is snapshotted by copying it; JSON text comes later.
        snapshot: dict[str, Any] | str | None = flat_copy(event.store)
        if snapshot is None or self.checkpoint_dir is not None:
            name = event.node or ""
            text, lossy = store_json(event.store)
            if lossy:
                record.warnings.report(lossy, record.run_id, f"the checkpoint after node {name!r}")
            if self.checkpoint_dir is not None:
                write_checkpoint(self.checkpoint_dir, record.run_id, step, name, text)
            snapshot = text
        self._commit(record, (_node_end_rows, record.run_id, event, _params(event), snapshot))

    def _flow_end(self, record: RunRecord, event: Event, level: Level) -> None:
        rows = [_event_row(record.run_id, event, None)]
        if level is not record.level:
            self._add(record, rows)
            return
        self._records.pop(id(level), None)
        record.finished = True
        if record.rows is None or self.writer is None:
            return
        last = record.relative(record.last_path) if record.last_path else None
        finish = (
            _FINISH_RUN,
            (
                event.status or "completed",
                schema.iso(event.ts),
                record.steps,
                last,
                event.error,
                event.traceback,
                record.run_id,
            ),
        )
        self.writer.finish(record.rows, [*rows, finish])

    def _add(self, record: RunRecord, source: RowSource) -> None:
        if record.rows is not None and self.writer is not None:
            self.writer.add(record.rows, source)

    def _commit(self, record: RunRecord, source: RowSource) -> None:
        if record.rows is not None and self.writer is not None:
            self.writer.commit(record.rows, source)


def _params(event: Event) -> dict[str, Any] | None:
    return dict(event.params) if event.params else None


def _event_rows(run_id: str, event: Event, params: dict[str, Any] | None) -> list[Statement]:
    return [_event_row(run_id, event, params)]


def _start_rows(
    run_id: str, event: Event, params: dict[str, Any] | None, prefix: int
) -> list[Statement]:
    current = event.path[prefix:] or event.path
    return [_event_row(run_id, event, params), (schema.SET_CURRENT_NODE, (current, run_id))]


def _node_end_rows(
    run_id: str, event: Event, params: dict[str, Any] | None, snapshot: dict[str, Any] | str
) -> list[Statement]:
    text = snapshot if isinstance(snapshot, str) else json.dumps(snapshot, ensure_ascii=False)
    params_text = params_json(params)
    checkpoint = (
        schema.INSERT_CHECKPOINT,
        (
            run_id,
            event.step or 0,
            event.node or "",
            text,
            schema.iso(event.ts),
            event.path,
            params_text,
        ),
    )
    return [_event_row(run_id, event, params, params_text), checkpoint]


def _event_row(
    run_id: str, event: Event, params: dict[str, Any] | None, params_text: str | None = None
) -> Statement:
    action = event.action
    return (
        schema.INSERT_EVENT,
        (
            run_id,
            event.step,
            event.node if event.node is not None else event.path.rsplit("/", 1)[-1],
            event.kind,
            action if action is None or isinstance(action, str) else str(action),
            None if event.elapsed_s is None else event.elapsed_s * 1000.0,
            event.error,
            schema.iso(event.ts),
            event.path,
            params_text if params_text is not None else params_json(params),
            event.attempt,
            None if event.delay_s is None else event.delay_s * 1000.0,
            event.traceback,
        ),
    )


def process_identity() -> dict[str, Any]:
    """The columns that let a reader tell whether a run's process is still alive."""
    return {"pid": os.getpid(), "hostname": schema.HOSTNAME, "heartbeat_at": schema.iso()}
