"""AsyncBridgeMixin: an AsyncNode (or AsyncFlow) runs inside a synchronous Flow.

The framework runs the node's coroutine: with ``asyncio.run`` when the thread has no
event loop, or on a helper thread with its own loop when one is already running (a
notebook, a web handler), so "asyncio.run() cannot be called from a running event loop"
never reaches the user. PocoFlow-style nodes with sync ``prep``/``post`` and an async
``exec_async`` work because the default ``prep_async``/``post_async`` fall back to them.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Coroutine
from typing import Any


def run_coroutine(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coro`` to completion from synchronous code, loop or no loop, keeping contextvars."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    outcome: dict[str, Any] = {}
    context = contextvars.copy_context()

    def target() -> None:
        try:
            outcome["value"] = context.run(asyncio.run, coro)
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc

    worker = threading.Thread(target=target, name="pocketflow-ext-async-bridge", daemon=True)
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


class AsyncBridgeMixin:
    """Lets ``node.run(shared)`` and a sync ``Flow`` run an async node."""

    async def prep_async(self, shared: Any) -> Any:
        return self.prep(shared)  # type: ignore[attr-defined]

    async def post_async(self, shared: Any, prep_res: Any, exec_res: Any) -> Any:
        return self.post(shared, prep_res, exec_res)  # type: ignore[attr-defined]

    def _run(self, shared: Any) -> Any:
        # super(): the flow-level wrappers above this mixin have already been applied.
        return run_coroutine(super()._run_async(shared))  # type: ignore[misc]
