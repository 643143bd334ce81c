"""What every reader shows about a run, from the derived keys of its run dict (``status``,
``duration_s``, ``steps``, ``current_node``, ``resumed_by``, ``resumed_ok``; computed once in
the run store), so the monitor and the CLI cannot disagree. No Streamlit here: the CLI
imports it too.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Mapping
from typing import Any

from ..runstore.location import is_url

RESUMABLE = ("failed", "cancelled", "interrupted")
"""Statuses ``flow.resume(run_id)`` and ``pocketflow-ext run --resume`` continue."""

COMMAND_PARAM = "pocketflow_ext.run"
"""The key of a run's ``params`` under which ``pocketflow-ext run`` records what it ran
(``{"script": ABS_PATH | "module": NAME, "args": [...], "cwd": DIR}``)."""


def run_duration(run: Mapping[str, Any]) -> float | None:
    """Seconds from start to end, or to the last recorded activity of a run whose process
    died; to now only while the run is live."""
    value = run.get("duration_s")
    return None if value is None else float(value)


def run_steps(run: Mapping[str, Any]) -> int | None:
    """Node executions recorded so far (None when the store could not tell)."""
    value = run.get("steps")
    return None if value is None else int(value)


def current_node(run: Mapping[str, Any]) -> str | None:
    """The leaf node below the run's flow (``Writing/Review``): running, or the last that ran."""
    value = run.get("current_node")
    return str(value) if value else None


def resumed_note(run: Mapping[str, Any]) -> str:
    """``→ resumed by X (completed)`` for a run other runs continued, else ``""``."""
    by = [str(r) for r in run.get("resumed_by") or ()]
    if not by:
        return ""
    ok = bool(run.get("resumed_ok"))
    if len(by) == 1:
        return f"→ resumed by {by[0]} ({'completed' if ok else 'not completed'})"
    return f"→ resumed {len(by)}× (latest {by[0]}; {'one' if ok else 'none'} completed)"


def status_text(run: Mapping[str, Any]) -> str:
    """The run's status, followed by its resumes when it has any."""
    return " ".join(p for p in (str(run.get("status") or "?"), resumed_note(run)) if p)


def recorded_command(run: Mapping[str, Any]) -> dict[str, Any] | None:
    """What ``pocketflow-ext run`` ran to record this run, or None (another way, or unknown)."""
    params = run.get("params")
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except ValueError:
            return None
    found = params.get(COMMAND_PARAM) if isinstance(params, Mapping) else None
    if not isinstance(found, Mapping) or not (found.get("script") or found.get("module")):
        return None
    return dict(found)


def command_db(db_path: str) -> str:
    """The store as a recorded command repeated in its own directory names it: a file by
    its absolute path, a PostgreSQL address as it is (a path would mangle it)."""
    return db_path if is_url(db_path) else os.path.abspath(db_path)


def resume_command_line(run: Mapping[str, Any], db_path: str) -> tuple[str, bool]:
    """``pocketflow-ext run --db DB --resume RUN_ID SCRIPT ARGS`` for this run, and whether
    it is the recorded command (False: ``your_script.py`` stands for the script). A recorded
    command runs in the directory it ran in, with the database's absolute path."""
    command = recorded_command(run)
    if command is None:
        head = ["pocketflow-ext", "run", "--db", db_path, "--resume", str(run["run_id"])]
        return shlex.join(head) + " your_script.py", False
    db = command_db(db_path)
    head = ["pocketflow-ext", "run", "--db", db, "--resume", str(run["run_id"])]
    args = [str(a) for a in command.get("args") or ()]
    target = [str(command["script"])] if command.get("script") else ["-m", str(command["module"])]
    line = shlex.join([*head, *target, *args])
    cwd = command.get("cwd")
    return (f"cd {shlex.quote(str(cwd))} && {line}" if cwd else line), True


def answer_command_line(run: Mapping[str, Any], db_path: str) -> tuple[str, bool]:
    """``pocketflow-ext answer RUN_ID '<JSON>' --db DB SCRIPT ARGS`` for a waiting run, and
    whether the script is the recorded one (False: ``your_script.py`` stands for it)."""
    command = recorded_command(run)
    head = ["pocketflow-ext", "answer", str(run["run_id"])]
    if command is None:
        return (
            f"{shlex.join(head)} '<JSON answer>' --db {shlex.quote(db_path)} your_script.py",
            False,
        )
    db = command_db(db_path)
    args = [str(a) for a in command.get("args") or ()]
    target = [str(command["script"])] if command.get("script") else ["-m", str(command["module"])]
    line = f"{shlex.join(head)} '<JSON answer>' " + shlex.join(["--db", db, *target, *args])
    cwd = command.get("cwd")
    return (f"cd {shlex.quote(str(cwd))} && {line}" if cwd else line), True


def lineage_facts(run: Mapping[str, Any]) -> dict[str, str]:
    """The run's origin and descendants beyond resumes: forks, both ways."""
    facts = {}
    if run.get("forked_from"):
        facts["Forked from"] = f"{run['forked_from']} at step {run.get('forked_at_step')}"
    if run.get("forked_by"):
        facts["Forked by"] = ", ".join(str(r) for r in run["forked_by"])
    return facts
