"""Recorder: the event-stream subscriber that turns a run's events into rows and files.

A flow with ``db_path`` or ``checkpoint_dir`` subscribes one Recorder. When recording
flows are nested, the outermost one records the whole run (nested levels under their
path), so nothing is recorded twice. Each run's state lives in a :class:`RunRecord`
bound to the run's top flow level; concurrent runs of one flow never share it.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from ..stream import events as ev
from ..stream.events import Event
from ..stream.scope import Level, current_frame
from . import schema
from .checkpoint_files import write_checkpoint
from .db import Statement, params_json
from .snapshot import LossyKeyWarnings, store_json
from .writer import RunRows, Writer

# The record a RecordingMixin prepared for the flow level about to start in this context.
_claim: ContextVar[RunRecord | None] = ContextVar("pocketflow_ext_record_claim", default=None)

_SET_CURRENT = "UPDATE pf_runs SET current_node = ? WHERE run_id = ?"
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
        "last_node",
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
        self.last_node: str | None = None
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
    def __call__(self, event: Event) -> None:
        frame = current_frame()
        if frame is None:
            return
        level = frame.level
        record = self._find(level)
        if record is None:
            if event.kind != ev.FLOW_START:
                return
            record = self._bind(level)
            if record is None:
                return
        handler = _HANDLERS.get(event.kind)
        if handler is not None:
            handler(self, record, event, level)

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
    def _flow_start(self, record: RunRecord, event: Event, level: Level) -> None:
        self._add(record, [_event_row(record.run_id, event)])

    def _node_start(self, record: RunRecord, event: Event, level: Level) -> None:
        row = _event_row(record.run_id, event)
        rows = record.rows
        if rows is None:
            return
        if rows.mode == "async":  # grouped anyway: keep current_node live for free
            self._add(record, [row, (_SET_CURRENT, (record.relative(event.path), rows.run_id))])
        else:  # written only if the node runs long enough to be worth a commit
            rows.current = record.relative(event.path)
            self._add(record, [row])

    def _node_retry(self, record: RunRecord, event: Event, level: Level) -> None:
        self._add(record, [_event_row(record.run_id, event)])

    def _node_end(self, record: RunRecord, event: Event, level: Level) -> None:
        step = event.step or 0
        record.steps = max(record.steps, step)
        record.last_node = record.relative(event.path)
        text, lossy = store_json(event.store)
        name = event.node or ""
        if lossy:
            record.warnings.report(lossy, record.run_id, f"the checkpoint after node {name!r}")
        if self.checkpoint_dir is not None:
            write_checkpoint(self.checkpoint_dir, step, name, f"{record.run_id}@step{step}", text)
        if record.rows is not None and self.writer is not None:
            checkpoint = (
                schema.INSERT_CHECKPOINT,
                (
                    record.run_id,
                    step,
                    name,
                    text,
                    schema.iso(event.ts),
                    event.path,
                    params_json(event.params),
                ),
            )
            self.writer.commit(record.rows, [_event_row(record.run_id, event), checkpoint])

    def _node_error(self, record: RunRecord, event: Event, level: Level) -> None:
        record.steps = max(record.steps, event.step or 0)
        record.last_node = record.relative(event.path)
        if record.rows is not None and self.writer is not None:
            self.writer.commit(record.rows, [_event_row(record.run_id, event)])

    def _flow_end(self, record: RunRecord, event: Event, level: Level) -> None:
        row = _event_row(record.run_id, event)
        if level is not record.level:
            self._add(record, [row])
            return
        self._records.pop(id(level), None)
        record.finished = True
        if record.rows is None or self.writer is None:
            return
        finish = (
            _FINISH_RUN,
            (
                event.status or "completed",
                schema.iso(event.ts),
                record.steps,
                record.last_node,
                event.error,
                event.traceback,
                record.run_id,
            ),
        )
        self.writer.finish(record.rows, [row, finish])

    def _add(self, record: RunRecord, statements: list[Statement]) -> None:
        if record.rows is not None and self.writer is not None:
            self.writer.add(record.rows, statements)


_HANDLERS = {
    ev.FLOW_START: Recorder._flow_start,
    ev.NODE_START: Recorder._node_start,
    ev.NODE_RETRY: Recorder._node_retry,
    ev.NODE_END: Recorder._node_end,
    ev.NODE_ERROR: Recorder._node_error,
    ev.FLOW_END: Recorder._flow_end,
}


def _event_row(run_id: str, event: Event) -> Statement:
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
            params_json(event.params),
            event.attempt,
            None if event.delay_s is None else event.delay_s * 1000.0,
            event.traceback,
        ),
    )


def process_identity() -> dict[str, Any]:
    """The columns that let a reader tell whether a run's process is still alive."""
    return {"pid": os.getpid(), "hostname": schema.HOSTNAME, "heartbeat_at": schema.iso()}
