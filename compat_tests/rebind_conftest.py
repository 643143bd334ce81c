"""Copied into upstream's test dir as conftest.py: rebinds ``pocketflow`` to our classes.

Upstream's tests put their sdist root on ``sys.path`` and then ``from pocketflow import ...``;
because the name is already in ``sys.modules`` they get our drop-in classes instead. A
process-wide subscriber checks that every node execution has exactly one start and one
end-or-error, and the totals are written to ``$POCKETFLOW_EXT_COMPAT_REPORT`` for the outer test.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import types
from collections import Counter

import pocketflow_ext

DROP_IN = (
    "BaseNode",
    "Node",
    "BatchNode",
    "Flow",
    "BatchFlow",
    "AsyncNode",
    "AsyncBatchNode",
    "AsyncParallelBatchNode",
    "AsyncFlow",
    "AsyncBatchFlow",
    "AsyncParallelBatchFlow",
)

rebound = types.ModuleType("pocketflow")
rebound.__dict__.update({name: getattr(pocketflow_ext, name) for name in DROP_IN})
sys.modules["pocketflow"] = rebound

_lock = threading.Lock()
_kinds: Counter[str] = Counter()
_open: dict[tuple[str, int], str] = {}
_problems: list[str] = []


def _check(event: pocketflow_ext.Event) -> None:
    with _lock:
        _kinds[event.kind] += 1
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


pocketflow_ext.subscribe(_check)


def pytest_sessionfinish(session: object, exitstatus: int) -> None:
    report = os.environ.get("POCKETFLOW_EXT_COMPAT_REPORT")
    if not report:
        return
    problems = _problems + [f"node_start never ended: {path}" for path in _open.values()]
    with open(report, "w", encoding="utf-8") as handle:
        json.dump({"kinds": dict(_kinds), "problems": problems}, handle)
