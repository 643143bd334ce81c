"""Read-only queries behind the monitor's pages, on either schema (ours or PocoFlow 0.2.1).

Optional columns are selected only when ``Schema`` says they exist; a missing one reads as
``None``. Column names in SQL text come from fixed lists here, values are always bound.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..runstore import sqlite_schema as recorded
from ..runstore.runs import derive_status
from ..store.codec import loads
from .database import CHECKPOINTS, EVENTS, RUNS, Schema

# The recorder's column lists (plus the row id, which orders rows as they were written).
RUN_COLUMNS = recorded.RUN_COLUMNS
EVENT_COLUMNS = ("id", *recorded.EVENT_COLUMNS)
CHECKPOINT_COLUMNS = ("id", *(c for c in recorded.CHECKPOINT_COLUMNS if c != "store_json"))


@dataclass(frozen=True)
class RunFilter:
    """What the runs table shows: statuses and flow names (empty = all), run id substring."""

    statuses: tuple[str, ...] = ()
    flows: tuple[str, ...] = ()
    search: str = ""


@dataclass(frozen=True)
class RunsPage:
    rows: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0


def _select(schema_columns: frozenset[str], wanted: Sequence[str]) -> str:
    return ", ".join(c if c in schema_columns else f"NULL AS {c}" for c in wanted)


def _status_clause(statuses: Sequence[str], gone: Sequence[str]) -> tuple[str, list[Any]]:
    """``status IN (...)`` where ``running`` and ``interrupted`` follow the derived status."""
    parts: list[str] = []
    args: list[Any] = []
    stored = [s for s in statuses if s != "running"]
    if stored:
        parts.append(f"status IN ({', '.join('?' * len(stored))})")
        args.extend(stored)
    gone_json = json.dumps(list(gone))
    if "running" in statuses:
        parts.append(
            "(status = 'running' AND run_id NOT IN (SELECT value FROM json_each(?)))"
            if gone
            else "status = 'running'"
        )
        args.extend([gone_json] if gone else [])
    if "interrupted" in statuses and gone:
        parts.append("run_id IN (SELECT value FROM json_each(?))")
        args.append(gone_json)
    return "(" + " OR ".join(parts) + ")", args


def _where(filt: RunFilter, gone: Sequence[str]) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    if filt.statuses:
        clause, status_args = _status_clause(filt.statuses, gone)
        clauses.append(clause)
        args.extend(status_args)
    if filt.flows:
        clauses.append(f"flow_name IN ({', '.join('?' * len(filt.flows))})")
        args.extend(filt.flows)
    if filt.search.strip():
        clauses.append("run_id LIKE ? ESCAPE '\\'")
        term = filt.search.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        args.append(f"%{term}%")
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


def interrupted_run_ids(conn: sqlite3.Connection, schema: Schema) -> list[str]:
    """Runs stored as ``running`` whose process is gone (the recorder's own rule decides)."""
    probe = [c for c in ("pid", "hostname", "heartbeat_at") if schema.has(RUNS, c)]
    if not probe:  # PocoFlow files record no process: a running run is shown as running
        return []
    rows = conn.execute(
        f"SELECT run_id, status, {', '.join(probe)} FROM {RUNS} WHERE status = 'running'"
    )
    return [r["run_id"] for r in rows if derive_status(dict(r)) == "interrupted"]


def count_runs(conn: sqlite3.Connection, filt: RunFilter, gone: Sequence[str] = ()) -> int:
    where, args = _where(filt, gone)
    return int(conn.execute(f"SELECT COUNT(*) FROM {RUNS}{where}", args).fetchone()[0])


def list_runs(
    conn: sqlite3.Connection,
    schema: Schema,
    filt: RunFilter,
    limit: int,
    offset: int,
    gone: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """One page of runs, newest first (ties broken by run id so pages never overlap).

    Each row's ``status`` is the status to show (``interrupted`` derived for dead runs);
    the stored value stays in ``stored_status``.
    """
    where, args = _where(filt, gone)
    sql = (
        f"SELECT {_select(schema.runs, RUN_COLUMNS)} FROM {RUNS}{where} "
        "ORDER BY started_at DESC, run_id DESC LIMIT ? OFFSET ?"
    )
    return [_shown(dict(r)) for r in conn.execute(sql, [*args, limit, offset])]


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    row["stored_status"] = row["status"]
    row["status"] = derive_status(row)
    return row


def runs_page(
    conn: sqlite3.Connection, schema: Schema, filt: RunFilter, page: int, page_size: int
) -> RunsPage:
    """Rows of page ``page`` (0-based) and the filtered total, read in one transaction."""
    with _snapshot(conn):
        gone = interrupted_run_ids(conn, schema)
        total = count_runs(conn, filt, gone)
        rows = list_runs(conn, schema, filt, page_size, page * page_size, gone)
    return RunsPage(rows=rows, total=total)


class _snapshot:
    """Both statements of a page see the same database state even while a flow writes."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        if not self.conn.in_transaction:
            self.conn.execute("BEGIN")

    def __exit__(self, *exc: object) -> None:
        if self.conn.in_transaction:
            self.conn.rollback()  # read-only: nothing to commit, just end the snapshot


def flow_names(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute(f"SELECT DISTINCT flow_name FROM {RUNS} ORDER BY 1")]


def status_names(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute(f"SELECT DISTINCT status FROM {RUNS} ORDER BY 1")]


def get_run(conn: sqlite3.Connection, schema: Schema, run_id: str) -> dict[str, Any] | None:
    row = conn.execute(
        f"SELECT {_select(schema.runs, RUN_COLUMNS)} FROM {RUNS} WHERE run_id = ?", (run_id,)
    ).fetchone()
    return _shown(dict(row)) if row else None


def child_run_ids(conn: sqlite3.Connection, schema: Schema, run_id: str) -> list[str]:
    if not schema.has(RUNS, "parent_run_id"):
        return []
    rows = conn.execute(
        f"SELECT run_id FROM {RUNS} WHERE parent_run_id = ? ORDER BY started_at", (run_id,)
    )
    return [r[0] for r in rows]


def get_events(conn: sqlite3.Connection, schema: Schema, run_ids: Sequence[str]) -> list[dict]:
    """Events of a run (and of its child runs when given), in the order they were written."""
    if not schema.events or not run_ids:
        return []
    marks = ", ".join("?" * len(run_ids))
    sql = (
        f"SELECT {_select(schema.events, EVENT_COLUMNS)} FROM {EVENTS} "
        f"WHERE run_id IN ({marks}) ORDER BY id"
    )
    return [dict(r) for r in conn.execute(sql, list(run_ids))]


def get_checkpoints(conn: sqlite3.Connection, schema: Schema, run_id: str) -> list[dict]:
    """Checkpoint headers (step, node, time) without their store text, ordered by step."""
    if not schema.checkpoints:
        return []
    sql = (
        f"SELECT {_select(schema.checkpoints, CHECKPOINT_COLUMNS)} FROM {CHECKPOINTS} "
        "WHERE run_id = ? ORDER BY step"
    )
    return [dict(r) for r in conn.execute(sql, (run_id,))]


def load_store(conn: sqlite3.Connection, run_id: str, step: int) -> dict[str, Any] | None:
    """The store saved after ``step``, decoded like the recorder encoded it."""
    row = conn.execute(
        f"SELECT store_json FROM {CHECKPOINTS} WHERE run_id = ? AND step = ?", (run_id, step)
    ).fetchone()
    if row is None:
        return None
    data = loads(row[0])
    return data if isinstance(data, dict) else {"<store>": data}


def load_store_text(conn: sqlite3.Connection, run_id: str, step: int) -> str | None:
    row = conn.execute(
        f"SELECT store_json FROM {CHECKPOINTS} WHERE run_id = ? AND step = ?", (run_id, step)
    ).fetchone()
    return None if row is None else str(row[0])
