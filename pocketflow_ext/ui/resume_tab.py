"""Resume tab: pick a checkpoint, get Python (and a CLI line) that continues the run after it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

from ..flows.resume.warning import resumed_before_message
from .display import plain
from .resume_snippet import (
    RESUMABLE,
    ResumePoint,
    chained_snippet,
    python_snippet,
    resume_command,
    resume_point,
    show_command,
)
from .run_facts import resume_command_line
from .store_tab import pick_checkpoint


def render_resume(
    run: Mapping[str, Any],
    events: Sequence[Mapping[str, Any]],
    checkpoints: Sequence[Mapping[str, Any]],
    db_path: str,
    *,
    ours: bool,
    key: str,
) -> None:
    """``ours``: the database has pocketflow-ext's schema (so ``flow.resume`` applies)."""
    resumed_before = resumed_before_message(run)
    if resumed_before is not None:
        st.warning(plain(resumed_before[0].upper() + resumed_before[1:] + "."))
    if run.get("status") == "completed":
        st.text(
            "This run completed; resuming it would run nothing. Pick an earlier checkpoint "
            "below to run the rest of the flow again from there."
        )
    if run.get("status") in ("running", "queued"):
        st.warning(
            "This run has not ended: resuming it now would run its remaining nodes a second "
            "time. Wait for it to end (or cancel it), then resume."
        )
    if not checkpoints:
        if ours and run.get("resumed_from") and run.get("status") in RESUMABLE:
            st.code(chained_snippet(run, db_path), language="python")
            _command_lines(run, None, db_path, ours)
        else:
            st.info(
                "No checkpoint recorded for this run, so there is nothing to resume from: "
                "run the flow again from its start."
            )
        return
    # By default the checkpoint written last: where flow.resume(run_id) continues.
    newest = max(checkpoints, key=lambda c: int(c.get("id") or c["step"]))
    step = pick_checkpoint(
        checkpoints, f"{key}-resume-step", "Continue after checkpoint", int(newest["step"])
    )
    point = resume_point(checkpoints, events, step)
    st.code(python_snippet(run, point, db_path, has_resume=ours), language="python")
    _command_lines(run, point, db_path, ours)


def _command_lines(
    run: Mapping[str, Any], point: ResumePoint | None, db_path: str, ours: bool
) -> None:
    command = resume_command(run, point, db_path, has_resume=ours)
    if command is not None:
        if resume_command_line(run, db_path)[1]:
            st.text(
                "Or from the command line: the command that recorded the run, run again, "
                "continuing after the last checkpoint:"
            )
        else:
            st.text(
                "Or from the command line: run the unmodified script that recorded the run "
                "again (your_script.py stands for it; for runs recorded by pocketflow-ext run "
                "it names the script), continuing after the last checkpoint:"
            )
        st.code(command, language="bash")
    else:
        st.text(
            "The command line resumes only a failed, cancelled or interrupted run, after "
            "its last checkpoint; it shows this run's timeline with:"
        )
        st.code(show_command(run, db_path), language="bash")
