"""Who listens: the active run, flow levels and orchestration frames, held in a ContextVar.

A *run* is one top-level flow execution. Each flow execution inside it (the top flow,
or a flow nested as a node) is a *level*; each pass of upstream's ``_orch`` loop (one
per BatchFlow item) is a *frame*. asyncio tasks inherit the frame; threads get it via
``contextvars.copy_context()``.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import Any

from .events import EVENT_KINDS, FLOW_END, FLOW_START, NODE_END, NODE_START, Subscriber

# The stdlib logger, not pocketflow_ext.logging: that module reads the run scope.
_log = logging.getLogger("pocketflow_ext.hooks")

_current: ContextVar[Frame | None] = ContextVar("pocketflow_ext_frame", default=None)
_global_subscribers: list[Subscriber] = []
# (kind, callback): PocoFlow-style hooks on every top-level run (instrument(hooks=...)).
_global_hooks: list[tuple[str, Callable[..., Any]]] = []


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
    """The process-wide subscribers, in call order."""
    return tuple(_global_subscribers)


def add_global_hook(kind: str, callback: Callable[..., Any]) -> Callable[[], None]:
    """Call ``callback`` on ``kind`` in every top-level run of the process, as if it were
    registered with ``flow.on`` on the run's top flow (names relative to it, flow start and
    end of the top flow only). Returns a function that removes it again. A hook, not a
    subscriber: no event records are built for it."""
    entry = (kind, callback)
    _global_hooks.append(entry)

    def remove() -> None:
        for i, each in enumerate(_global_hooks):
            if each is entry:
                del _global_hooks[i]
                return

    return remove


def global_hooks() -> tuple[tuple[str, Callable[..., Any]], ...]:
    """The process-wide hooks as ``(kind, callback)``, in call order."""
    return tuple(_global_hooks)


# The frame accessors are the ContextVar's own (C) methods, not wrappers around them:
# current_frame() runs once per node.
current_frame: Callable[[], Frame | None] = _current.get
"""The orchestration frame of the code now running, or None outside any observed run."""
set_current_frame: Callable[[Frame | None], Token[Frame | None]] = _current.set
"""Make ``frame`` the current one; returns the token that ``reset_current_frame`` takes."""
reset_current_frame: Callable[[Token[Frame | None]], None] = _current.reset


@dataclass
class RunOptions:
    """Per-call options handed from ``run()``/``run_background()`` to the run they start."""

    run_id: str | None = None
    cancel: threading.Event | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # Subscribers of this run only (``flow.stream()``): they listen as if subscribed to
    # the top flow, so nested levels inherit them.
    subscribers: tuple[Subscriber, ...] = ()


_pending_options: ContextVar[RunOptions | None] = ContextVar(
    "pocketflow_ext_run_options", default=None
)


def pending_options() -> RunOptions | None:
    """The options waiting for the next top-level run in this context, if any."""
    return _pending_options.get()


def clear_pending_options() -> None:
    """Drop waiting options, so a later run in this context starts with none."""
    _pending_options.set(None)


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

    __slots__ = ("_run_id", "flow_name", "store", "cancel", "step_numbers", "options")

    def __init__(self, flow_name: str, store: Any) -> None:
        options = pending_options() or RunOptions()
        # Consumed here so a nested or later run in the same context starts fresh.
        clear_pending_options()
        self.options = options
        self.flow_name = flow_name
        self._run_id = options.run_id  # None: made when first read (see run_id)
        self.store = store
        # None unless someone can cancel (a background run): the flag is read before every node.
        self.cancel = options.cancel
        self.step_numbers = itertools.count(0)  # next() gives each node execution its step

    @property
    def run_id(self) -> str:
        """The run's id, made when first asked for: a run only hooks listen to never needs
        one, and making it (random bytes from the OS) costs more than a short run's nodes."""
        run_id = self._run_id
        if run_id is None:
            with _run_id_lock:  # threads of one run (copied contexts) agree on one id
                run_id = self._run_id
                if run_id is None:
                    run_id = self._run_id = new_run_id(self.flow_name)
        return run_id

    @run_id.setter
    def run_id(self, run_id: str) -> None:
        self._run_id = run_id


_run_id_lock = threading.Lock()


# One listener table entry: (cut, listeners) where ``cut`` strips a level's own path
# prefix so hooks see names relative to the flow they were registered on.
ListenerLevel = tuple[int, tuple[tuple[str | None, Callable[..., Any]], ...]]


# Per event kind, who gets it, in call order: (cut, callback, is_subscriber). Subscribers
# get the record; hooks get ``(path[cut:], *args)``, or ``*args`` when cut is None.
Delivery = tuple[tuple[int | None, Callable[..., Any], bool], ...]

# The two kinds delivered for every node, in call order: (how, callback). ``how`` is
# OWN_NAME for a hook of the level's own flow (it gets the node's name), SUBSCRIBER for a
# subscriber (it gets the record), else the cut of an enclosing flow's hook (it gets
# ``path[how:]``). Small ints, so the per-node test is one int comparison.
NodeDelivery = tuple[tuple[int, Callable[..., Any]], ...]
OWN_NAME = 0
SUBSCRIBER = -1

_NO_LISTENERS: dict[str, Delivery] = dict.fromkeys(EVENT_KINDS, ())
_NONE_WANTED: dict[str, bool] = dict.fromkeys(EVENT_KINDS, False)


class Tables:
    """A level's listener tables, computed once per flow execution so delivering an event
    is one loop over exactly its listeners: per kind who gets it (``table``), the two node
    kinds in their hot form, and the kinds a flow subscriber wants records of. Node events
    reach every enclosing flow's hooks; flow start/end hooks only fire on their own flow
    (their signatures carry no path); subscribers get every kind they want."""

    __slots__ = ("table", "on_node_start", "on_node_end", "subscribed", "hooks_only")

    def __init__(self, listeners: tuple[ListenerLevel, ...], own_cut: int) -> None:
        last = len(listeners) - 1
        rows: dict[str, list[tuple[int | None, Callable[..., Any], bool]]] = {}
        subscribed: set[str] = set()
        self.hooks_only = True
        for i, (cut, entries) in enumerate(listeners):
            for kind, callback in entries:
                if kind is None:
                    self.hooks_only = False
                    for each in EVENT_KINDS:
                        if wants(callback, each):
                            rows.setdefault(each, []).append((None, callback, True))
                            subscribed.add(each)
                elif kind not in (FLOW_START, FLOW_END):
                    rows.setdefault(kind, []).append((cut, callback, False))
                elif i == last:
                    rows.setdefault(kind, []).append((None, callback, False))
        table = _NO_LISTENERS.copy()  # costs in proportion to the listeners, not the kinds
        for kind, delivery in rows.items():
            table[kind] = tuple(delivery)
        self.table = table
        self.on_node_start = _node_delivery(table[NODE_START], own_cut)
        self.on_node_end = _node_delivery(table[NODE_END], own_cut)
        self.subscribed = frozenset(subscribed)


def _node_delivery(delivery: Delivery, own_cut: int) -> NodeDelivery:
    if not delivery:
        return ()
    return tuple(
        (SUBSCRIBER if is_subscriber else OWN_NAME if cut == own_cut else cut, callback)  # type: ignore[misc]
        for cut, callback, is_subscriber in delivery
    )


# Tables of levels whose listeners are hooks only (no subscriber's ``wants`` to ask again
# each run), by (parent's tables, own cut, own listeners) compared by identity: a flow's
# hooks are one tuple until ``on``/``subscribe``/``unsubscribe`` replace it, so each run
# of a hooked flow finds its tables here instead of building them again.
_hook_tables: dict[tuple[int, int, int], tuple[Tables | None, Any, Tables]] = {}
_HOOK_TABLES_MAX = 512


def tables_for(
    parent: Tables | None,
    own_cut: int,
    own: tuple[tuple[str | None, Callable[..., Any]], ...],
    listeners: tuple[ListenerLevel, ...],
) -> Tables:
    """The tables of a level with ``listeners``: its parent's plus ``own`` at ``own_cut``."""
    key = (id(parent), own_cut, id(own))
    hit = _hook_tables.get(key)
    if hit is not None and hit[0] is parent and hit[1] is own:
        return hit[2]
    tables = Tables(listeners, own_cut)
    if tables.hooks_only:  # held strongly, so the ids in the key stay theirs
        if len(_hook_tables) >= _HOOK_TABLES_MAX:
            _hook_tables.clear()
        _hook_tables[key] = (parent, own, tables)
    return tables


def _records_wanted(subscribed: frozenset[str]) -> dict[str, bool]:
    """Per kind, whether anyone wants its records: a flow subscriber (``subscribed``) or a
    process-wide one (whose ``wants`` is asked here, once per flow execution). Do not
    modify the dict returned: with no subscriber at all it is shared."""
    if not subscribed and not _global_subscribers:
        return _NONE_WANTED
    wanted = _NONE_WANTED.copy()
    for kind in subscribed:
        wanted[kind] = True
    if _global_subscribers:
        subscribers = tuple(_global_subscribers)
        for kind, is_wanted in wanted.items():
            if not is_wanted:
                wanted[kind] = any(wants(subscriber, kind) for subscriber in subscribers)
    return wanted


def wants(subscriber: Subscriber, kind: str) -> bool:
    """Whether ``subscriber`` wants records of ``kind``. A subscriber may define
    ``wants(kind) -> bool`` (a log whose logger is off, a hook for one kind); without it,
    it wants every kind. Asked once per flow execution, not per event."""
    method = getattr(subscriber, "wants", None)
    if method is None:
        return True
    try:
        return bool(method(kind))
    except Exception:  # as with any listener: logged, and it gets everything
        _log.exception(
            "subscriber %r raised in wants(%r); sending it every event", subscriber, kind
        )
        return True


class Level:
    """One flow execution within a run (the top flow or a nested one)."""

    __slots__ = (
        "run",
        "flow",
        "path",
        "parent",
        "names",
        "listeners",
        "tables",
        "table",
        "on_node_start",
        "on_node_end",
        "paths",
        "records",
        "step_numbers",
        "node_start_records",
        "node_end_records",
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
        paths: dict[str, str],
        own: tuple[tuple[str | None, Callable[..., Any]], ...],
        store: Any,
    ) -> None:
        self.run = run
        self.flow = flow
        self.path = path
        self.parent = parent
        self.names = names
        merged = own
        if parent is None and _global_hooks:
            # Process-wide hooks listen as if registered on the top flow, before its own.
            merged = (*_global_hooks, *merged)
        if parent is None and run.options.subscribers:
            merged = (*merged, *((None, each) for each in run.options.subscribers))
        inherited = parent.listeners if parent else ()
        own_cut = len(path) + 1
        self.listeners: tuple[ListenerLevel, ...] = (*inherited, (own_cut, merged))
        if merged is own:  # the flow's own listeners: hooks only, the tables of last run
            parent_tables = parent.tables if parent is not None else None
            tables = tables_for(parent_tables, own_cut, own, self.listeners)
        else:
            tables = Tables(self.listeners, own_cut)
        self.tables: Tables = tables
        self.table = tables.table
        # The two kinds delivered for every node, as attributes: the hot path reads them.
        self.on_node_start = tables.on_node_start
        self.on_node_end = tables.on_node_end
        # Node name -> full path, filled as nodes first run under this path; shared by
        # every run of the same graph at the same path (see graph.GraphNames.paths).
        self.paths = paths
        # Records are built only for kinds some subscriber wants; hooks get plain args.
        self.records = _records_wanted(tables.subscribed)
        self.step_numbers = run.step_numbers  # read once per node: one hop fewer
        self.node_start_records = self.records[NODE_START]
        self.node_end_records = self.records[NODE_END]
        self.max_steps: int | None = getattr(flow, "max_steps", None)
        # Whether something may stop the run before a node: max_steps or a cancel flag.
        self.guarded = self.max_steps is not None or run.cancel is not None
        self.steps = 0
        self.store = store


class Frame:
    """One pass of upstream's orchestration loop: the node now running in it."""

    __slots__ = ("level", "params", "node", "path", "step", "t0", "count", "recent", "pending")

    def __init__(self, level: Level, params: Any) -> None:
        self.level = level
        self.params = params
        self.node: str | None = None
        self.path = ""  # the running node's path, computed once at its start
        self.step: int | None = None
        self.t0 = 0.0
        self.count = 0
        # The last few nodes, for max_steps' error message; kept only under max_steps.
        self.recent: deque[str] | None = deque(maxlen=5) if level.max_steps is not None else None
        # A conditional node (``when=``) about to run: it starts or skips itself (nodes/when.py).
        self.pending: str | None = None


# ── parallel branches ────────────────────────────────────────────────────────
class BranchCancel(threading.Event):
    """The cancel flag branches of one ``Parallel`` group check before each node: set when
    the group stops its branches (one failed, Ctrl+C), or when the run's own flag is."""

    def __init__(self, outer: threading.Event | None) -> None:
        super().__init__()
        self.outer = outer  # the enclosing run's flag (another group's, for nested groups)

    def is_set(self) -> bool:
        outer = self.outer
        return super().is_set() or (outer is not None and outer.is_set())


def branch_run(run: Run, cancel: BranchCancel) -> Run:
    """``run`` as its parallel branches see it: the same run id, name, options and step
    counter (``itertools.count`` hands out numbers atomically across threads), with the
    group's cancel flag, so stopping a group stops every node of every branch."""
    branch = Run.__new__(Run)
    branch.run_id = run.run_id
    branch.flow_name = run.flow_name
    branch.store = run.store
    branch.options = run.options
    branch.step_numbers = run.step_numbers
    branch.cancel = cancel
    return branch


def branch_level(template: Level, store: Any) -> Level:
    """Another branch's level of the same group: ``template``'s run, path and listener
    tables (computed once per group, not once per branch), with the branch's own store."""
    level = Level.__new__(Level)
    for name in Level.__slots__:
        setattr(level, name, getattr(template, name))
    level.store = store
    level.steps = 0
    return level
