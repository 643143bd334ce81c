"""wrapt wrappers on upstream pocketflow's seams, feeding the same observe functions as HooksMixin.

Wrapping the methods in the upstream classes' ``__dict__`` reaches every subclass, including
user classes defined before ``instrument()``. Instances of our own ``HooksMixin`` (and
``RetryMixin``) classes already report themselves and pass straight through.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pocketflow
import wrapt

from ..flows import hooks as _hooks
from ..flows import observe
from ..flows.hooks import HooksMixin
from ..nodes import retry as _retry
from ..nodes.retry import RetryMixin, _AsyncAttempts, _Attempts, _SyncAttempts
from ..stream.scope import Frame, current_frame

_ABSENT = object()


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name)


def _observed(instance: Any) -> bool:
    """Whether this call is ours to report (an upstream flow, not one of our drop-ins)."""
    return instance is not None and not isinstance(instance, HooksMixin)


def _run(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if not _observed(instance):
        return wrapped(*args, **kwargs)
    return observe.run_flow(instance, _arg(args, kwargs, 0, "shared"), wrapped)


def _run_async(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if not _observed(instance):
        return wrapped(*args, **kwargs)
    return observe.run_flow_async(instance, _arg(args, kwargs, 0, "shared"), wrapped)


def _orch(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if not _observed(instance):
        return wrapped(*args, **kwargs)
    shared, params = _arg(args, kwargs, 0, "shared"), _arg(args, kwargs, 1, "params")
    return observe.orchestrate(instance, shared, params, wrapped)


def _orch_async(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if not _observed(instance):
        return wrapped(*args, **kwargs)
    shared, params = _arg(args, kwargs, 0, "shared"), _arg(args, kwargs, 1, "params")
    return observe.orchestrate_async(instance, shared, params, wrapped)


def _get_next_node(
    wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    if not _observed(instance):
        return wrapped(*args, **kwargs)
    curr, action = _arg(args, kwargs, 0, "curr"), _arg(args, kwargs, 1, "action")
    return observe.next_node(instance, curr, action, wrapped)


class _UpstreamRetry:
    """An upstream node seen through the attempt wrappers' eyes: its own ``max_retries``
    and ``wait``, every ``Exception`` retried, no backoff, so nothing changes but the events."""

    retry_on = (Exception,)

    def __init__(self, node: Any) -> None:
        self.node = node
        self.max_retries = node.max_retries
        self.wait = node.wait

    def retry_delay_for(self, attempt: int) -> float:
        return float(self.wait or 0)

    def exec_fallback(self, prep_res: Any, exc: Exception) -> Any:
        return self.node.exec_fallback(prep_res, exc)

    async def exec_fallback_async(self, prep_res: Any, exc: Exception) -> Any:
        return await self.node.exec_fallback_async(prep_res, exc)


def _attempt_frame(instance: Any, method: str) -> Frame | None:
    """The frame to report retries into, or None when this ``_exec`` call has nothing to add:
    a drop-in node (RetryMixin reports itself), a single attempt, no observed run, or an
    outer ``_exec`` of the same node (a batch) already counting attempts."""
    if instance is None or isinstance(instance, RetryMixin):
        return None
    if getattr(instance, "max_retries", 1) <= 1:
        return None
    frame = current_frame()
    if frame is None or frame.node is None:
        return None
    if isinstance(instance.__dict__.get(method), _Attempts):
        return None
    return frame


def _shadow(instance: Any, method: str, attempts: _Attempts) -> Callable[[], None]:
    """Put ``attempts`` in front of the class's method for one call; returns the undo."""
    previous = instance.__dict__.get(method, _ABSENT)
    setattr(instance, method, attempts)

    def restore() -> None:
        if instance.__dict__.get(method) is attempts:
            if previous is _ABSENT:
                delattr(instance, method)
            else:
                setattr(instance, method, previous)

    return restore


def _exec(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    frame = _attempt_frame(instance, "exec")
    if frame is None:
        return wrapped(*args, **kwargs)
    restore = _shadow(
        instance, "exec", _SyncAttempts(_UpstreamRetry(instance), instance.exec, frame)
    )
    try:
        return wrapped(*args, **kwargs)
    finally:
        restore()


def _exec_async(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    frame = _attempt_frame(instance, "exec_async")
    if frame is None:
        return wrapped(*args, **kwargs)
    return _exec_attempts_async(wrapped, instance, frame, args, kwargs)


async def _exec_attempts_async(
    wrapped: Any, instance: Any, frame: Frame, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    attempts = _AsyncAttempts(_UpstreamRetry(instance), instance.exec_async, frame)
    restore = _shadow(instance, "exec_async", attempts)
    try:
        return await wrapped(*args, **kwargs)
    finally:
        restore()


# (class, method, wrapper): every seam upstream defines, each in the class that defines it.
SEAMS: tuple[tuple[type, str, Callable[..., Any]], ...] = (
    (pocketflow.Flow, "_run", _run),
    (pocketflow.BatchFlow, "_run", _run),
    (pocketflow.Flow, "_orch", _orch),
    (pocketflow.Flow, "get_next_node", _get_next_node),
    (pocketflow.AsyncFlow, "_run_async", _run_async),
    (pocketflow.AsyncBatchFlow, "_run_async", _run_async),
    (pocketflow.AsyncParallelBatchFlow, "_run_async", _run_async),
    (pocketflow.AsyncFlow, "_orch_async", _orch_async),
    (pocketflow.Node, "_exec", _exec),
    (pocketflow.BatchNode, "_exec", _exec),
    (pocketflow.AsyncNode, "_exec", _exec_async),
    (pocketflow.AsyncBatchNode, "_exec", _exec_async),
    (pocketflow.AsyncParallelBatchNode, "_exec", _exec_async),
)


class Patches:
    """The wrappers now installed, and the exact originals to put back."""

    def __init__(self) -> None:
        self._installed: list[tuple[type, str, Any, Any]] = []

    @property
    def active(self) -> bool:
        return bool(self._installed)

    def apply(self) -> None:
        if self._installed:
            return
        for cls, name, wrapper in SEAMS:
            original = cls.__dict__[name]
            proxy = wrapt.FunctionWrapper(original, wrapper)
            setattr(cls, name, proxy)
            self._installed.append((cls, name, original, proxy))
        _forget_cached_seams()

    def remove(self) -> list[str]:
        """Restore every original; returns the seams someone else re-wrapped meanwhile,
        which are restored too (their wrapper sat on top of ours and would call it)."""
        overwritten = []
        for cls, name, original, proxy in reversed(self._installed):
            if cls.__dict__.get(name) is not proxy:
                overwritten.append(f"{cls.__name__}.{name}")
            setattr(cls, name, original)
        self._installed.clear()
        _forget_cached_seams()
        return overwritten


def _forget_cached_seams() -> None:
    """Our mixins cache upstream's ``get_next_node``/``_exec`` per class; after patching or
    restoring, they must look again, so a drop-in flow never keeps calling a removed wrapper."""
    _hooks._next_get_next_node.clear()
    _retry._next_exec.clear()
