"""``pocketflow-ext runs``: recent runs as a table, or as JSON for scripts."""

from __future__ import annotations

import argparse
import json
import sqlite3
from collections.abc import Mapping
from typing import Any

from ..errors import PocketFlowExtError
from ..ui.display import duration
from ..ui.run_facts import run_duration, run_steps, status_text
from .database import local_time, open_recorded
from .options import db_help, positive_int
from .output import fail, report

_COLUMNS = ("RUN ID", "FLOW", "STATUS", "STARTED", "DURATION", "STEPS", "LINEAGE", "ERROR")
_ERROR_WIDTH = 60
STATUSES = ("queued", "running", "waiting", "completed", "failed", "cancelled", "interrupted")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    runs = commands.add_parser(
        "runs", help="list recent runs", description="List recent runs, newest first."
    )
    runs.add_argument("db", nargs="?", metavar="DB", help=db_help())
    runs.add_argument("--status", choices=STATUSES, help="only runs with this status")
    runs.add_argument("--flow", metavar="NAME", help="only runs of this flow")
    runs.add_argument(
        "--limit", type=positive_int, default=20, metavar="N", help="at most N runs (default 20)"
    )
    runs.add_argument("--json", action="store_true", help="print JSON instead of a table")
    runs.set_defaults(handler=report(runs_command))


def runs_command(args: argparse.Namespace) -> int:
    db, db_path = open_recorded("runs", args.db)
    try:
        runs = db.list_runs(limit=args.limit, status=args.status, flow_name=args.flow)
    except (PocketFlowExtError, sqlite3.Error) as exc:
        fail("runs", str(exc))
    finally:
        db.close()
    if args.json:
        # The graph is for the monitor and `show --json`; a listing stays small.
        print(json.dumps([{k: v for k, v in r.items() if k != "graph"} for r in runs], indent=2))
        return 0
    if not runs:
        filtered = args.status or args.flow
        print(f"no runs{' match' if filtered else ''} in {db_path}")
        return 0
    rows = [
        (
            str(r["run_id"]),
            str(r.get("flow_name") or ""),
            status_text(r),
            local_time(r.get("started_at")),
            duration(run_duration(r)),
            "" if run_steps(r) is None else str(run_steps(r)),
            lineage(r),
            _short(r.get("error_msg")),
        )
        for r in runs
    ]
    widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(_COLUMNS)]
    for row in (_COLUMNS, *rows):
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0


def lineage(run: Mapping[str, Any]) -> str:
    """Where a run came from and what came of it: ``<- RUN`` (resumed from), ``<- RUN@N``
    (forked at step N), ``=> RUN`` (forked by); the status column names its resumes."""
    parts = []
    if run.get("resumed_from"):
        parts.append(f"<- {run['resumed_from']}")
    if run.get("forked_from"):
        parts.append(f"<- {run['forked_from']}@{run.get('forked_at_step')}")
    parts += [f"=> {r}" for r in run.get("forked_by") or ()]
    return " ".join(parts)


def _short(error: str | None) -> str:
    if not error:
        return ""
    line = error.splitlines()[0]
    return line if len(line) <= _ERROR_WIDTH else line[: _ERROR_WIDTH - 3] + "..."
