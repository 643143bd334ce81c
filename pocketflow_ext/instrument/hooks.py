"""Process-wide PocoFlow-style hooks: ``instrument(hooks={"node_end": cb})``.

Each hook sees every top-level run as if registered with ``flow.on`` on its top flow:
node names relative to that flow (``Inner/Summarise`` for nested nodes), and
``flow_start``/``flow_end`` for the top flow only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..errors import HookError
from ..stream import events as ev
from ..stream.events import EVENT_KINDS, HOOK_SIGNATURES, Event

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


class GlobalHook:
    """Subscriber calling one PocoFlow-style hook; one per callback so each fails alone."""

    def __init__(self, kind: str, callback: Callable[..., Any]) -> None:
        self.kind = kind
        self.callback = callback

    def __repr__(self) -> str:
        name = getattr(self.callback, "__qualname__", None) or repr(self.callback)
        return f"{self.kind} hook {name}"

    def wants(self, kind: str) -> bool:
        return kind == self.kind  # no records built for kinds no hook listens to

    def __call__(self, event: Event) -> None:
        if event.kind != self.kind:
            return
        args = _hook_args(event)
        if args is not None:
            self.callback(*args)


def _hook_args(event: Event) -> tuple[Any, ...] | None:
    kind, store = event.kind, event.store
    top_level = event.path == event.flow_name
    if kind == ev.FLOW_START:
        return (event.flow_name, store) if top_level else None
    if kind == ev.FLOW_END:
        return (event.steps, store) if top_level else None
    name = event.path[len(event.flow_name) + 1 :]
    if kind == ev.NODE_START:
        return (name, store)
    if kind == ev.NODE_END:
        return (name, event.action, event.elapsed_s, store)
    if kind == ev.NODE_RETRY:
        return (name, event.attempt, event.exc, event.delay_s, store)
    if kind == ev.NODE_ERROR:
        return (name, event.exc, store)
    return None
