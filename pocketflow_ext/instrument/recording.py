"""Process-wide recording for ``instrument(db_path=...)``: every top-level run gets a run row.

The recording package's :class:`Recorder` records the runs registered with it; here it is
made the process's recorder, so each top-level run no flow records itself is registered
as it starts (by instrument's ``_run`` wrappers for upstream flows, by ``RecordingMixin``
for ours). Flows that record themselves (``Flow(db_path=...)``) are left alone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from typing import Any

from ..flows.recording import recorder_for, recording
from ..recording.recorder import Recorder, set_process_recorder
from ..recording.writer import writer_for
from ..runstore.workflow_db import WorkflowDB
from ..stream.events import Event


class ProcessRecorder:
    """Subscriber recording every top-level run in the process to one run store."""

    def __init__(self, db_path: str) -> None:
        writer = writer_for(db_path)
        self.db = WorkflowDB(writer.store)
        self.recorder = Recorder(writer, "sync", None)

    def __call__(self, event: Event) -> None:
        self.recorder(event)

    def activate(self) -> None:
        set_process_recorder(self.recorder)

    @staticmethod
    def deactivate() -> None:
        set_process_recorder(None)


def recorded(flow: Any) -> Any:
    """A context recording the top-level run of an upstream ``flow`` about to start (or
    nothing to do when no process recorder is set or the run is nested)."""
    recorder = recorder_for(flow)
    return recording(flow, recorder) if recorder is not None else nullcontext()


async def recorded_async(flow: Any, run: Callable[[], Awaitable[Any]]) -> Any:
    """``await run()`` inside ``recorded(flow)`` (the async ``_run_async`` seam)."""
    with recorded(flow):
        return await run()


__all__ = ["ProcessRecorder", "recorded", "recorded_async"]
