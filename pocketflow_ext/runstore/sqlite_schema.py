"""The SQLite schema of a run store: DDL, versions, identification and in-place migration.

The human-readable contract is ``docs/schema.md``. Versions live in ``PRAGMA user_version``:
0 is an empty file or a PocoFlow 0.2.1 database, 1 the first pocketflow-ext schema (steps
numbered from 1), 2 (steps from 0 as in PocoFlow; status ``waiting``), 3 (delta
checkpoints: ``kind``, ``parent_step``, ``deleted_json``), 4 (``pf_runs`` columns of
pauses and forks: ``question``, ``answer``, ``start_store``, ``forked_from``,
``forked_at_step``), 5 (``pf_cache``, the result cache), 6 the current one
(``pf_resume_claims``).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from ..errors import RecordingError
from .runs import STATUSES

SCHEMA_VERSION = 6

# PocoFlow 0.2.1 allowed 'paused'; kept valid so its rows survive the upgrade unchanged.
STORED_STATUSES = (*STATUSES, "paused")
_CHECK = ",".join(f"'{s}'" for s in STORED_STATUSES)

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
    params        TEXT,
    question      TEXT,
    answer        TEXT,
    start_store   TEXT,
    forked_from   TEXT,
    forked_at_step INTEGER
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
"""``pf_runs`` columns of PocoFlow 0.2.1 (present in every run database)."""
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
    "question",
    "answer",
    "start_store",
    "forked_from",
    "forked_at_step",
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

# Who is resuming a run right now: one row per resumed run, claimed by an INSERT that
# conflicts for all but one process, taken over by a compare-and-set UPDATE once it lapses.
CLAIMS_DDL = """
CREATE TABLE IF NOT EXISTS pf_resume_claims (
    run_id      TEXT PRIMARY KEY,
    claimed_by  TEXT NOT NULL,
    claimed_at  TEXT NOT NULL,
    pid         INTEGER,
    hostname    TEXT
)"""

# The result cache (docs/cache.md): one row per key; ``node`` and ``created_at`` serve
# ``pocketflow-ext cache clear --node/--older-than``.
CACHE_DDL = """
CREATE TABLE IF NOT EXISTS pf_cache (
    key         TEXT PRIMARY KEY,
    node        TEXT NOT NULL,
    value_text  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT
)"""
CACHE_INDEXES = (
    "CREATE INDEX IF NOT EXISTS pf_cache_node ON pf_cache(node)",
    "CREATE INDEX IF NOT EXISTS pf_cache_created ON pf_cache(created_at)",
)

POCOFLOW_EVENT_COLUMNS = (
    "id",
    "run_id",
    "step",
    "node_name",
    "event",
    "action",
    "elapsed_ms",
    "error_msg",
    "ts",
)
POCOFLOW_CHECKPOINT_COLUMNS = ("id", "run_id", "step", "node_name", "store_json", "created_at")

# Columns pocketflow-ext adds to PocoFlow's events and checkpoints tables (ALTER TABLE keeps rows).
_ADDED_COLUMNS = {
    "pf_events": (
        ("path", "TEXT"),
        ("params", "TEXT"),
        ("attempt", "INTEGER"),
        ("delay_ms", "REAL"),
        ("traceback", "TEXT"),
    ),
    "pf_checkpoints": (
        ("path", "TEXT"),
        ("params", "TEXT"),
        # Delta checkpoints (v3). Rows from before, and PocoFlow's, read as full (kind NULL).
        ("kind", "TEXT"),
        ("parent_step", "INTEGER"),
        ("deleted_json", "TEXT"),
    ),
}

# The readers' queries: newest runs (optionally by status or flow), a run's events in
# order, a run's checkpoints by step (the UNIQUE constraint indexes those), resumes.
INDEXES = (
    "CREATE INDEX IF NOT EXISTS pf_runs_started ON pf_runs(started_at DESC)",
    "CREATE INDEX IF NOT EXISTS pf_runs_status_started ON pf_runs(status, started_at DESC)",
    "CREATE INDEX IF NOT EXISTS pf_runs_flow_started ON pf_runs(flow_name, started_at DESC)",
    "CREATE INDEX IF NOT EXISTS pf_runs_resumed_from ON pf_runs(resumed_from)",
    "CREATE INDEX IF NOT EXISTS pf_runs_forked_from ON pf_runs(forked_from)",
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
    "kind",
    "parent_step",
    "deleted_json",
)

RUNS, EVENTS, CHECKPOINTS, CACHE = "pf_runs", "pf_events", "pf_checkpoints", "pf_cache"
_OURS = (RUNS, EVENTS, CHECKPOINTS)


@dataclass(frozen=True)
class Found:
    """What a file holds, read without writing: its version and the run tables' columns."""

    version: int
    tables: frozenset[str]
    runs: frozenset[str]
    events: frozenset[str]
    checkpoints: frozenset[str]

    @property
    def empty(self) -> bool:
        return not self.tables and self.version == 0


def inspect(conn: sqlite3.Connection) -> Found:
    """Read the version and the tables' columns (raises sqlite3.DatabaseError for a file
    that is not SQLite). Only reads: safe on a file that turns out to be someone else's.

    All in one read transaction (unless the caller's is open): read statement by
    statement, a migration another process commits in between would show the old version
    with the new tables, a file that is neither, and be refused."""
    began = not conn.in_transaction
    if began:
        conn.execute("BEGIN")  # deferred: takes no lock and writes nothing by itself
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        tables = frozenset(
            r[0]
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
            if not str(r[0]).startswith("sqlite_")
        )
        cols = [_columns(conn, t) if t in tables else frozenset() for t in _OURS]
    finally:
        if began and conn.in_transaction:
            conn.execute("ROLLBACK")
    return Found(version, tables, *cols)


def _columns(conn: sqlite3.Connection, table: str) -> frozenset[str]:
    # table names here come from this module's constants, never from users
    return frozenset(r[1] for r in conn.execute(f"PRAGMA table_info({table})").fetchall())


def refusal(found: Found, location: str) -> str | None:
    """Why ``found`` is not a run database this code may use, or None when it is one:
    ours (any version up to ``SCHEMA_VERSION``), PocoFlow 0.2.1's, or an empty file."""
    if found.version > SCHEMA_VERSION:
        return (
            f"{location} has schema version {found.version}, newer than this pocketflow-ext "
            f"understands ({SCHEMA_VERSION}); upgrade pocketflow-ext to use it"
        )
    if found.empty:
        return None
    if RUNS not in found.tables:
        return (
            f"{location} is not a run database (no {RUNS} table; it has: "
            f"{_listed(found.tables)}); it was left unchanged. Choose another file for runs"
        )
    if found.version == 0:
        others = found.tables - set(_OURS)
        expected = (
            (found.runs, POCOFLOW_RUN_COLUMNS),
            (found.events, POCOFLOW_EVENT_COLUMNS if EVENTS in found.tables else ()),
            (found.checkpoints, POCOFLOW_CHECKPOINT_COLUMNS if CHECKPOINTS in found.tables else ()),
        )
        if others or any(have != frozenset(want) for have, want in expected):
            return (
                f"{location} has a {RUNS} table of another schema: not a pocketflow-ext or "
                f"PocoFlow 0.2.1 database (tables: {_listed(found.tables)}; {RUNS} columns: "
                f"{_listed(found.runs)}); it was left unchanged. Choose another file for runs"
            )
        return None
    missing = set(POCOFLOW_RUN_COLUMNS) - found.runs
    if missing or EVENTS not in found.tables or CHECKPOINTS not in found.tables:
        return (
            f"{location} says it is a pocketflow-ext database (schema version {found.version}) "
            f"but its tables do not match (tables: {_listed(found.tables)}; {RUNS} columns: "
            f"{_listed(found.runs)}); it was left unchanged. Choose another file for runs"
        )
    return None


def _listed(names: frozenset[str]) -> str:
    shown = sorted(names)
    text = ", ".join(shown[:10]) + (f" and {len(shown) - 10} more" if len(shown) > 10 else "")
    return text or "none"


def migrate(conn: sqlite3.Connection, location: str) -> int:
    """Create or upgrade the schema in place, keeping every row; returns the version found.

    One IMMEDIATE transaction, so processes opening a file at once migrate it exactly once
    (the second finds the new version). The file is identified again under that lock.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = inspect(conn)
        reason = refusal(found, location)
        if reason is not None:
            raise RecordingError(reason)
        if found.version == 0:
            _create_or_upgrade_pocoflow(conn, found)
        elif found.version == 1:
            _v1_to_v2(conn)
        # Versions 3-6 were built on parallel branches: every step below is idempotent, so
        # a file any of them migrated first still ends up complete.
        if 0 < found.version < SCHEMA_VERSION:
            _add_columns(conn)  # 3: delta checkpoints
        if found.version < SCHEMA_VERSION:
            _pause_and_fork_columns(conn)  # 4: pauses and forks
            _add_cache(conn)  # 5: the result cache (new files get it here too)
            conn.execute(CLAIMS_DDL)  # 6: resume claims
        if found.version != SCHEMA_VERSION:
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return found.version


def _rebuild_runs(conn: sqlite3.Connection) -> None:
    """Give pf_runs the current DDL, copying every row: SQLite cannot alter a CHECK.

    SQLite's recipe: build the new table, copy, drop the old, rename the new into place
    (renaming the old one instead would rewrite the other tables' references).
    """
    conn.execute(RUNS_DDL.format(table="pf_runs_new"))
    cols = ", ".join(c for c in RUN_COLUMNS if c in _columns(conn, RUNS))
    conn.execute(f"INSERT INTO pf_runs_new ({cols}) SELECT {cols} FROM pf_runs")
    conn.execute("DROP TABLE pf_runs")
    conn.execute("ALTER TABLE pf_runs_new RENAME TO pf_runs")


def _create_or_upgrade_pocoflow(conn: sqlite3.Connection, found: Found) -> None:
    """Empty file or PocoFlow 0.2.1 (whose steps already count from 0, as ours now do)."""
    if RUNS in found.tables:
        _rebuild_runs(conn)
    else:
        conn.execute(RUNS_DDL.format(table=RUNS))
    conn.execute(EVENTS_DDL)
    conn.execute(CHECKPOINTS_DDL)
    _add_columns(conn)
    for statement in INDEXES:
        conn.execute(statement)


def _add_columns(conn: sqlite3.Connection) -> None:
    """Our columns on PocoFlow's events and checkpoints tables, where missing (ALTER TABLE
    ADD COLUMN keeps every row and rewrites none)."""
    for table, added in _ADDED_COLUMNS.items():
        present = _columns(conn, table)
        for name, sql_type in added:
            if name not in present:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {sql_type}")


# Far below any step a program records: rows are parked here while they are renumbered,
# so no intermediate state breaks UNIQUE(run_id, step) whatever order SQLite updates in.
_PARK = 1 << 62


def _v1_to_v2(conn: sqlite3.Connection) -> None:
    """Steps from 0, as PocoFlow numbers them; the ``waiting`` status.

    Only rows our recorder wrote are renumbered (it always set ``path``); rows PocoFlow or
    a user's ``save_event``/``save_checkpoint`` wrote keep the numbers they were given.
    """
    _rebuild_runs(conn)
    for statement in INDEXES:  # pf_runs' indexes went with the old table
        conn.execute(statement)
    conn.execute("UPDATE pf_events SET step = step - 1 WHERE path IS NOT NULL AND step IS NOT NULL")
    conn.execute(f"UPDATE pf_checkpoints SET step = step - 1 - {_PARK} WHERE path IS NOT NULL")
    conn.execute(f"UPDATE pf_checkpoints SET step = step + {_PARK} WHERE step < -{_PARK // 2}")


# Version 4's pf_runs columns (pauses and forks), added in place: no row is rewritten.
PAUSE_AND_FORK_COLUMNS = (
    ("question", "TEXT"),
    ("answer", "TEXT"),
    ("start_store", "TEXT"),
    ("forked_from", "TEXT"),
    ("forked_at_step", "INTEGER"),
)


def _pause_and_fork_columns(conn: sqlite3.Connection) -> None:
    """Version 4: the columns of durable pauses and forks, and the index that finds a
    run's forks; adds only what is missing, so it is safe after any earlier step."""
    present = _columns(conn, RUNS)
    for name, sql_type in PAUSE_AND_FORK_COLUMNS:
        if name not in present:
            conn.execute(f"ALTER TABLE {RUNS} ADD COLUMN {name} {sql_type}")
    for statement in INDEXES:
        conn.execute(statement)


def _add_cache(conn: sqlite3.Connection) -> None:
    """Version 5: the result cache table (new files get it here too)."""
    conn.execute(CACHE_DDL)
    for statement in CACHE_INDEXES:
        conn.execute(statement)
