"""The database the read-only commands (``runs``, ``show``) look at, opened without writing."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

from ..errors import PocketFlowExtError
from ..runstore.open import is_url, open_store
from ..runstore.runs import parse_iso
from ..runstore.workflow_db import WorkflowDB
from .options import default_db
from .output import PROG, fail


def open_recorded(command: str, path: str | None) -> tuple[WorkflowDB, str]:
    """The database at ``path`` (default: ``$POCKETFLOW_EXT_DB`` or ./pocketflow.db), read-only."""
    problem = db_path_problem(path)
    if problem is not None:
        fail(command, problem)
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
    return WorkflowDB(store), db_path


def db_path_problem(path: str | None) -> str | None:
    """What is wrong with a database path given on the command line (None: nothing yet)."""
    if path is None:
        return None
    if not path.strip():
        return (
            f"the database path is empty; pass a file such as runs.db, or leave it out "
            f"for {default_db()}"
        )
    if Path(path).is_dir():
        inside = sorted(p.name for p in Path(path).glob("*.db"))[:5]
        hint = f" (it holds: {', '.join(inside)})" if inside else ""
        return f"{path} is a directory; pass the database file inside it{hint}"
    return None


def local_time(text: str | None) -> str:
    ts = parse_iso(text)
    if ts is None:
        return text or "-"
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")
