"""Who listens: the active run, flow levels and orchestration frames, held in a ContextVar.

A *run* is one top-level flow execution. Each flow execution inside it (the top flow,
or a flow nested as a node) is a *level*; each pass of upstream's ``_orch`` loop (one
per BatchFlow item) is a *frame*. asyncio tasks inherit the frame; threads get it via
``contextvars.copy_context()``.
"""

from __future__ import annotations

import itertools
import secrets
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from .events import EVENT_KINDS, FLOW_END, FLOW_START, NODE_END, NODE_START, Subscriber

_current: ContextVar[Frame | None] = ContextVar("pocketflow_ext_frame", default=None)
_global_subscribers: list[Subscriber] = []


def subscribe(subscriber: Subscriber) -> Callable[[], None]:
    """Send every event of every run in this process to ``subscriber(event)``.

    Returns a function that removes it again. Used by ``instrument()`` and tests;
    to listen to one flow use ``flow.subscribe`` or ``flow.on``.
    """
    if not callable(subscriber):
        raise TypeError(f"subscriber must be callable, got {type(subscriber).__name__}")
    _global_subscribers.append(subscriber)

    def unsubscribe() -> None:
        if subscriber in _global_subscribers:
            _global_subscribers.remove(subscriber)

    return unsubscribe


def global_subscribers() -> tuple[Subscriber, ...]:
    return tuple(_global_subscribers)


def current_frame() -> Frame | None:
    """The orchestration frame of the code now running, or None outside any observed run."""
    return _current.get()


@dataclass
class RunOptions:
    """Per-call options handed from ``run()``/``run_background()`` to the run they start."""

    run_id: str | None = None
    cancel: threading.Event | None = None
    extra: dict[str, Any] = field(default_factory=dict)


_pending_options: ContextVar[RunOptions | None] = ContextVar(
    "pocketflow_ext_run_options", default=None
)


@contextmanager
def run_options(options: RunOptions) -> Iterator[None]:
    """Make ``options`` apply to the next top-level run started in this context."""
    token = _pending_options.set(options)
    try:
        yield
    finally:
        _pending_options.reset(token)


def new_run_id(flow_name: str) -> str:
    # secrets, not random: user code seeding the global generator must stay unaffected.
    return f"{flow_name}-{secrets.token_hex(4)}"


class Run:
    """One top-level flow execution: identity, step counter, cancel flag (or None)."""

    __slots__ = ("run_id", "flow_name", "store", "cancel", "step_numbers", "options")

    def __init__(self, flow_name: str, store: Any) -> None:
        options = _pending_options.get() or RunOptions()
        # Consumed here so a nested or later run in the same context starts fresh.
        _pending_options.set(None)
        self.options = options
        self.flow_name = flow_name
        self.run_id = options.run_id or new_run_id(flow_name)
        self.store = store
        # None unless someone can cancel (a background run): the flag is read before every node.
        self.cancel = options.cancel
        self.step_numbers = itertools.count(0)  # next() gives each node execution its step


# One listener table entry: (cut, listeners) where ``cut`` strips a level's own path
# prefix so hooks see names relative to the flow they were registered on.
ListenerLevel = tuple[int, tuple[tuple[str | None, Callable[..., Any]], ...]]


# Per event kind, who gets it, in call order: (cut, callback, is_subscriber). Subscribers
# get the record; hooks get ``(path[cut:], *args)``, or ``*args`` when cut is None.
Delivery = tuple[tuple[int | None, Callable[..., Any], bool], ...]


def _delivery_table(listeners: tuple[ListenerLevel, ...]) -> dict[str, Delivery]:
    """Computed once per flow execution, so delivering an event is one loop over exactly
    its listeners. Node events reach every enclosing flow's hooks; flow start/end hooks only
    fire on their own flow (their signatures carry no path); subscribers see everything."""
    last = len(listeners) - 1
    table: dict[str, Delivery] = {}
    for kind in EVENT_KINDS:
        flow_event = kind in (FLOW_START, FLOW_END)
        rows: list[tuple[int | None, Callable[..., Any], bool]] = []
        for i, (cut, entries) in enumerate(listeners):
            for kind_wanted, callback in entries:
                if kind_wanted is None:
                    rows.append((None, callback, True))
                elif kind_wanted == kind and not flow_event:
                    rows.append((cut, callback, False))
                elif kind_wanted == kind and i == last:
                    rows.append((None, callback, False))
        table[kind] = tuple(rows)
    return table


class Level:
    """One flow execution within a run (the top flow or a nested one)."""

    __slots__ = (
        "run",
        "flow",
        "path",
        "parent",
        "names",
        "listeners",
        "table",
        "on_node_start",
        "on_node_end",
        "paths",
        "wants_events",
        "max_steps",
        "guarded",
        "steps",
        "store",
    )

    def __init__(
        self,
        run: Run,
        flow: Any,
        path: str,
        parent: Level | None,
        names: dict[int, str],
        own: tuple[tuple[str | None, Callable[..., Any]], ...],
        store: Any,
    ) -> None:
        self.run = run
        self.flow = flow
        self.path = path
        self.parent = parent
        self.names = names
        inherited = parent.listeners if parent else ()
        self.listeners: tuple[ListenerLevel, ...] = (*inherited, (len(path) + 1, own))
        self.table = _delivery_table(self.listeners)
        # The two kinds delivered for every node, as attributes: the hot path reads them.
        self.on_node_start = self.table[NODE_START]
        self.on_node_end = self.table[NODE_END]
        self.paths: dict[str, str] = {}  # node name -> full path, built once per name
        # Event records are only built when someone consumes them; hooks get plain args.
        self.wants_events = bool(_global_subscribers) or any(
            kind is None for _, entries in self.listeners for kind, _cb in entries
        )
        self.max_steps: int | None = getattr(flow, "max_steps", None)
        # Whether something may stop the run before a node: max_steps or a cancel flag.
        self.guarded = self.max_steps is not None or run.cancel is not None
        self.steps = 0
        self.store = store


class Frame:
    """One pass of upstream's orchestration loop: the node now running in it."""

    __slots__ = ("level", "params", "node", "path", "step", "t0", "count", "recent")

    def __init__(self, level: Level, params: Any) -> None:
        self.level = level
        self.params = params
        self.node: str | None = None
        self.path = ""  # the running node's path, computed once at its start
        self.step: int | None = None
        self.t0 = 0.0
        self.count = 0
        self.recent: deque[str] = deque(maxlen=5)
