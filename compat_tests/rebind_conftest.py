"""Copied into upstream's test dir as conftest.py: rebinds ``pocketflow`` to our classes.

Upstream's tests put their sdist root on ``sys.path`` and then ``from pocketflow import ...``;
because the name is already in ``sys.modules`` they get our drop-in classes instead. Every
flow carries a PocoFlow-style hook on every event, a process-wide subscriber checks that
every node execution has exactly one start and one end-or-error, and the totals are written
to ``$POCKETFLOW_EXT_COMPAT_REPORT`` for the outer test.
"""

from __future__ import annotations

import sys
import types

import event_balance  # compat_tests/ is on PYTHONPATH in the outer test

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


def _hooked(cls: type) -> type:
    """The drop-in flow class, with a PocoFlow-style hook on every event of every instance."""

    def __init__(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003 - upstream's signature
        cls.__init__(self, *args, **kwargs)
        for kind in pocketflow_ext.EVENT_KINDS:
            self.on(kind, lambda *hook_args, _kind=kind: event_balance.count_hook(_kind))

    # Same name, so node names and messages stay what the drop-in class gives.
    return type(cls.__name__, (cls,), {"__init__": __init__, "__module__": cls.__module__})


rebound = types.ModuleType("pocketflow")
for _name in DROP_IN:
    _cls = getattr(pocketflow_ext, _name)
    setattr(rebound, _name, _hooked(_cls) if "Flow" in _name else _cls)
sys.modules["pocketflow"] = rebound

pocketflow_ext.subscribe(event_balance.check)


def pytest_sessionfinish(session: object, exitstatus: int) -> None:
    event_balance.write_report()
