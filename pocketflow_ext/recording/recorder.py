"""Recorder: the event-stream subscriber that turns a run's events into rows and files.

It reads nothing but the events it is given. A recording flow registers the run it is
about to start (:meth:`Recorder.register`); the recorder then takes the events carrying
that run's id. The first ``flow_start`` among them is the recorded flow's own level (for
a top-level run, the one whose ``path == flow_name``); its ``flow_end`` ends the record,
and nested levels are recorded under their paths. Each run's state lives in its own
:class:`RunRecord`, so concurrent runs of one flow never share it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..runstore.base import CheckpointRow, EventRow, Row, RunUpdate
from ..runstore.runs import iso, params_json
from ..stream import events as ev
from ..stream.events import Event
from .checkpoint_files import write_checkpoint
from .checkpoints import (
    CheckpointText,
    CheckpointTracker,
    StoreCapture,
    copy_size,
    immutable_copy,
)
from .snapshot import LossyKeyWarnings, store_json
from .writer import RowSource, RunRows, Writer


class RunRecord:
    """What one recorded run has written so far and where it writes."""

    __slots__ = (
        "recorder",
        "run_id",
        "source",
        "rows",
        "top",
        "prefix",
        "warnings",
        "steps",
        "last_path",
        "failed",
        "tracker",
        "initial",
    )

    def __init__(self, recorder: Recorder, run_id: str) -> None:
        self.recorder = recorder
        self.run_id = run_id
        self.source = run_id  # the run id its events carry (see Recorder.register)
        self.tracker = CheckpointTracker()  # full snapshot or delta, per node end
        # A checkpoint the writer loses makes the next one full (called on its thread).
        lost = self.tracker.invalidate
        writer = recorder.writer
        self.rows = RunRows(run_id, recorder.durability, lost) if writer is not None else None
        self.top: str | None = None  # the path of the recorded flow level, from its flow_start
        self.prefix = 0
        self.warnings = LossyKeyWarnings()
        self.steps = 0  # node executions that ended (steps count from 0, so the last + 1)
        self.last_path: str | None = None
        # A node failed: current_node keeps naming it, though parallel branches still end.
        self.failed = False
        # The store the run started with (a shallow copy), kept only so a run that pauses
        # before any checkpoint can still be answered: see _run_waiting.
        self.initial: dict[str, Any] | None = None

    def relative(self, path: str) -> str:
        """A path below the recorded flow (``Inner/Summarise``), as shown in ``current_node``."""
        return path[self.prefix :] or path


class Recorder:
    """Subscriber writing a flow's runs to a run store (via its Writer) and/or JSON files."""

    def __init__(self, writer: Writer | None, durability: str, checkpoint_dir: Path | None) -> None:
        self.writer = writer
        self.durability = durability
        self.checkpoint_dir = checkpoint_dir
        # Events' run id -> the record taking them. Plain dict operations: atomic across threads.
        self._records: dict[str, RunRecord] = {}

    # ── run lifecycle, driven by the recording flow ──────────────────────────
    def register(self, record: RunRecord, events_of: str | None = None) -> None:
        """Record the run about to start: the events whose run id is ``events_of`` (the
        record's own id, unless a flow nested in an unrecorded run records itself)."""
        record.source = events_of or record.run_id
        self._records[record.source] = record

    def forget(self, record: RunRecord) -> None:
        """Stop taking events for ``record`` (its run ended or never started)."""
        if self._records.get(record.source) is record:
            del self._records[record.source]

    def add_rows(self, run_id: str, rows: list[Row]) -> bool:
        """Write ``rows`` with the next commit of the recorded run whose events carry
        ``run_id`` (a cached result joins its node's transaction); False when this
        recorder does not record that run to a store."""
        record = self._records.get(run_id)
        if record is None or record.rows is None or self.writer is None:
            return False
        self.writer.add(record.rows, rows)
        return True

    def is_live(self, record: RunRecord) -> bool:
        """Whether ``record`` still takes events (its flow level has not ended)."""
        return self._records.get(record.source) is record

    # ── the subscriber ───────────────────────────────────────────────────────
    # Node events are on every node's path: dispatch on the kind directly.
    def __call__(self, event: Event) -> None:
        record = self._records.get(event.run_id)
        if record is None:
            return
        kind = event.kind
        if record.top is None:
            if kind != ev.FLOW_START:
                return
            record.top = event.path
            record.prefix = len(event.path) + 1
            if isinstance(event.store, Mapping):
                record.initial = dict(event.store)
            if record.rows is not None and self.writer is not None:
                self.writer.start(record.rows)
        if kind == ev.NODE_END:
            self._node_end(record, event)
        elif kind == ev.NODE_START:
            self._node_start(record, event)
        elif kind == ev.FLOW_END:
            self._flow_end(record, event)
        elif kind == ev.RUN_WAITING:
            self._run_waiting(record, event)
        elif kind == ev.RUN_ANSWERED:
            update = RunUpdate(record.run_id, {"answer": _json(event.data)})
            self._commit(record, [_event_row(record.run_id, event, _params(event)), update])
        elif kind == ev.NODE_ERROR:
            self._ended(record, event)
            record.failed = True
            self._commit(record, (_event_rows, record.run_id, event, _params(event)))
        elif kind == ev.CUSTOM:  # emit(): kept only when its emitter asked (record=True)
            if event.recorded:
                data = {"topic": event.topic, "data": event.data}
                self._add(record, (_event_rows, record.run_id, event, data))
        elif kind == ev.NODE_SKIP:  # a step without a checkpoint: the store did not change
            self._ended(record, event)
            self._add(record, (_event_rows, record.run_id, event, _params(event)))
        else:  # flow_start, node_retry, cache_hit and kinds added later: an event row
            self._add(record, (_event_rows, record.run_id, event, _params(event)))

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

    @staticmethod
    def _ended(record: RunRecord, event: Event) -> None:
        """A node execution ended: count it, and remember the deepest node that ran last."""
        step = event.step
        if step is not None and step >= record.steps:
            record.steps = step + 1
        last, path = record.last_path, event.path
        if record.failed and event.kind == ev.NODE_END:
            return  # a branch ending after another failed is not where the run stopped
        # A nested flow ends after its own last node: current_node keeps naming that leaf.
        if last is None or not last.startswith(path + "/"):
            record.last_path = path

    def _node_end(self, record: RunRecord, event: Event) -> None:
        self._ended(record, event)
        step = event.step or 0
        if self.checkpoint_dir is not None:  # files always hold the whole store
            text, _lossy = store_json(event.store)
            name = event.node or ""
            write_checkpoint(self.checkpoint_dir, record.run_id, step, name, text)
        rows = record.rows
        checkpoint: StoreCapture | CheckpointText | dict[Any, Any] | None = None
        size = 0  # what the checkpoint holds while it waits (async and exit bound it)
        if rows is not None and rows.mode != "sync":
            # A store of immutable values is only copied here; what changed is worked out
            # on the writer's thread (the tracker takes captures in any order).
            checkpoint = immutable_copy(event.store)
            if checkpoint is not None:
                source = (_node_end_rows, record, event, _params(event), checkpoint)
                self.writer.commit(rows, source, copy_size(checkpoint))  # type: ignore[union-attr]
                return
        if checkpoint is None:
            capture = record.tracker.capture(event.store, step)
            checkpoint, size = capture, capture.size
            if rows is not None and rows.mode == "sync":
                # Rendered now, from the live store (cheaper than from captured bytes):
                # sync commits before the next node runs, so the store is as captured.
                checkpoint = _rendered(record, event, capture, live=True)
        self._commit(record, (_node_end_rows, record, event, _params(event), checkpoint), size)

    def _run_waiting(self, record: RunRecord, event: Event) -> None:
        """The question goes on the run row; a run that paused before any node completed
        keeps the store it started with, since no checkpoint holds it."""
        first = record.steps == 0  # before _ended counts the paused node
        self._ended(record, event)
        fields: dict[str, Any] = {"question": _json(event.data)}
        if first and record.initial is not None:
            fields["start_store"], _lossy = store_json(record.initial)
        update = RunUpdate(record.run_id, fields)
        self._commit(record, [_event_row(record.run_id, event, _params(event)), update])

    def _flow_end(self, record: RunRecord, event: Event) -> None:
        rows: list[Row] = [_event_row(record.run_id, event, None)]
        if event.path != record.top:  # a nested level ended
            self._add(record, rows)
            return
        self.forget(record)
        if record.rows is None or self.writer is None:
            return
        last = record.relative(record.last_path) if record.last_path else None
        finish = RunUpdate(
            record.run_id,
            {
                "status": event.status or "completed",
                "completed_at": iso(event.ts),
                "total_steps": record.steps,
                "current_node": last,
                "error_msg": event.error,
                "traceback": event.traceback,
            },
        )
        self.writer.finish(record.rows, [*rows, finish])

    def _add(self, record: RunRecord, source: RowSource) -> None:
        if record.rows is not None and self.writer is not None:
            self.writer.add(record.rows, source)

    def _commit(self, record: RunRecord, source: RowSource, size: int = 0) -> None:
        if record.rows is not None and self.writer is not None:
            self.writer.commit(record.rows, source, size)


def _json(value: Any) -> str:
    # interrupt() checked the question is JSON; an answer that is not is kept as its repr.
    return json.dumps(value, ensure_ascii=False, default=repr)


def _params(event: Event) -> dict[str, Any] | None:
    return dict(event.params) if event.params else None


def _event_rows(run_id: str, event: Event, params: dict[str, Any] | None) -> list[Row]:
    return [_event_row(run_id, event, params)]


def _start_rows(run_id: str, event: Event, params: dict[str, Any] | None, prefix: int) -> list[Row]:
    current = event.path[prefix:] or event.path
    return [_event_row(run_id, event, params), RunUpdate(run_id, {"current_node": current})]


def _rendered(record: RunRecord, event: Event, capture: StoreCapture, live: bool) -> CheckpointText:
    text = capture.render(live)
    if text.lossy:  # on the writer's thread in async and exit modes: warnings are global
        where = f"the checkpoint after node {event.node or ''!r}"
        record.warnings.report(list(text.lossy), record.run_id, where)
    return text


def _node_end_rows(
    record: RunRecord,
    event: Event,
    params: dict[str, Any] | None,
    checkpoint: StoreCapture | CheckpointText | dict[Any, Any],
) -> list[Row]:
    run_id = record.run_id
    if isinstance(checkpoint, dict):  # an immutable copy: captured here, in queue order
        checkpoint = record.tracker.capture(checkpoint, event.step or 0)
    text = (
        _rendered(record, event, checkpoint, live=False)
        if isinstance(checkpoint, StoreCapture)
        else checkpoint
    )
    params_text = params_json(params) if params else None
    ts = iso(event.ts)
    step = event.step
    row = CheckpointRow(
        run_id,
        step or 0,
        event.node or "",
        text.store_json,
        ts,
        event.path,
        params_text,
        text.kind,
        text.parent_step,
        text.deleted_json,
    )
    return [_event_row(run_id, event, params, params_text, ts), row]


def _event_row(
    run_id: str,
    event: Event,
    params: dict[str, Any] | None,
    params_text: str | None = None,
    ts: str | None = None,
) -> EventRow:
    # Positional: a few per node (the record's fields in order).
    action, node, path = event.action, event.node, event.path
    elapsed, delay = event.elapsed_s, event.delay_s
    return EventRow(
        run_id,
        event.kind,
        ts if ts is not None else iso(event.ts),
        event.step,
        node if node is not None else path.rsplit("/", 1)[-1],
        action if action is None or isinstance(action, str) else str(action),
        None if elapsed is None else elapsed * 1000.0,
        event.error,
        path,
        params_text if params_text is not None else params_json(params) if params else None,
        event.attempt,
        None if delay is None else delay * 1000.0,
        event.traceback,
    )


# The recorder ``instrument(db_path=...)`` set for every top-level run in this process
# that no flow records itself (flows/recording.py asks; instrument sets it).
_process_recorder: list[Recorder] = []


def process_recorder() -> Recorder | None:
    return _process_recorder[-1] if _process_recorder else None


def set_process_recorder(recorder: Recorder | None) -> None:
    _process_recorder[:] = [recorder] if recorder is not None else []
