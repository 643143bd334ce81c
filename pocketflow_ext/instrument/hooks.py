"""Checking ``instrument(hooks={"node_end": cb})``: event names and callables.

Each hook then sees every top-level run as if registered with ``flow.on`` on its top flow
(``stream.scope.add_global_hook``): node names relative to that flow (``Inner/Summarise``
for nested nodes), and ``flow_start``/``flow_end`` for the top flow only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..errors import HookError
from ..stream.events import EVENT_KINDS, HOOK_SIGNATURES

HooksArg = Mapping[str, "Callable[..., Any] | Iterable[Callable[..., Any]]"]


def check_hooks(hooks: HooksArg | None) -> dict[str, tuple[Callable[..., Any], ...]]:
    """``{event: callback or list of callbacks}`` -> ``{event: (callbacks...)}``, validated."""
    if hooks is None:
        return {}
    if not isinstance(hooks, Mapping):
        raise TypeError(
            f"hooks must be a dict like {{'node_end': callback}}, got {type(hooks).__name__}"
        )
    checked: dict[str, tuple[Callable[..., Any], ...]] = {}
    for event, value in hooks.items():
        if event not in HOOK_SIGNATURES:
            raise HookError(
                f"unknown hook event {event!r} in instrument(hooks=...); "
                f"choose one of {', '.join(EVENT_KINDS)}"
            )
        callbacks = (value,) if callable(value) else tuple(_iterable(value))
        for callback in callbacks:
            if not callable(callback):
                raise TypeError(
                    f"hook for {event!r} must be callable with signature "
                    f"{HOOK_SIGNATURES[event]}, got {type(callback).__name__}"
                )
        checked[event] = callbacks
    return checked


def _iterable(value: Any) -> Iterable[Any]:
    return value if isinstance(value, (list, tuple)) else (value,)
