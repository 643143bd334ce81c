"""The PostgreSQL schema of a run store: DDL, versions, identification and migration.

The human-readable contract is ``docs/schema.md``. Tables and columns are SQLite's
(``sqlite_schema.py``), so both stores hold the same rows; timestamps stay ISO-8601 UTC
text, as the recorder writes them. ``pf_migrations`` holds one row per applied migration
(``MIGRATIONS[i]`` is version ``i + 1``); a migration only adds, never drops, so every row
is kept. Workers starting at once serialise on a transaction-level advisory lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import RecordingError
from .runs import iso
from .sqlite_schema import (
    CHECKPOINT_COLUMNS,
    CHECKPOINTS,
    EVENT_COLUMNS,
    EVENTS,
    PAUSE_AND_FORK_COLUMNS,
    RUN_COLUMNS,
    RUNS,
    STORED_STATUSES,
)

MIN_SERVER_VERSION = 120000
"""PostgreSQL 12: generated identity columns, ``ALTER TABLE ... ADD COLUMN`` with a
default without rewriting the table, and the oldest release still in wide use."""

# Any constant both sides agree on: pg_advisory_xact_lock(key) serialises migrations of
# one database across processes and hosts, and is released when the transaction ends.
MIGRATION_LOCK_KEY = 0x70667874  # "pfxt"

# The run tables are named once, in sqlite_schema; pf_migrations is PostgreSQL's own
# (SQLite keeps its version in PRAGMA user_version).
CLAIMS, MIGRATIONS_TABLE = "pf_resume_claims", "pf_migrations"
TABLES = (RUNS, EVENTS, CHECKPOINTS, CLAIMS)

_CHECK = ", ".join(f"'{s}'" for s in STORED_STATUSES)

# No foreign keys: SQLite does not enforce its declared ones either, and a history copied
# between stores (``pocketflow-ext copy``) may bring events before their run row.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: runs, events, checkpoints, resume claims, and the indexes of the readers'
    # queries (newest runs, optionally by status or flow; a run's events in order; its
    # checkpoints by step, which the unique constraint indexes; who resumed a run).
    (
        f"""CREATE TABLE pf_runs (
            run_id        TEXT PRIMARY KEY,
            flow_name     TEXT NOT NULL DEFAULT '',
            status        TEXT NOT NULL DEFAULT 'running' CHECK (status IN ({_CHECK})),
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
        )""",
        """CREATE TABLE pf_events (
            id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            run_id      TEXT NOT NULL,
            step        INTEGER,
            node_name   TEXT,
            event       TEXT NOT NULL,
            action      TEXT,
            elapsed_ms  DOUBLE PRECISION,
            error_msg   TEXT,
            ts          TEXT NOT NULL,
            path        TEXT,
            params      TEXT,
            attempt     INTEGER,
            delay_ms    DOUBLE PRECISION,
            traceback   TEXT
        )""",
        # Delta checkpoints add their columns (kind, parent_step, deleted_json) in
        # migration 3; rows written before it read as full snapshots.
        """CREATE TABLE pf_checkpoints (
            id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            run_id      TEXT NOT NULL,
            step        INTEGER NOT NULL,
            node_name   TEXT NOT NULL,
            store_json  TEXT NOT NULL,
            created_at  TEXT NOT NULL,
            path        TEXT,
            params      TEXT,
            UNIQUE (run_id, step)
        )""",
        """CREATE TABLE pf_resume_claims (
            run_id      TEXT PRIMARY KEY,
            claimed_by  TEXT NOT NULL,
            claimed_at  TEXT NOT NULL,
            pid         INTEGER,
            hostname    TEXT
        )""",
        "CREATE INDEX pf_runs_started ON pf_runs (started_at DESC, run_id DESC)",
        "CREATE INDEX pf_runs_status_started ON pf_runs (status, started_at DESC)",
        "CREATE INDEX pf_runs_flow_started ON pf_runs (flow_name, started_at DESC)",
        "CREATE INDEX pf_runs_resumed_from ON pf_runs (resumed_from)",
        "CREATE INDEX pf_runs_parent ON pf_runs (parent_run_id)",
        "CREATE INDEX pf_events_run ON pf_events (run_id, id)",
    ),
    # 2: the result cache (docs/cache.md); node and created_at serve `cache clear`.
    (
        """CREATE TABLE pf_cache (
            key         TEXT PRIMARY KEY,
            node        TEXT NOT NULL,
            value_text  TEXT NOT NULL,
            created_at  TEXT NOT NULL,
            expires_at  TEXT
        )""",
        "CREATE INDEX pf_cache_node ON pf_cache (node)",
        "CREATE INDEX pf_cache_created ON pf_cache (created_at)",
    ),
    # 3: delta checkpoints (docs/schema.md); rows from before read as full (kind NULL).
    # Adding nullable columns rewrites no row.
    (
        "ALTER TABLE pf_checkpoints ADD COLUMN kind TEXT, ADD COLUMN parent_step INTEGER, "
        "ADD COLUMN deleted_json TEXT",
    ),
    # 4: pauses and forks (docs/human-in-the-loop.md, docs/fork.md): nullable columns, and
    # the index that finds a run's forks.
    (
        "ALTER TABLE pf_runs "
        + ", ".join(
            f"ADD COLUMN {name} {'INTEGER' if sql_type == 'INTEGER' else 'TEXT'}"
            for name, sql_type in PAUSE_AND_FORK_COLUMNS
        ),
        "CREATE INDEX pf_runs_forked_from ON pf_runs (forked_from)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)

CLAIM_COLUMNS = ("run_id", "claimed_by", "claimed_at", "pid", "hostname")
EXPECTED: dict[str, frozenset[str]] = {
    RUNS: frozenset(RUN_COLUMNS) - {name for name, _type in PAUSE_AND_FORK_COLUMNS},
    EVENTS: frozenset(("id", *EVENT_COLUMNS)),
    CHECKPOINTS: frozenset(("id", *CHECKPOINT_COLUMNS[:7])),  # before the delta columns
    CLAIMS: frozenset(CLAIM_COLUMNS),
}
"""The columns each table has had since version 1 (later migrations only add columns)."""


@dataclass(frozen=True)
class Table:
    owner: str
    columns: frozenset[str]
    can_read: bool
    can_write: bool


@dataclass(frozen=True)
class Found:
    """What the current schema of a database holds, read without writing."""

    schema: str | None
    version: int
    tables: dict[str, Table]
    user: str

    @property
    def empty(self) -> bool:
        return RUNS not in self.tables and self.version == 0


_INSPECT = """
SELECT c.relname, pg_get_userbyid(c.relowner),
       has_table_privilege(c.oid, 'SELECT'),
       has_table_privilege(c.oid, 'INSERT') AND has_table_privilege(c.oid, 'UPDATE'),
       array_agg(a.attname::text)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname = current_schema() AND c.relname = ANY(%s)
GROUP BY c.oid, c.relname, c.relowner
"""


def inspect(cur: Any) -> Found:
    """Read the schema version and the run tables of the current schema (pg_catalog, so
    tables the role may not read are seen too). Only reads."""
    cur.execute("SELECT current_schema(), current_user")
    schema, user = cur.fetchone()
    cur.execute(_INSPECT, ([*TABLES, MIGRATIONS_TABLE],))
    tables = {
        name: Table(owner, frozenset(cols), bool(read), bool(write))
        for name, owner, read, write, cols in cur.fetchall()
    }
    version = 0
    migrations = tables.pop(MIGRATIONS_TABLE, None)
    if migrations is not None and migrations.can_read:
        cur.execute("SELECT coalesce(max(version), 0) FROM pf_migrations")
        version = int(cur.fetchone()[0])
    elif migrations is not None:
        version = -1  # ours, but this role may not even read the version
    return Found(schema, version, tables, str(user))


def refusal(found: Found, location: str, *, writing: bool) -> str | None:
    """Why this database cannot hold our runs (for a writer) or be read (for a reader),
    with what to do; None when it can."""
    if found.schema is None:
        return (
            f"{location} has no schema to hold the run tables (the search_path names none "
            "that exists); create one, or add options=-csearch_path=<schema> to the URL"
        )
    if found.version > SCHEMA_VERSION:
        return (
            f"{location} has run-store schema version {found.version}, newer than this "
            f"pocketflow-ext understands ({SCHEMA_VERSION}); upgrade pocketflow-ext to use it"
        )
    others = sorted(t for t in found.tables if t in TABLES)
    if found.version == 0 and others:
        described = "; ".join(
            f"{t} (owner {found.tables[t].owner}; columns "
            f"{', '.join(sorted(found.tables[t].columns)[:8])})"
            for t in others
        )
        return (
            f"{location} already has tables named like the run store's that pocketflow-ext "
            f"did not create: {described}. They were left unchanged; record to another "
            "database, or to another schema of it (add options=-csearch_path=<schema> to "
            "the URL)"
        )
    for name in TABLES if found.version > 0 else ():
        table = found.tables.get(name)
        missing = EXPECTED[name] - (table.columns if table is not None else frozenset())
        if missing:
            return (
                f"{location} says it is a run store (schema version {found.version}) but its "
                f"table {name} lacks {', '.join(sorted(missing))}; it was left unchanged. "
                "Record to another database or schema"
            )
    blocked = sorted(
        name
        for name, table in found.tables.items()
        if not (table.can_write if writing else table.can_read)
    )
    if found.version < 0 or blocked:
        tables = blocked or [MIGRATIONS_TABLE]
        owners = sorted({found.tables[t].owner for t in blocked}) or ["another role"]
        need = "INSERT, UPDATE and SELECT" if writing else "SELECT"
        return (
            f"role {found.user!r} may not {'write to' if writing else 'read'} "
            f"{', '.join(tables)} in {location} (owned by {', '.join(owners)}); ask the owner "
            f"to GRANT {need} ON ALL TABLES IN SCHEMA {found.schema} TO {found.user}, or use "
            "a database of your own"
        )
    return None


def migrate(conn: Any, location: str) -> int:
    """Create or upgrade the schema, keeping every row; returns the version found.

    One transaction holding ``pg_advisory_xact_lock``: workers starting at once migrate
    exactly once (the others wait, then find the new version and do nothing).
    """
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        found = inspect(cur)
        reason = refusal(found, location, writing=True)
        if reason is not None:
            raise RecordingError(reason)
        if found.version == 0:
            cur.execute(
                "CREATE TABLE IF NOT EXISTS pf_migrations ("
                "version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
        for version in range(found.version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[version - 1]:
                cur.execute(statement)
            cur.execute(
                "INSERT INTO pf_migrations (version, applied_at) VALUES (%s, %s)",
                (version, iso()),
            )
    return found.version
