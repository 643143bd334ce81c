"""wrapt wrappers on upstream pocketflow's seams, feeding the same observe functions as HooksMixin.

Wrapping the methods in the upstream classes' ``__dict__`` reaches every subclass, including
user classes defined before ``instrument()``. Instances of our own ``HooksMixin`` classes
already report themselves and pass straight through. Upstream's attempt loops
(``Node._exec``, ``AsyncNode._exec``) run ``RetryMixin``'s own attempt functions instead,
which keep upstream's contract and report each retry.
A flow level may instead continue a recorded run (``flows/resume/pending.py``) or, nested in
such a run, enter its graph mid-way (``flows/resume/plan.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pocketflow
import wrapt

from ..flows import observe
from ..flows.hooks import HooksMixin
from ..flows.resume import claimed_by, planned_start, starting_at
from ..nodes.attempts import run_attempts, run_attempts_async
from .recording import recorded, recorded_async


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name)


def _observed(instance: Any) -> bool:
    """Whether this call is ours to report (an upstream flow, not one of our drop-ins)."""
    return instance is not None and not isinstance(instance, HooksMixin)


def _level(is_async: bool) -> Callable[..., Any]:
    """The wrapper for a flow level, ``_run`` or (``is_async``) ``_run_async``."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not _observed(instance):
            return wrapped(*args, **kwargs)
        shared = _arg(args, kwargs, 0, "shared")
        start = planned_start(instance)
        if start is not None:
            # A flow nested in a resumed run enters mid-graph, as ResumeMixin._run does.
            entered = starting_at(instance, start)
            return entered._run_async(shared) if is_async else entered._run(shared)
        pending = claimed_by(instance)
        if pending is not None:
            return (pending.run_async if is_async else pending.run)(instance, shared)
        if is_async:
            return recorded_async(
                instance, lambda: observe.run_flow_async(instance, shared, wrapped)
            )
        with recorded(instance):  # instrument(db_path=...) records top-level runs
            return observe.run_flow(instance, shared, wrapped)

    return wrapper


_run, _run_async = _level(is_async=False), _level(is_async=True)


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


def _attempts(is_async: bool) -> Callable[..., Any]:
    """The wrapper for upstream's attempt loop: ``RetryMixin``'s loop, same contract."""
    attempts = run_attempts_async if is_async else run_attempts

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if instance is None:
            return wrapped(*args, **kwargs)
        return attempts(instance, *args, **kwargs)

    return wrapper


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
    (pocketflow.Node, "_exec", _attempts(is_async=False)),
    (pocketflow.AsyncNode, "_exec", _attempts(is_async=True)),
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

    def remove(self) -> list[str]:
        """Restore every original; returns the seams someone else re-wrapped meanwhile,
        which are restored too (their wrapper sat on top of ours and would call it)."""
        overwritten = []
        for cls, name, original, proxy in reversed(self._installed):
            if cls.__dict__.get(name) is not proxy:
                overwritten.append(f"{cls.__name__}.{name}")
            setattr(cls, name, original)
        self._installed.clear()
        return overwritten
