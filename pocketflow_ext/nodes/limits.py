"""``max_concurrency=``: at most N items of one node (or passes of one batch flow) in flight.

Upstream's ``AsyncParallelBatchNode``/``AsyncParallelBatchFlow`` start every item at once
with ``asyncio.gather``; the limit wraps the per-item seam (``_exec`` of one item,
``_orch_async`` of one pass) in a semaphore, so upstream's loop stays as it is.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from typing import Any

from ..errors import ConfigurationError

# One semaphore per node (or flow) object and event loop: items of one batch share it, and
# a node object run on two loops (two background runs) gets one per loop.
_semaphores: weakref.WeakKeyDictionary[Any, weakref.WeakKeyDictionary[Any, asyncio.Semaphore]]
_semaphores = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def check_count(value: Any, what: str, meaning: str) -> int | None:
    """``value`` if it is an int >= 1 or None, else a ConfigurationError saying what the
    setting ``what`` takes: ``an int >= 1 <meaning>``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{what} must be an int >= 1 {meaning}; got {value!r}")
    return value


def check_limit(value: Any, what: str = "max_concurrency") -> int | None:
    """``value`` as a concurrency limit (an int >= 1, or None for none)."""
    return check_count(value, what, "(at most that many in flight), or None for no limit")


def semaphore_for(owner: Any, limit: int) -> asyncio.Semaphore:
    """The semaphore bounding ``owner``'s items on the running loop."""
    loop = asyncio.get_running_loop()
    with _lock:
        try:
            per_loop = _semaphores.get(owner)
            if per_loop is None:
                per_loop = _semaphores[owner] = weakref.WeakKeyDictionary()
        except TypeError:
            raise ConfigurationError(
                f"max_concurrency needs {type(owner).__name__} objects to be hashable; it "
                "defines __eq__ without __hash__ (add __hash__ = object.__hash__)"
            ) from None
        semaphore = per_loop.get(loop)
        if semaphore is None:
            semaphore = per_loop[loop] = asyncio.Semaphore(limit)
        return semaphore


class ConcurrencyLimitMixin:
    """``AsyncParallelBatchNode(max_concurrency=N)``: at most N items' ``exec_async`` at once.

    Listed after upstream's ``AsyncParallelBatchNode`` in the bases (before the retry
    mixin), so upstream's ``gather`` hands it each item; a limit counts an item's retries
    and backoff sleeps as in flight.
    """

    max_concurrency: int | None = None
    _exec_passes_through = True  # hands each item on to the retry mixin's attempts

    def __init__(self, *args: Any, max_concurrency: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if max_concurrency is not None:
            self.max_concurrency = max_concurrency
        # A class attribute too: a limit of 0 would hang every item on its semaphore.
        check_limit(self.max_concurrency)

    async def _exec(self, item: Any) -> Any:
        limit = self.max_concurrency
        if limit is None:
            return await super()._exec(item)  # type: ignore[misc]
        async with semaphore_for(self, limit):
            return await super()._exec(item)  # type: ignore[misc]


class PassLimitMixin:
    """``AsyncParallelBatchFlow(max_concurrency=N)``: at most N batch passes at once."""

    max_concurrency: int | None = None

    def __init__(self, *args: Any, max_concurrency: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if max_concurrency is not None:
            self.max_concurrency = max_concurrency
        # A class attribute too: a limit of 0 would hang every item on its semaphore.
        check_limit(self.max_concurrency)

    async def _orch_async(self, shared: Any, params: Any = None) -> Any:
        limit = self.max_concurrency
        if limit is None:
            return await super()._orch_async(shared, params)  # type: ignore[misc]
        async with semaphore_for(self, limit):
            return await super()._orch_async(shared, params)  # type: ignore[misc]
