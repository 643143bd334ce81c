"""A node's attempts: upstream's retry contract, run by the retry mixins and by instrument().

Upstream's ``Node._exec``/``AsyncNode._exec`` call ``exec`` up to ``max_retries`` times with
``cur_retry`` set and hand the last failure to ``exec_fallback``. These functions do the
same, and between two attempts report ``node_retry``, honour ``retry_on`` and sleep the
node's backoff. Upstream nodes (under ``instrument()``) have none of our settings: they
retry every exception and sleep ``wait``, as upstream does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from ..errors import ConfigurationError
from ..stream import dispatch
from ..stream.scope import current_frame

ANY_EXCEPTION: tuple[type[BaseException], ...] = (Exception,)

# Where an item running outside any run (on an executor's worker) keeps its failed attempts,
# so they can be reported to the run when its result comes back (nodes/executors.py).
_collected: ContextVar[list[tuple[int, BaseException, float]] | None] = ContextVar(
    "pocketflow_ext_collected_retries", default=None
)


@contextmanager
def collecting_retries(into: list[tuple[int, BaseException, float]]) -> Iterator[None]:
    """Keep the failed attempts made here as ``(attempt, exc, delay_s)`` in ``into``."""
    token = _collected.set(into)
    try:
        yield
    finally:
        _collected.reset(token)


def run_attempts(node: Any, prep_res: Any) -> Any:
    """One execution of a sync node (or one item of its batch), attempt after attempt."""
    for attempt in range(node.max_retries):
        node.cur_retry = attempt
        try:
            return node.exec(prep_res)
        except Exception as exc:
            if _gives_up(node, attempt, exc):
                return node.exec_fallback(prep_res, exc)
            delay = _failed_attempt(node, attempt + 1, exc)
            if delay > 0:
                time.sleep(delay)


async def run_attempts_async(node: Any, prep_res: Any) -> Any:
    """``run_attempts`` for async nodes. ``cur_retry`` is set as upstream's main branch does
    (items of a parallel batch share it); attempts are counted per item for the events."""
    for attempt in range(node.max_retries):
        node.cur_retry = attempt
        try:
            return await node.exec_async(prep_res)
        except Exception as exc:
            if _gives_up(node, attempt, exc):
                return await node.exec_fallback_async(prep_res, exc)
            delay = _failed_attempt(node, attempt + 1, exc)
            if delay > 0:
                await asyncio.sleep(delay)


def _gives_up(node: Any, attempt: int, exc: Exception) -> bool:
    if attempt == node.max_retries - 1:  # upstream's test, read after every failure
        return True
    retry_on = getattr(node, "retry_on", ANY_EXCEPTION)
    return retry_on is not ANY_EXCEPTION and not isinstance(exc, exception_types(retry_on))


def _failed_attempt(node: Any, attempt: int, exc: Exception) -> Any:
    """Report failed attempt number ``attempt`` (1-based); returns the delay to sleep."""
    delay_for = getattr(node, "retry_delay_for", None)  # absent on upstream nodes
    delay = delay_for(attempt) if delay_for is not None else node.wait
    frame = current_frame()
    if frame is not None and frame.node is not None:
        dispatch.node_retry(frame, attempt, exc, delay)
    else:
        collected = _collected.get()
        if collected is not None:
            collected.append((attempt, exc, delay))
    return delay


def exception_types(value: Any) -> tuple[type[BaseException], ...]:
    types = value if isinstance(value, tuple) else (value,)
    if not types or not all(isinstance(t, type) and issubclass(t, Exception) for t in types):
        raise ConfigurationError(
            f"retry_on must be an Exception subclass or a tuple of them, got {value!r}"
        )
    return types
