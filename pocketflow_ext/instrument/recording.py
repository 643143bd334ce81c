"""Process-wide recording for ``instrument(db_path=...)``: every top-level run gets a run row.

The recording package's :class:`Recorder` records runs a ``RecordingMixin`` flow claimed
for it; here each top-level run is claimed as its ``flow_start`` arrives, so upstream
flows need no mixin. Flows that record themselves (``Flow(db_path=...)``) are left alone.
"""

from __future__ import annotations

from typing import Any

from ..graph import graph_json
from ..recording.db import WorkflowDB, params_json
from ..recording.recorder import Recorder, RunRecord, process_identity
from ..recording.writer import writer_for
from ..stream import events as ev
from ..stream.events import Event
from ..stream.scope import current_frame


class ProcessRecorder:
    """Subscriber recording every top-level run in the process to one database."""

    def __init__(self, db_path: str) -> None:
        writer = writer_for(db_path)
        self.db: WorkflowDB = writer.db
        self.recorder = Recorder(writer, "sync", None)

    def __call__(self, event: Event) -> None:
        if event.kind == ev.FLOW_START:
            frame = current_frame()
            level = frame.level if frame is not None else None
            if level is not None and level.parent is None:
                if getattr(level.flow, "_recorder", None) is None:
                    self._start(event, level.flow, level.run.options.extra)
                return
        self.recorder(event)

    def _start(self, event: Event, flow: Any, extra: dict[str, Any]) -> None:
        self.db.create_run(
            event.run_id,
            event.flow_name,
            graph=graph_json(flow),
            params=params_json(getattr(flow, "params", None)),
            resumed_from=extra.get("resumed_from"),
            parent_run_id=extra.get("parent_run_id"),
            **process_identity(),
        )
        token = self.recorder.claim(RunRecord(self.recorder, event.run_id))
        try:
            self.recorder(event)  # binds the claimed record to this level, writes flow_start
        finally:
            self.recorder.release(token)
