"""The one schema of a recording database: DDL, versions, migrations and run statuses.

This module is the contract between the recorder (writes) and the monitor (reads); the
human-readable version is ``docs/schema.md``. Versions live in ``PRAGMA user_version``:
0 is an empty file or a PocoFlow 0.2.1 database, 1 is the first pocketflow-ext schema.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
import sqlite3
import time
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigurationError

SCHEMA_VERSION = 1

STATUSES = ("queued", "running", "completed", "failed", "cancelled", "interrupted")
# PocoFlow 0.2.1 allowed 'paused'; kept valid so its rows survive the upgrade unchanged.
_STORED_STATUSES = (*STATUSES, "paused")
TERMINAL_STATUSES = ("completed", "failed", "cancelled", "interrupted")

HEARTBEAT_INTERVAL_S = 5.0
"""How often a live process refreshes ``heartbeat_at`` of its running runs."""
STALE_AFTER_S = 60.0
"""A ``running`` run whose heartbeat is older than this is reported as ``interrupted``."""

_CHECK = ",".join(f"'{s}'" for s in _STORED_STATUSES)

RUNS_DDL = f"""
CREATE TABLE {{table}} (
    run_id        TEXT PRIMARY KEY,
    flow_name     TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL DEFAULT 'running' CHECK(status IN ({_CHECK})),
    started_at    TEXT NOT NULL,
    completed_at  TEXT,
    total_steps   INTEGER,
    current_node  TEXT,
    error_msg     TEXT,
    traceback     TEXT,
    parent_run_id TEXT,
    resumed_from  TEXT,
    pid           INTEGER,
    hostname      TEXT,
    heartbeat_at  TEXT,
    graph         TEXT,
    params        TEXT
)"""

POCOFLOW_RUN_COLUMNS = (
    "run_id",
    "flow_name",
    "status",
    "started_at",
    "completed_at",
    "total_steps",
    "current_node",
    "error_msg",
)
"""``pf_runs`` columns of PocoFlow 0.2.1 (present in every recording database)."""
RUN_COLUMNS = (
    *POCOFLOW_RUN_COLUMNS,
    "traceback",
    "parent_run_id",
    "resumed_from",
    "pid",
    "hostname",
    "heartbeat_at",
    "graph",
    "params",
)
"""Every ``pf_runs`` column of the current schema, in table order."""

# PocoFlow declared ``id`` AUTOINCREMENT; new files leave it out (ids still only grow,
# since rows are never deleted) because its sqlite_sequence update on every insert costs
# about a fifth of a node's recording. Upgraded PocoFlow files keep theirs.
EVENTS_DDL = """
CREATE TABLE IF NOT EXISTS pf_events (
    id          INTEGER PRIMARY KEY,
    run_id      TEXT NOT NULL,
    step        INTEGER,
    node_name   TEXT,
    event       TEXT NOT NULL,
    action      TEXT,
    elapsed_ms  REAL,
    error_msg   TEXT,
    ts          TEXT NOT NULL,
    FOREIGN KEY (run_id) REFERENCES pf_runs(run_id)
)"""

CHECKPOINTS_DDL = """
CREATE TABLE IF NOT EXISTS pf_checkpoints (
    id          INTEGER PRIMARY KEY,
    run_id      TEXT NOT NULL,
    step        INTEGER NOT NULL,
    node_name   TEXT NOT NULL,
    store_json  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE(run_id, step),
    FOREIGN KEY (run_id) REFERENCES pf_runs(run_id)
)"""

# Columns pocketflow-ext adds to PocoFlow's events and checkpoints tables (ALTER TABLE keeps rows).
_ADDED_COLUMNS = {
    "pf_events": (
        ("path", "TEXT"),
        ("params", "TEXT"),
        ("attempt", "INTEGER"),
        ("delay_ms", "REAL"),
        ("traceback", "TEXT"),
    ),
    "pf_checkpoints": (("path", "TEXT"), ("params", "TEXT")),
}

# The monitor's queries: newest runs (optionally by status or flow), a run's events in
# order, a run's checkpoints by step (the UNIQUE constraint indexes those).
INDEXES = (
    "CREATE INDEX IF NOT EXISTS pf_runs_started ON pf_runs(started_at DESC)",
    "CREATE INDEX IF NOT EXISTS pf_runs_status_started ON pf_runs(status, started_at DESC)",
    "CREATE INDEX IF NOT EXISTS pf_runs_flow_started ON pf_runs(flow_name, started_at DESC)",
    "CREATE INDEX IF NOT EXISTS pf_runs_resumed_from ON pf_runs(resumed_from)",
    "CREATE INDEX IF NOT EXISTS pf_events_run ON pf_events(run_id, id)",
)

EVENT_COLUMNS = (
    "run_id",
    "step",
    "node_name",
    "event",
    "action",
    "elapsed_ms",
    "error_msg",
    "ts",
    "path",
    "params",
    "attempt",
    "delay_ms",
    "traceback",
)
CHECKPOINT_COLUMNS = (
    "run_id",
    "step",
    "node_name",
    "store_json",
    "created_at",
    "path",
    "params",
)
# A run's identity and start time are written once, by create_run; the rest may change.
UPDATABLE_RUN_COLUMNS = frozenset(RUN_COLUMNS) - {"run_id", "started_at"}

INSERT_EVENT = (
    f"INSERT INTO pf_events ({', '.join(EVENT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(EVENT_COLUMNS))})"
)
SET_CURRENT_NODE = "UPDATE pf_runs SET current_node = ? WHERE run_id = ?"
INSERT_CHECKPOINT = (
    f"INSERT INTO pf_checkpoints ({', '.join(CHECKPOINT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(CHECKPOINT_COLUMNS))})"
)


def _tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
    return {r[0] for r in rows}


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    # table names here come from this module's constants, never from users
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})").fetchall()}


def migrate(conn: sqlite3.Connection) -> int:
    """Create or upgrade the schema in place; returns the version found before.

    Runs in one IMMEDIATE transaction so concurrent openers migrate exactly once.
    A newer version than this code knows is refused rather than guessed at.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = conn.execute("PRAGMA user_version").fetchone()[0]
        if found > SCHEMA_VERSION:
            raise ConfigurationError(
                f"this database has schema version {found}, newer than this pocketflow-ext "
                f"understands ({SCHEMA_VERSION}); upgrade pocketflow-ext to record into it"
            )
        if found < 1:
            _to_v1(conn)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return int(found)


def _to_v1(conn: sqlite3.Connection) -> None:
    """Empty file or PocoFlow 0.2.1: rebuild pf_runs (its CHECK lacks our statuses; SQLite
    cannot alter a CHECK) copying every row, and add our columns to the other tables."""
    tables = _tables(conn)
    if "pf_runs" in tables:
        # SQLite's recipe: build the new table, copy, drop the old, rename the new into
        # place (renaming the old one instead would rewrite the other tables' references).
        conn.execute(RUNS_DDL.format(table="pf_runs_new"))
        cols = ", ".join(c for c in POCOFLOW_RUN_COLUMNS if c in _columns(conn, "pf_runs"))
        conn.execute(f"INSERT INTO pf_runs_new ({cols}) SELECT {cols} FROM pf_runs")
        conn.execute("DROP TABLE pf_runs")
        conn.execute("ALTER TABLE pf_runs_new RENAME TO pf_runs")
    else:
        conn.execute(RUNS_DDL.format(table="pf_runs"))
    conn.execute(EVENTS_DDL)
    conn.execute(CHECKPOINTS_DDL)
    for table, added in _ADDED_COLUMNS.items():
        present = _columns(conn, table)
        for name, sql_type in added:
            if name not in present:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {sql_type}")
    for statement in INDEXES:
        conn.execute(statement)


# ── timestamps ────────────────────────────────────────────────────────────────
_second: tuple[int, str] = (-1, "")  # the last whole second formatted, and its text


def iso(ts: float | None = None) -> str:
    """ISO-8601 UTC text with microseconds (``2026-11-23T11:40:00.123456+00:00``), so
    timestamps sort as text. Several per node: the seconds part is formatted once a second."""
    global _second
    if ts is None:
        ts = time.time()
    whole, fraction = divmod(round(ts * 1_000_000), 1_000_000)
    cached = _second  # an immutable pair, replaced whole, so threads never mix two seconds
    if cached[0] != whole:
        text = dt.datetime.fromtimestamp(whole, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        cached = _second = (whole, text)
    return f"{cached[1]}.{fraction:06d}+00:00"


def parse_iso(text: str | None) -> float | None:
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.timestamp()


# ── run ids ───────────────────────────────────────────────────────────────────
_RUN_ID = re.compile(r"[^\x00-\x1f\x7f/]{1,200}")


def check_run_id(run_id: Any) -> str:
    """A run id is 1-200 characters without '/' or control characters (flow names may
    hold spaces, so run ids made from them may too)."""
    if not isinstance(run_id, str):
        raise ConfigurationError(
            f"run_id must be a string like 'summarise-3f9a1b2c', got {type(run_id).__name__}"
        )
    if not _RUN_ID.fullmatch(run_id):
        raise ConfigurationError(
            f"malformed run_id {run_id!r}: use 1-200 characters, none of them '/' or a "
            "control character (e.g. 'summarise-3f9a1b2c')"
        )
    return run_id


# ── derived status ────────────────────────────────────────────────────────────
HOSTNAME = socket.gethostname()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def derive_status(row: Mapping[str, Any], now: float | None = None) -> str:
    """The status to show: a ``running`` run whose process is gone (same host, pid not
    alive) or whose heartbeat is older than ``STALE_AFTER_S`` is ``interrupted``."""
    status = str(row.get("status") or "")
    if status != "running":
        return status
    pid, host = row.get("pid"), row.get("hostname")
    if pid is not None and host == HOSTNAME and not pid_alive(int(pid)):
        return "interrupted"
    beat = parse_iso(row.get("heartbeat_at"))
    if beat is not None and (time.time() if now is None else now) - beat > STALE_AFTER_S:
        return "interrupted"
    return status
