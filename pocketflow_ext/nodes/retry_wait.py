"""The seam where a failed attempt shows: upstream's retry loop reading ``node.wait``.

Upstream's ``Node._exec``/``AsyncNode._exec`` read ``self.wait`` only inside their
``except`` block, after an attempt failed and before the next one. ``RetryWait`` is a data
descriptor for ``wait``: read from those loops it reports ``node_retry`` (attempt number,
the exception being handled) and returns the delay to sleep (with backoff and jitter for
``RetryMixin`` nodes); read from anywhere else it is the plain value. Successful attempts
never touch it, so retries configured but not triggered cost nothing.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import pocketflow

from ..stream import dispatch
from ..stream.scope import current_frame

# Code objects of upstream's retry loops -> whether the loop is async (attempt index in
# the local ``i``) or sync (attempt index in ``node.cur_retry``).
_RETRY_LOOPS = {
    pocketflow.Node.__dict__["_exec"].__code__: False,
    pocketflow.AsyncNode.__dict__["_exec"].__code__: True,
}


# Upstream reads ``wait`` twice per failure when it is positive (``if self.wait>0:
# sleep(self.wait)``), with no await in between. The second read must get the same delay
# (jitter included) and report nothing: it is the one from the same loop frame at a later
# instruction. Only ints are kept, so no exception or frame is held alive.
_pending = threading.local()


class RetryWait:
    """Data descriptor for ``wait``; the value itself lives in the instance ``__dict__``,
    exactly where upstream's constructor puts it, so ``vars(node)`` and copies are unchanged."""

    def __init__(self, default: float = 0) -> None:
        self.default = default

    def __get__(self, node: Any, owner: type | None = None) -> Any:
        if node is None:
            return self.default
        base = node.__dict__.get("wait", self.default)
        caller = sys._getframe(1)
        loop = _RETRY_LOOPS.get(caller.f_code)
        if loop is None:
            return base
        return _failed_attempt(node, caller, loop, base)

    def __set__(self, node: Any, value: Any) -> None:
        node.__dict__["wait"] = value


def _failed_attempt(node: Any, loop_frame: Any, is_async: bool, base: Any) -> Any:
    pending = getattr(_pending, "read", None)
    if pending is not None:
        _pending.read = None
        if pending[0] == id(loop_frame) and pending[1] != loop_frame.f_lasti:
            return pending[2]  # upstream's second read: the sleep
    index = loop_frame.f_locals.get("i", 0) if is_async else getattr(node, "cur_retry", 0)
    attempt = index + 1
    delay_for = getattr(node, "retry_delay_for", None)
    delay = delay_for(attempt) if delay_for is not None else base
    if delay > 0:
        _pending.read = (id(loop_frame), loop_frame.f_lasti, delay)
    frame = current_frame()
    exc = sys.exc_info()[1]
    if frame is not None and frame.node is not None and exc is not None:
        dispatch.node_retry(frame, attempt, exc, delay)
    return delay
