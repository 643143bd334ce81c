"""The database the read-only commands (``runs``, ``show``) look at, opened without writing."""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path

from ..errors import PocketFlowExtError
from ..runstore.open import is_url, masked, open_store
from ..runstore.runs import parse_iso
from ..runstore.workflow_db import WorkflowDB
from .options import default_db
from .output import PROG, fail


def open_recorded(command: str, path: str | None) -> tuple[WorkflowDB, str]:
    """The database at ``path`` (default: ``$POCKETFLOW_EXT_DB`` or ./pocketflow.db), read-only,
    and how to name it in messages (a URL without its password)."""
    db_path = path or default_db()
    if not is_url(db_path) and not Path(db_path).is_file():
        fail(
            command,
            f"no recording database at {db_path}; record runs with "
            f"`pocketflow-ext run --db {db_path} SCRIPT.py` or pass the database path",
        )
    try:
        store = open_store(db_path, readonly=True)  # never creates, migrates or writes
    except PocketFlowExtError as exc:
        fail(command, str(exc))
    if store.notice:
        print(f"{PROG} {command}: note: {store.notice}", file=sys.stderr)
    return WorkflowDB(store), masked(db_path)  # shown in messages: never a password


def local_time(text: str | None) -> str:
    ts = parse_iso(text)
    if ts is None:
        return text or "-"
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def run_seconds(started: str | None, finished: str | None) -> float | None:
    """How long a run took, or has been running when it has not finished."""
    start = parse_iso(started)
    if start is None:
        return None
    end = parse_iso(finished) if finished else time.time()
    return None if end is None else max(end - start, 0.0)


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms" if seconds >= 0.01 else f"{seconds * 1000:.1f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
