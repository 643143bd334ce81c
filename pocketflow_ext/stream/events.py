"""What events exist: the event kinds, the hook signatures and the immutable event record."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from operator import attrgetter
from typing import Any

FLOW_START = "flow_start"
NODE_START = "node_start"
NODE_RETRY = "node_retry"
NODE_END = "node_end"
NODE_ERROR = "node_error"
FLOW_END = "flow_end"
RUN_WAITING = "run_waiting"  # interrupt(payload) or a halt paused the run; ``data`` is the payload
RUN_ANSWERED = "run_answered"  # interrupt() returned an answer; ``data`` is the answer
CUSTOM = "custom"  # emit(topic, data) from inside a node: tokens, progress, partial results

# Hook signatures are PocoFlow's so its hook code ports unchanged.
HOOK_SIGNATURES: Mapping[str, str] = {
    FLOW_START: "(flow_name, store)",
    NODE_START: "(name, store)",
    NODE_RETRY: "(name, attempt, exc, delay_s, store)",
    NODE_END: "(name, action, elapsed_s, store)",
    NODE_ERROR: "(name, exc, store)",
    FLOW_END: "(steps, store)",
    RUN_WAITING: "(name, payload, store)",
    RUN_ANSWERED: "(name, answer, store)",
    CUSTOM: "(name, topic, data, store)",
}
EVENT_KINDS = tuple(HOOK_SIGNATURES)


# Every field of an Event, in this order in its repr; new fields go at the end, with a default.
FIELDS = (
    "kind",
    "run_id",
    "flow_name",
    "path",
    "ts",
    "step",
    "node",
    "action",
    "elapsed_s",
    "attempt",
    "delay_s",
    "error",
    "traceback",
    "params",
    "status",
    "steps",
    "store",
    "exc",
    "topic",
    "data",
    "recorded",
)


class Event:
    """One immutable record of something that happened in a run, built by keyword.

    Read fields by name: new fields may be added (always with a default), so a subscriber
    written today keeps working. ``path`` is the node's place in the run
    (``Outer/Inner/Summarise``); ``node`` its name within its own flow. The top flow of a
    run is the one whose ``path == flow_name``. ``status`` is set on ``flow_end``
    (completed, failed, cancelled, waiting). ``data`` is the question of ``run_waiting``
    and the answer of ``run_answered``. ``store`` and ``exc`` are live references for
    in-process subscribers; persist their serialised form, never the objects.
    A ``custom`` event (``emit(topic, data)``) carries ``topic`` and ``data``; ``recorded``
    says whether its emitter asked for it to be kept in the run store.
    """

    # Why not a frozen dataclass: its __init__ sets each field through
    # object.__setattr__, 2-5 µs per record, and two records are built per node for every
    # subscriber (recording included): several times upstream's whole per-node cost.
    # Here __init__ stores into private slots (about 1 µs) and each field is a read-only
    # property over its slot (a C-level getter, see below the class).
    __slots__ = tuple(f"_{name}" for name in FIELDS)

    kind: str
    run_id: str
    flow_name: str
    path: str
    ts: float
    step: int | None
    node: str | None
    action: str | None
    elapsed_s: float | None
    attempt: int | None
    delay_s: float | None
    error: str | None
    traceback: str | None
    params: Mapping[str, Any] | None
    status: str | None
    steps: int | None
    store: Any
    exc: BaseException | None
    topic: str | None
    data: Any
    recorded: bool

    def __init__(
        self,
        *,
        kind: str,
        run_id: str,
        flow_name: str,
        path: str,
        ts: float,
        step: int | None = None,
        node: str | None = None,
        action: str | None = None,
        elapsed_s: float | None = None,
        attempt: int | None = None,
        delay_s: float | None = None,
        error: str | None = None,
        traceback: str | None = None,
        params: Mapping[str, Any] | None = None,
        status: str | None = None,
        steps: int | None = None,
        store: Any = None,
        exc: BaseException | None = None,
        topic: str | None = None,
        data: Any = None,
        recorded: bool = False,
    ) -> None:
        self._kind = kind
        self._run_id = run_id
        self._flow_name = flow_name
        self._path = path
        self._ts = ts
        self._step = step
        self._node = node
        self._action = action
        self._elapsed_s = elapsed_s
        self._attempt = attempt
        self._delay_s = delay_s
        self._error = error
        self._traceback = traceback
        self._params = params
        self._status = status
        self._steps = steps
        self._store = store
        self._exc = exc
        self._topic = topic
        self._data = data
        self._recorded = recorded

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in FIELDS)

    def __eq__(self, other: object) -> bool:
        if type(other) is not Event:
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        # Fields that are set, without the store: it is the whole shared store.
        shown = (
            f"{name}={value!r}"
            for name, value in zip(FIELDS, self._values(), strict=True)
            if value is not None and value is not False and name != "store"
        )
        return f"Event({', '.join(shown)})"


for _name in FIELDS:
    # Read-only: assigning to a field raises AttributeError, as for a frozen dataclass.
    setattr(Event, _name, property(attrgetter(f"_{_name}"), doc=f"The event's {_name}."))
del _name


Subscriber = Callable[[Event], Any]
"""A subscriber is called with each Event. It may also define ``wants(kind) -> bool``:
asked as each flow level starts, records of a kind no subscriber wants are not built."""
