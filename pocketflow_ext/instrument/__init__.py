"""``instrument()``: observe, trace and record unmodified PocketFlow code, process-wide.

The upstream classes' seams are wrapped with ``wrapt`` (see ``patches``) so every flow run
reports into the event stream; the subscribers chosen here (recorder, console trace,
hooks, structured log) are attached with ``pocketflow_ext.subscribe``.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Any

from .. import plugins
from ..errors import ConfigurationError
from ..flows.interrupt import Halts, set_process_halts
from ..logging import get_logger
from ..stream.events import Subscriber
from ..stream.scope import add_global_hook, subscribe
from ..subscribers.log import EventLog
from ..subscribers.trace import ENV_VAR as TRACE_ENV_VAR
from ..subscribers.trace import ConsoleTrace, trace_mode
from ..subscribers.webhook import Webhook
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
    subscribers: Sequence[str | Subscriber] = (),
) -> Instrumentation:
    """Make every PocketFlow flow run in this process observable, without editing it.

    ``db_path`` records every run to that SQLite file; ``trace`` prints a console trace
    (True/"auto", "friendly", "plain"; False/"off" for none; None follows
    ``$POCKETFLOW_EXT_TRACE`` and is off when unset); ``hooks`` maps event names to a
    PocoFlow-style callback or a list of them, called for every top-level run. Events are
    also logged through the ``pocketflow_ext.flow``/``.node`` loggers. ``halt_before`` /
    ``halt_after`` pause every run at these node names (docs/human-in-the-loop.md).
    ``subscribers``: more subscribers, each a callable or the name of an installed plugin
    (``pocketflow-ext plugins list``); the plugins named in ``$POCKETFLOW_EXT_SUBSCRIBERS``
    and a webhook configured by ``$POCKETFLOW_EXT_WEBHOOK_URL`` are added too. A plugin
    that cannot be switched on is warned about and left out.

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
    extra = _extra_subscribers(subscribers)
    with _lock:
        recorder = ProcessRecorder(os.fspath(db_path)) if db_path is not None else None
        if _active is not None:
            _active._detach()
        active = Instrumentation(
            recorder.db if recorder else None, ConsoleTrace(mode) if mode != "off" else None
        )
        listeners: list[Callable[..., Any]] = []
        if recorder is not None:
            listeners.append(recorder)
        if active.trace is not None:
            listeners.append(active.trace)
        listeners.append(EventLog())
        listeners.extend(extra)
        active._unsubscribe = [subscribe(subscriber) for subscriber in listeners]
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


def _extra_subscribers(subscribers: Sequence[str | Subscriber]) -> list[Subscriber]:
    """Callables as given, then the plugins named here or in the environment, then a
    webhook from the environment (unless the webhook plugin was named)."""
    if isinstance(subscribers, str) or not isinstance(subscribers, Sequence):
        raise ConfigurationError(
            f"subscribers must be a list of callables or plugin names, got {subscribers!r}"
        )
    direct: list[Subscriber] = []
    names: list[str] = []
    for each in subscribers:
        if isinstance(each, str):
            names.append(each)
        elif callable(each):
            direct.append(each)
        else:
            raise ConfigurationError(
                f"subscribers takes callables or plugin names, got {type(each).__name__}"
            )
    names = plugins.unique([*names, *plugins.names_from_env()])
    loaded, _failed = plugins.load_all(names)  # failures are warned about and logged there
    result: list[Subscriber] = [*direct, *loaded]
    if "webhook" not in names:
        try:
            hook = Webhook.from_env()
        except ConfigurationError as exc:
            warnings.warn(
                f"{exc}; runs go on without the webhook", plugins.PluginWarning, stacklevel=3
            )
            hook = None
        if hook is not None:
            result.append(hook)
    return result


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
