"""Copied into upstream's test dir as conftest.py: rebinds ``pocketflow`` to our classes.

Upstream's tests put their sdist root on ``sys.path`` and then ``from pocketflow import ...``;
because the name is already in ``sys.modules`` they get our drop-in classes instead. Every
flow carries a PocoFlow-style hook on every event, a process-wide subscriber checks that
every node execution has exactly one start and one end-or-error, and the totals are written
to ``$POCKETFLOW_EXT_COMPAT_REPORT`` for the outer test.
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

_lock = threading.Lock()
_kinds: Counter[str] = Counter()
_hook_calls: Counter[str] = Counter()


def _hooked(cls: type) -> type:
    """The drop-in flow class, with a PocoFlow-style hook on every event of every instance."""

    def __init__(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003 - upstream's signature
        cls.__init__(self, *args, **kwargs)
        for kind in pocketflow_ext.EVENT_KINDS:
            self.on(kind, lambda *hook_args, _kind=kind: _count_hook(_kind))

    # Same name, so node names and messages stay what the drop-in class gives.
    return type(cls.__name__, (cls,), {"__init__": __init__, "__module__": cls.__module__})


def _count_hook(kind: str) -> None:
    with _lock:
        _hook_calls[kind] += 1


rebound = types.ModuleType("pocketflow")
for _name in DROP_IN:
    _cls = getattr(pocketflow_ext, _name)
    setattr(rebound, _name, _hooked(_cls) if "Flow" in _name else _cls)
sys.modules["pocketflow"] = rebound

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
        json.dump({"kinds": dict(_kinds), "hooks": dict(_hook_calls), "problems": problems}, handle)
