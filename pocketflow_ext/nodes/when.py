"""WhenMixin: ``when=`` runs a node only if a predicate of the store holds.

A false predicate skips the node: no ``prep``/``exec``/``post``, one ``node_skip`` event
instead of its start and end, and the flow follows the node's ``"skipped"`` edge if it has
one, else ``"default"``. In an observed flow the node's start is left to the node
(``flows/observe.py`` sets ``frame.pending``), so it can report a start or a skip.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import pocketflow

from ..errors import ConfigurationError, NodeInputError
from ..graph import base_name
from ..stream import dispatch
from ..stream.scope import current_frame
from .variants import Layer, with_layer

SKIPPED = "skipped"
WHOLE_STORE = "shared"
"""A parameter with this name receives the whole store instead of one of its values."""


def input_names(fn: Callable[..., Any], what: str) -> tuple[str, ...]:
    """The parameter names of ``fn`` (each one a store key, or ``shared`` for the store).

    Raises ConfigurationError for ``*args``/``**kwargs`` and positional-only parameters,
    which cannot be filled from the store by name.
    """
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        raise ConfigurationError(
            f"{what} {fn!r} has no inspectable signature; pass a plain function or lambda"
        ) from None
    names = []
    for p in parameters:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY):
            raise ConfigurationError(
                f"{what} {getattr(fn, '__qualname__', fn)!r} has parameter {p}: each parameter "
                "is read from the store by its name, so use plain named parameters"
            )
        names.append(p.name)
    return tuple(names)


def read_input(
    node: Any, shared: Any, param: str, key: str, default: Any = inspect.Parameter.empty
) -> Any:
    """Store value ``key`` for parameter ``param`` of ``node``; a clear error when missing."""
    if param == WHOLE_STORE and key == WHOLE_STORE:
        return shared
    try:
        return shared[key]
    except KeyError:
        if default is not inspect.Parameter.empty:
            return default
        mapped = f" (read from key {key!r})" if key != param else ""
        present = ", ".join(repr(k) for k in list(shared)[:20]) or "none"
        raise NodeInputError(
            f"node {base_name(node)!r} needs store key {key!r} for parameter {param!r}"
            f"{mapped}, but the store has no such key (keys present: {present}); write it in "
            f"an earlier node, or map the parameter to another key with reads={{{param!r}: ...}}"
        ) from None


class WhenMixin:
    """``when=`` (constructor argument or class attribute): skip the node unless it holds.

    The predicate's parameters are read from the store by name (``when=lambda total: total >
    1000`` reads ``store["total"]``); a parameter named ``shared`` gets the whole store. A
    ``when`` defined as a method (``def when(self, shared)``) works the same way.

    Only conditional nodes pay for the check: a node made with a predicate becomes an
    instance of its class's variant with :class:`ConditionalRun` in front (``variants.py``),
    which asks the predicate before running; nodes without one run exactly as before.
    """

    when: Callable[..., Any] | None = None

    def __init__(self, *args: Any, when: Callable[..., Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if when is not None:
            if isinstance(self, pocketflow.Flow):
                raise ConfigurationError(
                    f"when= is for nodes, not flows ({base_name(self)!r}); give the first node "
                    "of the flow the condition, or branch to the flow with an action"
                )
            if not callable(when):
                raise ConfigurationError(
                    f"when= of {base_name(self)!r} must be a callable predicate of the store "
                    f"(e.g. lambda total: total > 1000), got {when!r}"
                )
            self.when = when
        if self.when is not None and not isinstance(self, pocketflow.Flow):
            _plan(self, self.when)  # a bad signature fails now, not mid-run
            with_layer(self, ConditionalRun)


class ConditionalRun(Layer):
    """The run of a conditional node: ask ``when`` first, then run or skip."""

    def _run(self, shared: Any) -> Any:
        frame, name = _take_pending()
        if not _holds(self, shared, frame, name):
            return skip_action(self)
        return super()._run(shared)  # type: ignore[misc]

    async def _run_async(self, shared: Any) -> Any:
        frame, name = _take_pending()
        if not _holds(self, shared, frame, name):
            return skip_action(self)
        return await super()._run_async(shared)  # type: ignore[misc]


def skip_action(node: Any) -> str:
    """The action a skipped node returns: ``"skipped"`` if it has that edge, else ``"default"``."""
    return SKIPPED if SKIPPED in node.successors else "default"


def _take_pending() -> tuple[Any, str | None]:
    frame = current_frame()
    if frame is None or frame.pending is None:
        return frame, None  # not observed, or run by some other code than its flow
    name, frame.pending = frame.pending, None
    return frame, name


def _holds(node: Any, shared: Any, frame: Any, name: str | None) -> bool:
    """Ask the predicate; report the node's start (it holds, or it raised) or its skip."""
    try:
        holds = bool(evaluate(node, shared))
    except BaseException:
        if name is not None:  # started, so the failure is this node's node_error
            dispatch.advance(frame, None, name)
        raise
    if name is not None:
        if holds:
            dispatch.advance(frame, None, name)
        else:
            dispatch.node_skip(frame, name)
    return holds


def evaluate(node: Any, shared: Any) -> Any:
    """Call ``node.when`` with its inputs read from ``shared``."""
    when = node.when
    reads: Mapping[str, str] = getattr(node, "reads", None) or {}
    return when(**{p: read_input(node, shared, p, reads.get(p, p)) for p in _plan(node, when)})


def _plan(node: Any, when: Callable[..., Any]) -> tuple[str, ...]:
    # Kept per node, keyed by the function (a method bound to a copy is the same function),
    # so the signature is inspected once, not on every run.
    func = getattr(when, "__func__", when)
    cached = node.__dict__.get("_when_inputs")
    if cached is not None and cached[0] is func:
        return cached[1]
    names = input_names(when, f"when= of node {base_name(node)!r}:")
    node.__dict__["_when_inputs"] = (func, names)
    return names
