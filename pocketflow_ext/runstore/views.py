"""What both stores do with the rows their read queries return, so each store is only its
SQL: run dicts with who resumed and forked them (``run_views``), the checks of a runs
filter and page, and the capped count of the runs page.

Rows are read by column name (``sqlite3.Row``, psycopg's dict rows)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any

from ..errors import CheckpointDamaged, ConfigurationError
from ..store.codec import loads
from .base import KNOWN_STATUSES, RunFilter, RunsPage
from .checkpoints import DELTA, store_at
from .runs import run_view
from .sqlite_schema import STORED_STATUSES

COUNT_AHEAD = 1_000
"""The runs page counts the matching runs up to this many past the page's end, not all of
them (counting a large history on every refresh costs more than the page itself: 10,000
runs take PostgreSQL 3 ms to count, the page 0.1 ms): a total at the cap shows as, say,
"1,050+" (``RunsPage.more``), and paging on counts further."""


def selected(wanted: Sequence[str], have: Collection[str] | None, prefix: str = "") -> str:
    """The select list of ``wanted`` for a table holding the columns ``have`` (None: every
    one): a column added by a later migration than the table's reads as NULL, so a reader
    reads an older database without migrating it."""
    return ", ".join(
        f"{prefix}{c}" if have is None or c in have else f"NULL AS {c}" for c in wanted
    )


def run_views(
    rows: Sequence[Any], resumed: Iterable[Any], forked: Iterable[Any], now: float | None = None
) -> list[dict[str, Any]]:
    """Run dicts for ``rows`` (run columns plus ``last_event_at`` and ``counted_steps``).

    ``resumed``: rows ``(resumed_from, run_id, status)`` of the runs resuming them, and
    ``forked``: rows ``(forked_from, run_id)`` of the runs forked from them, newest first.
    ``now``: the clock heartbeats are judged by (``derive_status``)."""
    resumed_by: dict[str, list[tuple[str, str]]] = {}
    for found in resumed:
        resumed_by.setdefault(found["resumed_from"], []).append((found["run_id"], found["status"]))
    forked_by: dict[str, list[str]] = {}
    for found in forked:
        forked_by.setdefault(found["forked_from"], []).append(found["run_id"])
    views = []
    for row in rows:
        data = dict(row)
        last = data.pop("last_event_at", None)
        counted = data.pop("counted_steps", None)
        run_id = data["run_id"]
        views.append(
            run_view(
                data,
                last_event_at=last,
                counted_steps=counted,
                resumed_by=resumed_by.get(run_id, []),
                forked_by=forked_by.get(run_id, []),
                now=now,
            )
        )
    return views


def count_limit(limit: int | None, offset: int) -> int:
    """How many matching runs a runs page counts at most (one more tells there are more)."""
    return offset + (limit or 0) + COUNT_AHEAD


def runs_page(rows: list[dict[str, Any]], counted: int, cap: int) -> RunsPage:
    """The page of ``rows``, with ``counted`` runs matching as counted up to ``cap + 1``."""
    if counted > cap:
        return RunsPage(rows, cap, more=True)
    return RunsPage(rows, counted)


def check_statuses(statuses: Sequence[str]) -> Sequence[str]:
    for status in statuses:
        if status not in KNOWN_STATUSES:
            raise ConfigurationError(
                f"unknown status filter {status!r}; use one of {', '.join(STORED_STATUSES)}"
            )
    return statuses


def check_page(limit: Any, offset: Any) -> tuple[int | None, int]:
    for name, value in (("limit", limit), ("offset", offset)):
        if value is None and name == "limit":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigurationError(f"{name} must be a non-negative int, got {value!r}")
    return limit, offset


def filter_sql(
    filt: RunFilter,
    gone: Callable[[], list[str]],
    among: Callable[[str, Sequence[str], bool], tuple[str, Any]],
    param: str,
) -> tuple[str, list[Any]]:
    """The WHERE clause (or "") and its arguments for ``filt``, on ``pf_runs r``.

    ``gone()``: runs stored ``running`` whose process is gone (read only when the filter
    asks for running or interrupted runs); ``among(column, values, negate)``: the store's
    SQL for ``column [NOT] IN values`` and its one argument; ``param``: its placeholder."""
    clauses: list[str] = []
    args: list[Any] = []
    statuses = check_statuses(filt.statuses)
    if statuses:
        lost = gone() if {"running", "interrupted"} & set(statuses) else []
        parts = []
        stored = [s for s in statuses if s not in ("running", "interrupted")]
        # Derived statuses: a stored 'running' run whose process is gone is interrupted.
        for wanted, sql, column, values, negate in (
            (bool(stored), "{}", "r.status", stored, False),
            ("running" in statuses, "(r.status = 'running' AND {})", "r.run_id", lost, True),
            (
                "interrupted" in statuses,
                "(r.status = 'interrupted' OR {})",
                "r.run_id",
                lost,
                False,
            ),
        ):
            if wanted:
                test, arg = among(column, values, negate)
                parts.append(sql.format(test))
                args.append(arg)
        clauses.append("(" + " OR ".join(parts) + ")")
    if filt.flows:
        if not all(isinstance(f, str) for f in filt.flows):
            raise ConfigurationError(f"flow names must be strings, got {filt.flows!r}")
        test, arg = among("r.flow_name", filt.flows, False)
        clauses.append(test)
        args.append(arg)
    term = filt.search.strip()
    if term:
        clauses.append(f"r.run_id LIKE {param} ESCAPE '\\'")
        term = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        args.append(f"%{term}%")
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


def rebuilt_store(
    rows: Sequence[Any], run_id: str, step: int, location: str
) -> dict[str, Any] | None:
    """The store at ``step`` from the rows of its chain (the step's row, then each delta's
    parent back to a full snapshot); None without rows; ``CheckpointDamaged`` naming the
    row at fault."""
    if not rows:
        return None
    if len(rows) == 1 and rows[0]["kind"] != DELTA:  # a full row: decoded as it is
        return decode_checkpoint(rows[0]["store_json"], run_id, step, location)
    try:
        return store_at({row["step"]: row for row in rows}, step)
    except RecursionError:
        problem = "it is nested too deeply to decode"
    except ValueError as exc:  # names the row at fault, which may be one it builds on
        problem = str(exc)
    raise CheckpointDamaged(
        f"the checkpoint of run {run_id!r} at step {step} in {location} is damaged: "
        f"{problem}; read its raw text with checkpoint_text() or pick another step"
    )


def decode_checkpoint(text: str, run_id: str, step: int, location: str) -> dict[str, Any]:
    """A checkpoint's store, or CheckpointDamaged naming run, step and what is wrong."""
    try:
        data = loads(text)
    except RecursionError:
        problem = "it is nested too deeply to decode"
    except (ValueError, TypeError, KeyError) as exc:
        problem = f"it is not valid checkpoint JSON ({exc})"
    else:
        if isinstance(data, dict):
            return data
        problem = f"it holds a JSON {type(data).__name__}, not an object of store keys"
    raise CheckpointDamaged(
        f"the checkpoint of run {run_id!r} at step {step} in {location} is damaged: {problem}; "
        "read its raw text with checkpoint_text() or pick another step"
    )
