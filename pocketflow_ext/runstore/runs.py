"""What a recorded run is, independent of the store holding it: run ids, statuses,
timestamps, and the derived fields every reader shows (``run_view``)."""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
import time
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigurationError
from ..store.codec import dumps_store

STATUSES = ("queued", "running", "waiting", "completed", "failed", "cancelled", "interrupted")
TERMINAL_STATUSES = ("completed", "failed", "cancelled", "interrupted")

HEARTBEAT_INTERVAL_S = 5.0
"""How often a live process refreshes ``heartbeat_at`` of its running runs."""
STALE_AFTER_S = 60.0
"""A ``running`` run whose heartbeat is older than this is reported as ``interrupted``."""


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


def params_json(params: Mapping[str, Any] | None) -> str | None:
    """Flow or batch params as stored in ``params`` columns (JSON text), None when empty."""
    return dumps_store(params)[0] if params else None


def process_identity() -> dict[str, Any]:
    """The columns that let a reader tell whether a run's process is still alive."""
    return {"pid": os.getpid(), "hostname": HOSTNAME, "heartbeat_at": iso()}


# ── the run dict every reader gets ────────────────────────────────────────────
def run_view(
    row: Mapping[str, Any],
    *,
    last_event_at: str | None = None,
    counted_steps: int | None = None,
    resumed_by: list[tuple[str, str]] = (),  # type: ignore[assignment]
    forked_by: list[str] = (),  # type: ignore[assignment]
    now: float | None = None,
) -> dict[str, Any]:
    """A stored run row plus the fields every reader shows, computed the same way for all.

    ``last_event_at``: the ts of the run's latest event; ``counted_steps``: its node
    executions counted from events (used while ``total_steps`` is unset); ``resumed_by``:
    ``(run_id, stored status)`` of runs resuming this one, newest first; ``forked_by``:
    runs forked from this one, newest first.
    """
    run = dict(row)
    now = time.time() if now is None else now
    run["stored_status"] = run.get("status")
    status = run["status"] = derive_status(run, now)
    moments = [t for t in (last_event_at, run.get("heartbeat_at"), run.get("started_at")) if t]
    last = run.get("completed_at") or (max(moments, key=_sort_key) if moments else None)
    run["last_activity_at"] = last
    start = parse_iso(run.get("started_at"))
    if run.get("completed_at"):
        end = parse_iso(run["completed_at"])
    elif status in ("running", "queued", "waiting"):
        end = now  # live: it is still going
    else:
        end = parse_iso(last)
    run["duration_s"] = None if start is None or end is None else max(end - start, 0.0)
    total = run.get("total_steps")
    run["steps"] = total if total is not None else (counted_steps or 0)
    run.setdefault("resumed_from", None)
    run["resumed_by"] = [run_id for run_id, _status in resumed_by]
    run["resumed_ok"] = any(status == "completed" for _run_id, status in resumed_by)
    run.setdefault("forked_from", None)
    run.setdefault("forked_at_step", None)
    run["forked_by"] = list(forked_by)
    return run


def _sort_key(text: str) -> float:
    parsed = parse_iso(text)
    return parsed if parsed is not None else float("-inf")
