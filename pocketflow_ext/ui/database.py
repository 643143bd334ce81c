"""Open a run database read-only and find out which columns it has.

The monitor reads databases written by pocketflow-ext and by PocoFlow 0.2.1, so every query
asks ``Schema`` which optional columns exist instead of assuming them. Nothing here creates,
migrates or writes the file.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from ..errors import MonitorDatabaseError

RUNS, EVENTS, CHECKPOINTS = "pf_runs", "pf_events", "pf_checkpoints"
# Columns PocoFlow 0.2.1 already had: without them the file is some other program's database.
REQUIRED_RUN_COLUMNS = frozenset({"run_id", "flow_name", "status", "started_at"})
SQLITE_MAGIC = b"SQLite format 3\x00"


@dataclass(frozen=True)
class Schema:
    """Column names of the three run tables (an empty set when a table is absent)."""

    runs: frozenset[str]
    events: frozenset[str]
    checkpoints: frozenset[str]

    def has(self, table: str, column: str) -> bool:
        return (
            column in {RUNS: self.runs, EVENTS: self.events, CHECKPOINTS: self.checkpoints}[table]
        )


def connect_readonly(path: str | Path) -> sqlite3.Connection:
    """A read-only connection to an existing SQLite file (raises if it cannot be one)."""
    file = Path(path).expanduser()
    if not file.exists():
        raise MonitorDatabaseError(
            f"Database file not found: {file}. Pass the db_path your flows record to "
            "(for example `pocketflow-ext monitor runs.db`)."
        )
    if file.is_dir():
        raise MonitorDatabaseError(f"{file} is a directory; pass the SQLite file inside it.")
    if file.stat().st_size == 0:
        raise MonitorDatabaseError(
            f"The database {file} is empty: no runs recorded yet. Run a flow with "
            f"db_path={str(file)!r} and refresh."
        )
    with file.open("rb") as fh:
        if fh.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
            raise MonitorDatabaseError(
                f"{file} is not an SQLite database. Pass the .db file your flows record to."
            )
    # mode=ro: SQLite refuses every write on this connection, so the monitor cannot alter
    # (or create, or migrate) the file even by mistake.
    uri = f"file:{quote(str(file.resolve()))}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=5.0)
    conn.row_factory = sqlite3.Row
    return conn


def read_schema(conn: sqlite3.Connection, path: str | Path) -> Schema:
    """The run tables' columns; raises ``MonitorDatabaseError`` for an empty or foreign file."""
    try:
        tables = {
            row[0]
            for row in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table','view')")
        }
    except sqlite3.DatabaseError as exc:
        raise MonitorDatabaseError(f"{path} cannot be read as an SQLite database ({exc}).") from exc
    if not tables:
        raise MonitorDatabaseError(
            f"The database {path} is empty: no runs recorded yet. Run a flow with "
            f"db_path={str(path)!r} and refresh."
        )
    if RUNS not in tables:
        shown = ", ".join(sorted(tables)[:8])
        raise MonitorDatabaseError(
            f"{path} is not a run database (no {RUNS} table; it has: {shown}). Pass the file "
            "written by a flow with db_path, or by PocoFlow's WorkflowDB."
        )
    schema = Schema(
        *(_columns(conn, t) if t in tables else frozenset() for t in (RUNS, EVENTS, CHECKPOINTS))
    )
    missing = REQUIRED_RUN_COLUMNS - schema.runs
    if missing:
        raise MonitorDatabaseError(
            f"{path} has a {RUNS} table of another schema (missing columns: "
            f"{', '.join(sorted(missing))}); it was not written by pocketflow-ext or PocoFlow."
        )
    return schema


def _columns(conn: sqlite3.Connection, table: str) -> frozenset[str]:
    # Table names come from the fixed constants above, never from user input.
    return frozenset(row[1] for row in conn.execute(f"PRAGMA table_info({table})"))


def open_database(path: str | Path) -> tuple[sqlite3.Connection, Schema]:
    """Connect read-only and read the schema; the connection is closed again on failure."""
    conn = connect_readonly(path)
    try:
        return conn, read_schema(conn, path)
    except BaseException:
        conn.close()
        raise
