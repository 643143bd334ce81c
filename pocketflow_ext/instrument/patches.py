"""Wrappers on upstream pocketflow's seams, feeding the same observe functions as HooksMixin.

Wrapping the methods in the upstream classes' ``__dict__`` reaches every subclass, including
user classes defined before ``instrument()``. Instances of our own ``HooksMixin`` classes
already report themselves and pass straight through. Upstream's attempt loops
(``Node._exec``, ``AsyncNode._exec``) run ``RetryMixin``'s own attempt functions instead,
which keep upstream's contract and report each retry. The seams run once per flow level or
pass are wrapt wrappers; the two run once per node (``get_next_node``, ``_exec``) are plain
functions, as cheap to call as upstream's own.
A flow level may instead continue a recorded run (``flows/resume/pending.py``) or, nested in
such a run, enter its graph mid-way (``flows/resume/plan.py``).
"""

from __future__ import annotations

import functools
import types
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


def _get_next_node(original: Callable[..., Any]) -> Callable[..., Any]:
    """Upstream's ``get_next_node`` reporting each handover. A plain function, not a wrapt
    wrapper: it runs once per node, and binding a wrapt wrapper to the flow on every call
    cost more than upstream's whole handover."""

    @functools.wraps(original)
    def get_next_node(self: Any, curr: Any, action: Any = None) -> Any:
        if isinstance(self, HooksMixin):  # our drop-ins report themselves
            return original(self, curr, action)
        return observe.next_node(self, curr, action, original)

    return get_next_node


def _attempts(is_async: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Upstream's attempt loop run by ``RetryMixin``'s (same contract, retries reported):
    a copy of that function under upstream's name, called as upstream's was (once per node,
    so no wrapper in between)."""
    attempts = run_attempts_async if is_async else run_attempts

    def replace(original: Callable[..., Any]) -> Callable[..., Any]:
        seam = types.FunctionType(
            attempts.__code__, attempts.__globals__, original.__name__, attempts.__defaults__
        )
        return functools.update_wrapper(seam, original)

    return replace


def _wrapped(wrapper: Callable[..., Any]) -> Callable[[Callable[..., Any]], Any]:
    return lambda original: wrapt.FunctionWrapper(original, wrapper)


# (class, method, make): every seam upstream defines, each in the class that defines it;
# ``make(original)`` makes what is installed in its place.
SEAMS: tuple[tuple[type, str, Callable[[Callable[..., Any]], Any]], ...] = (
    (pocketflow.Flow, "_run", _wrapped(_run)),
    (pocketflow.BatchFlow, "_run", _wrapped(_run)),
    (pocketflow.Flow, "_orch", _wrapped(_orch)),
    (pocketflow.Flow, "get_next_node", _get_next_node),
    (pocketflow.AsyncFlow, "_run_async", _wrapped(_run_async)),
    (pocketflow.AsyncBatchFlow, "_run_async", _wrapped(_run_async)),
    (pocketflow.AsyncParallelBatchFlow, "_run_async", _wrapped(_run_async)),
    (pocketflow.AsyncFlow, "_orch_async", _wrapped(_orch_async)),
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
        for cls, name, make in SEAMS:
            original = cls.__dict__[name]
            proxy = make(original)
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
