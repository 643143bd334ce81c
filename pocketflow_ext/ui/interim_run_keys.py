"""INTERIM, delete when merging with the ``runstore`` branch: the derived keys of a run dict
(``last_activity_at``, ``duration_s``, ``steps``, ``current_node``, ``resumed_by``,
``resumed_ok``) computed here from the stored columns, until ``RunStore.get_run`` /
``list_runs`` provide them. Readers call :func:`add_interim_run_keys` right after reading
runs; merging removes those calls and this module, nothing else.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..recording.schema import derive_status, parse_iso


def add_interim_run_keys(
    conn: sqlite3.Connection, runs: Sequence[dict[str, Any]], now: float | None = None
) -> list[dict[str, Any]]:
    """``runs`` (dicts of ``pf_runs`` columns, status already derived) with the derived keys
    of PLAN.md's "Run dicts every reader gets", read from ``conn`` in three queries."""
    if not runs:
        return []
    ids = [str(r["run_id"]) for r in runs]
    marks = ", ".join("?" * len(ids))
    event_columns = _columns(conn, "pf_events")
    path = "path" if "path" in event_columns else "node_name"
    activity: dict[str, tuple[str | None, int]] = {}
    latest: dict[str, str] = {}
    if event_columns:
        for run_id, last_ts, starts in conn.execute(
            "SELECT run_id, MAX(ts), SUM(event = 'node_start') FROM pf_events "
            f"WHERE run_id IN ({marks}) GROUP BY run_id",
            ids,
        ):
            activity[run_id] = (last_ts, int(starts or 0))
        # The node started last is the deepest one in progress (a nested flow's own
        # node_start comes before its inner nodes'), or the one that failed.
        for run_id, leaf in conn.execute(
            f"SELECT run_id, {path} FROM pf_events WHERE id IN (SELECT MAX(id) FROM pf_events "
            f"WHERE run_id IN ({marks}) AND event = 'node_start' GROUP BY run_id)",
            ids,
        ):
            latest[run_id] = str(leaf or "")
    resumers = _resumers(conn, ids)
    return [
        derive_keys(
            r,
            *activity.get(str(r["run_id"]), (None, 0)),
            latest.get(str(r["run_id"])),
            resumers.get(str(r["run_id"]), []),
            now,
        )
        for r in runs
    ]


def derive_keys(
    run: Mapping[str, Any],
    last_event_at: str | None,
    node_starts: int,
    last_started_path: str | None,
    resumers: Iterable[Mapping[str, Any]],
    now: float | None = None,
) -> dict[str, Any]:
    """``run`` with the derived keys, from what its events and resumers say."""
    out = dict(run)
    marks = [t for t in (last_event_at, run.get("heartbeat_at"), run.get("started_at")) if t]
    out["last_activity_at"] = run.get("completed_at") or (max(marks) if marks else None)
    start = parse_iso(run.get("started_at"))
    if run.get("completed_at"):
        end = parse_iso(run["completed_at"])
    elif run.get("status") == "running":  # derived: its process is alive
        end = time.time() if now is None else now
    else:
        end = parse_iso(out["last_activity_at"])
    out["duration_s"] = None if start is None or end is None else max(0.0, end - start)
    total = run.get("total_steps")
    out["steps"] = int(total) if total is not None else node_starts
    out["current_node"] = _below_top(last_started_path, str(run.get("flow_name") or "")) or (
        run.get("current_node")
    )
    shown = list(resumers)
    out["resumed_by"] = [str(r["run_id"]) for r in shown]
    out["resumed_ok"] = any(derive_status(r) == "completed" for r in shown)
    return out


def _below_top(path: str | None, flow_name: str) -> str | None:
    if not path:
        return None
    if flow_name and path.startswith(flow_name + "/"):
        return path[len(flow_name) + 1 :]
    return path.split("/", 1)[1] if "/" in path else path


def _resumers(conn: sqlite3.Connection, ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    run_columns = _columns(conn, "pf_runs")
    if "resumed_from" not in run_columns:  # a PocoFlow file: nothing was ever resumed
        return {}
    probe = [c for c in ("pid", "hostname", "heartbeat_at") if c in run_columns]
    found: dict[str, list[dict[str, Any]]] = {}
    rows = conn.execute(
        f"SELECT run_id, resumed_from, status{''.join(', ' + c for c in probe)} FROM pf_runs "
        f"WHERE resumed_from IN ({', '.join('?' * len(ids))}) ORDER BY started_at DESC",
        list(ids),
    )
    for row in rows:
        found.setdefault(row[1], []).append(
            dict(zip([d[0] for d in rows.description], row, strict=True))
        )
    return found


def _columns(conn: sqlite3.Connection, table: str) -> frozenset[str]:
    return frozenset(r[1] for r in conn.execute(f"PRAGMA table_info({table})"))


__all__ = ["add_interim_run_keys", "derive_keys"]
