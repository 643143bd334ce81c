"""Subscriber plugins: installed packages offer subscribers under the entry-point group
``pocketflow_ext.subscribers``; ``POCKETFLOW_EXT_SUBSCRIBERS=a,b``, ``instrument(subscribers=
[...])`` and ``pocketflow-ext run --subscriber NAME`` switch them on by name.

An entry point names a callable taking no arguments that returns a subscriber (a class
works). A plugin that cannot be found, imported or built is reported by name and left out;
one that raises on an event is logged by name; neither ever breaks a run.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .logging import get_logger
from .stream.events import Event, Subscriber

GROUP = "pocketflow_ext.subscribers"
ENV_VAR = "POCKETFLOW_EXT_SUBSCRIBERS"

_log = get_logger("plugins")


class PluginWarning(RuntimeWarning):
    """A plugin asked for could not be switched on (the run goes on without it)."""


@dataclass(frozen=True)
class Plugin:
    """One entry point of the group: its name, ``module:attr`` target and distribution."""

    name: str
    target: str
    distribution: str

    def load(self) -> Any:
        """The entry point's object (imports its module)."""
        return _entry_point(self.name).load()


def available() -> list[Plugin]:
    """Every installed plugin, sorted by name (a name offered twice: the first found)."""
    found: dict[str, Plugin] = {}
    for entry in _entry_points():
        dist = getattr(entry, "dist", None)
        label = f"{dist.name} {dist.version}" if dist is not None else "?"
        found.setdefault(entry.name, Plugin(entry.name, entry.value, label))
    return sorted(found.values(), key=lambda plugin: plugin.name)


def _entry_points() -> Any:
    # Imported here: importlib.metadata takes longer to import than the rest of the package.
    from importlib import metadata

    return metadata.entry_points(group=GROUP)


def _entry_point(name: str) -> Any:
    for entry in _entry_points():
        if entry.name == name:
            return entry
    names = ", ".join(p.name for p in available()) or "none installed"
    raise LookupError(f"no subscriber plugin named {name!r} (installed: {names})")


class PluginSubscriber:
    """A plugin's subscriber, reporting its own failures under the plugin's name."""

    def __init__(self, name: str, subscriber: Subscriber) -> None:
        self.name = name
        self.subscriber = subscriber
        self._failures = 0
        wants = getattr(subscriber, "wants", None)
        if wants is not None:
            self.wants = wants

    def __call__(self, event: Event) -> None:
        try:
            self.subscriber(event)
        except Exception:
            self._failures += 1
            # Logged every time; a warning the first time, so it is seen without logging set up.
            _log.exception("plugin %r raised on %s; the run continues", self.name, event.kind)
            if self._failures == 1:
                warnings.warn(
                    f"subscriber plugin {self.name!r} raised on a {event.kind} event; the run "
                    "continues (details in the pocketflow_ext.plugins log)",
                    PluginWarning,
                    stacklevel=2,
                )

    def __repr__(self) -> str:
        return f"<plugin {self.name}: {self.subscriber!r}>"


def load(name: str) -> PluginSubscriber:
    """Build the subscriber of plugin ``name``; raises ``LookupError`` when no such plugin
    is installed, or whatever importing or building it raised."""
    factory = _entry_point(name).load()
    if not callable(factory):
        raise TypeError(
            f"plugin {name!r} points at a {type(factory).__name__}, not at a callable "
            "returning a subscriber"
        )
    subscriber = factory()
    if not callable(subscriber):
        raise TypeError(
            f"plugin {name!r} returned a {type(subscriber).__name__}, which is not a "
            "subscriber (a callable taking an Event)"
        )
    return PluginSubscriber(name, subscriber)


def load_all(names: Iterable[str]) -> tuple[list[PluginSubscriber], dict[str, str]]:
    """Build each named plugin's subscriber; failures come back as ``{name: reason}``
    (and are warned about and logged), never raised."""
    loaded: list[PluginSubscriber] = []
    failed: dict[str, str] = {}
    for name in names:
        try:
            loaded.append(load(name))
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            failed[name] = reason
            _log.error("subscriber plugin %r could not be switched on: %s", name, reason)
            warnings.warn(
                f"subscriber plugin {name!r} could not be switched on ({reason}); "
                "runs go on without it",
                PluginWarning,
                stacklevel=2,
            )
    return loaded, failed


def names_from_env(environ: dict[str, str] | None = None) -> list[str]:
    """The plugin names in ``$POCKETFLOW_EXT_SUBSCRIBERS`` (comma separated)."""
    text = (os.environ if environ is None else environ).get(ENV_VAR, "")
    return [name.strip() for name in text.split(",") if name.strip()]


def unique(names: Sequence[str]) -> list[str]:
    """Names in order, each once (asked for by a flag and the variable alike)."""
    return list(dict.fromkeys(names))
