"""``instrument()``: observe, trace and record unmodified PocketFlow code, process-wide.

The upstream classes' seams are wrapped with ``wrapt`` (see ``patches``) so every flow run
reports into the event stream; the subscribers chosen here (recorder, console trace,
hooks, structured log) are attached with ``pocketflow_ext.subscribe``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from ..errors import ConfigurationError
from ..flows.interrupt import Halts, set_process_halts
from ..logging import get_logger
from ..stream.scope import add_global_hook, subscribe
from ..subscribers.log import EventLog
from ..subscribers.trace import ENV_VAR as TRACE_ENV_VAR
from ..subscribers.trace import ConsoleTrace, trace_mode
from .hooks import HooksArg, check_hooks
from .patches import Patches
from .recording import ProcessRecorder

_log = get_logger("instrument")
_lock = threading.RLock()
_patches = Patches()


class Instrumentation:
    """What ``instrument()`` switched on; a context manager that switches it off again.

    ``db`` is the recording :class:`~pocketflow_ext.WorkflowDB` (or None), shared with any
    flow recording to the same file; ``trace`` the console trace subscriber (or None).
    """

    def __init__(self, db: Any, trace: ConsoleTrace | None) -> None:
        self.db = db
        self.trace = trace
        self._unsubscribe: list[Callable[[], None]] = []

    def __enter__(self) -> Instrumentation:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        uninstrument()

    def _detach(self) -> None:
        for unsubscribe in reversed(self._unsubscribe):
            unsubscribe()
        self._unsubscribe.clear()


_active: Instrumentation | None = None


def instrument(
    db_path: str | os.PathLike[str] | None = None,
    trace: bool | str | None = None,
    hooks: HooksArg | None = None,
    *,
    halt_before: Iterable[str] | None = None,
    halt_after: Iterable[str] | None = None,
) -> Instrumentation:
    """Make every PocketFlow flow run in this process observable, without editing it.

    ``db_path`` records every run to that SQLite file; ``trace`` prints a console trace
    (True/"auto", "friendly", "plain"; False/"off" for none; None follows
    ``$POCKETFLOW_EXT_TRACE`` and is off when unset); ``hooks`` maps event names to a
    PocoFlow-style callback or a list of them, called for every top-level run. Events are
    also logged through the ``pocketflow_ext.flow``/``.node`` loggers. ``halt_before`` /
    ``halt_after`` pause every run at these node names (docs/human-in-the-loop.md).

    Calling it again replaces the previous configuration; ``uninstrument()`` (or leaving a
    ``with instrument(...):`` block) restores upstream pocketflow exactly.

    >>> import pocketflow_ext
    >>> with pocketflow_ext.instrument(db_path="runs.db", trace=True):
    ...     my_flow.run(shared)  # doctest: +SKIP
    """
    global _active
    if db_path is not None and (not isinstance(db_path, (str, os.PathLike)) or not str(db_path)):
        raise ConfigurationError(f"db_path must be a file path such as 'runs.db', got {db_path!r}")
    checked_hooks = check_hooks(hooks)
    halts = Halts(halt_before or (), halt_after or ())
    mode = _trace_mode(trace)
    with _lock:
        recorder = ProcessRecorder(os.fspath(db_path)) if db_path is not None else None
        if _active is not None:
            _active._detach()
        active = Instrumentation(
            recorder.db if recorder else None, ConsoleTrace(mode) if mode != "off" else None
        )
        subscribers: list[Callable[..., Any]] = []
        if recorder is not None:
            subscribers.append(recorder)
        if active.trace is not None:
            subscribers.append(active.trace)
        subscribers.append(EventLog())
        active._unsubscribe = [subscribe(subscriber) for subscriber in subscribers]
        active._unsubscribe.extend(
            add_global_hook(kind, callback)
            for kind, callbacks in checked_hooks.items()
            for callback in callbacks
        )
        if recorder is not None:
            recorder.activate()
            active._unsubscribe.append(recorder.deactivate)
        if halts:
            set_process_halts(halts)
            active._unsubscribe.append(lambda: set_process_halts(None))
        _patches.apply()
        _active = active
        return active


def uninstrument() -> None:
    """Restore upstream pocketflow exactly and detach what ``instrument()`` attached.

    Harmless when not instrumented."""
    global _active
    with _lock:
        overwritten = _patches.remove()
        if overwritten:
            _log.warning(
                "uninstrument(): %s were wrapped again by other code after instrument(); "
                "restored to upstream's originals anyway",
                ", ".join(overwritten),
            )
        if _active is not None:
            _active._detach()
            _active = None


def is_instrumented() -> bool:
    """Whether ``instrument()`` is in effect."""
    return _patches.active


def _trace_mode(trace: bool | str | None) -> str:
    env_set = bool(os.environ.get(TRACE_ENV_VAR, "").strip())
    if trace is None:
        # Library code never prints unasked: without the variable, no trace.
        return trace_mode(None) if env_set else "off"
    if trace is True:
        # Asked for a trace: the variable may choose its style, but not switch it off.
        chosen = trace_mode(None) if env_set else "off"
        return chosen if chosen != "off" else trace_mode("auto")
    if trace is False:
        return "off"
    return trace_mode(trace)


__all__ = ["Instrumentation", "instrument", "is_instrumented", "uninstrument"]
