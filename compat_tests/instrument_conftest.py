"""Copied into upstream's test dir as conftest.py: runs upstream's tests UNMODIFIED under
``pocketflow_ext.instrument(db_path=...)``, the zero-code recording path.

Upstream's classes stay upstream's; wrapt wrappers report every run, a hook on every event
is counted, every run is recorded to ``$POCKETFLOW_EXT_COMPAT_DB``, and the process-wide
balance check writes its totals to ``$POCKETFLOW_EXT_COMPAT_REPORT``.
"""

from __future__ import annotations

import os

import event_balance  # compat_tests/ is on PYTHONPATH in the outer test
import pocketflow  # noqa: F401  the installed upstream, before the tests add their sdist root

import pocketflow_ext

_instrumentation = pocketflow_ext.instrument(
    db_path=os.environ["POCKETFLOW_EXT_COMPAT_DB"],
    trace="off",
    hooks={
        kind: (lambda *hook_args, _kind=kind: event_balance.count_hook(_kind))
        for kind in pocketflow_ext.EVENT_KINDS
    },
)
pocketflow_ext.subscribe(event_balance.check)


def pytest_sessionfinish(session: object, exitstatus: int) -> None:
    pocketflow_ext.uninstrument()
    event_balance.write_report()
