"""A process-wide subscriber that checks every node execution has exactly one start and one
end-or-error, and writes its totals to ``$POCKETFLOW_EXT_COMPAT_REPORT`` at session end.
Imported by the conftests that ``test_upstream_suite.py`` copies into upstream's tests."""

from __future__ import annotations

import json
import os
import threading
from collections import Counter

import pocketflow_ext

_lock = threading.Lock()
kinds: Counter[str] = Counter()
hook_calls: Counter[str] = Counter()
_open: dict[tuple[str, int], str] = {}
_problems: list[str] = []


def count_hook(kind: str) -> None:
    with _lock:
        hook_calls[kind] += 1


def check(event: pocketflow_ext.Event) -> None:
    with _lock:
        kinds[event.kind] += 1
        if event.step is None:
            return
        key = (event.run_id, event.step)
        if event.kind == "node_start":
            if key in _open:
                _problems.append(f"second node_start for {event.path} step {event.step}")
            _open[key] = event.path
        elif event.kind in ("node_end", "node_error"):
            if _open.pop(key, None) != event.path:
                _problems.append(f"{event.kind} without node_start: {event.path}")


def write_report() -> None:
    report = os.environ.get("POCKETFLOW_EXT_COMPAT_REPORT")
    if not report:
        return
    problems = _problems + [f"node_start never ended: {path}" for path in _open.values()]
    with open(report, "w", encoding="utf-8") as handle:
        json.dump({"kinds": dict(kinds), "hooks": dict(hook_calls), "problems": problems}, handle)
