"""Durable pauses: ``interrupt(payload)`` inside a node, and ``halt_before``/``halt_after``.

A pause raises :class:`~pocketflow_ext.errors.WaitingForAnswer` out of the node; the flow
levels end with status ``waiting`` and the recorder stores the question. Answering is a
resume (``flow.resume(run_id, answer=...)``) whose run carries :class:`Answers`: the
paused node runs again from its start and its ``interrupt()`` calls return the answers in
order; a halted node is let through once.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from ..errors import ConfigurationError, WaitingForAnswer
from ..stream import dispatch
from ..stream.scope import Frame, Level, current_frame

_NO_ANSWER = object()


def interrupt(payload: Any = None) -> Any:
    """Pause the run until a human (or any caller) answers ``payload``; returns the answer.

    Call it from a node's ``prep``, ``exec`` or ``post``. The first time, the run is
    recorded ``waiting`` with ``payload`` (any JSON value: a question, options, a draft)
    and the flow stops. ``flow.resume(run_id, answer=value)`` runs this node again from its
    start, and this call returns ``value`` (several calls in one node take
    ``answers=[...]`` in order).

    >>> approved = interrupt({"question": "Publish this draft?", "draft": draft})  # doctest: +SKIP
    """
    frame = current_frame()
    answers = answers_of(frame.level) if frame is not None else None
    if frame is not None and answers is not None:
        value = answers.take(frame)
        if value is not _NO_ANSWER:
            dispatch.run_answered(frame, value)
            return value
    check_payload(payload)
    raise WaitingForAnswer(payload, path=frame.path if frame is not None else None)


def check_payload(payload: Any) -> None:
    try:
        json.dumps(payload)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(
            f"interrupt() needs a JSON value to record as the question (str, number, bool, "
            f"None, list, dict with str keys), got {type(payload).__name__}: {exc}"
        ) from None


class Answers:
    """The answers a resumed run hands to the node that paused (``path``), in order.

    They go to the first execution of that node only (its step is fixed on first use): a
    loop that comes back to the node later asks again.
    """

    def __init__(self, path: str, values: Sequence[Any]) -> None:
        self.path = path
        self.values = list(values)
        self.used = 0
        self.step: int | None = None
        self.halt_released = False
        self._lock = threading.Lock()  # parallel branches share one run's answers

    def take(self, frame: Frame) -> Any:
        with self._lock:
            if frame.path != self.path or self.used >= len(self.values):
                return _NO_ANSWER
            if self.step is None:
                self.step = frame.step
            elif frame.step != self.step:
                return _NO_ANSWER
            value = self.values[self.used]
            self.used += 1
            return value

    def release_halt(self, path: str) -> bool:
        """Whether the halt at ``path`` is the one answered (true once)."""
        with self._lock:
            if path != self.path or self.halt_released:
                return False
            self.halt_released = True
            return True


def answers_of(level: Level) -> Answers | None:
    found = level.run.options.extra.get("answers")
    return found if isinstance(found, Answers) else None


# ── halts: pausing at named nodes with no code change ────────────────────────
class Halts:
    """Node names (or paths below the top flow, ``Inner/Review``) to pause before/after."""

    def __init__(self, before: Iterable[str] = (), after: Iterable[str] = ()) -> None:
        self.before = frozenset(check_names(before, "halt_before"))
        self.after = frozenset(check_names(after, "halt_after"))

    def __bool__(self) -> bool:
        return bool(self.before or self.after)

    def merged(self, other: Halts | None) -> Halts:
        if not other:
            return self
        return Halts(self.before | other.before, self.after | other.after)


def check_names(names: Iterable[str] | str | None, what: str) -> list[str]:
    if names is None:
        return []
    if isinstance(names, str):
        names = [names]
    listed = list(names)
    bad = [n for n in listed if not isinstance(n, str) or not n]
    if bad:
        raise ConfigurationError(
            f"{what} takes node names (or paths like 'Inner/Review'), got {bad!r}"
        )
    return listed


_process_halts: list[Halts] = []


def set_process_halts(halts: Halts | None) -> None:
    """Halts for every top-level run of this process (``pocketflow-ext run --halt-before``)."""
    _process_halts[:] = [halts] if halts else []


def process_halts() -> Halts | None:
    return _process_halts[0] if _process_halts else None


def halts_for(flow: Any) -> Halts | None:
    """The halts of a run whose top flow is ``flow``: its own and the process-wide ones."""
    own = getattr(flow, "halts", None)
    merged = own.merged(process_halts()) if own else process_halts()
    return merged or None


def run_halts(level: Level) -> Halts | None:
    found = level.run.options.extra.get("halts")
    return found if isinstance(found, Halts) else None


def _relative(level: Level, path: str) -> str:
    return path[len(level.run.flow_name) + 1 :]


def halt_before(frame: Frame, name: str) -> None:
    """Pause before node ``name`` starts in ``frame``, if a halt names it (and it is not
    the halted node that a resumed run is answering)."""
    level = frame.level
    halts = run_halts(level)
    if halts is None or not halts.before:
        return
    path = f"{level.path}/{name}"
    relative = _relative(level, path)
    if name not in halts.before and relative not in halts.before:
        return
    answers = answers_of(level)
    if answers is not None and answers.release_halt(path):
        return
    _pause(frame, path, {"halted": "before", "node": relative})


def halt_after(frame: Frame, finished: str, finished_path: str) -> None:
    """Pause after node ``finished`` ended (its checkpoint is written), before the next."""
    level = frame.level
    halts = run_halts(level)
    if halts is None or not halts.after:
        return
    relative = _relative(level, finished_path)
    if finished in halts.after or relative in halts.after:
        _pause(frame, finished_path, {"halted": "after", "node": relative})


def _pause(frame: Frame, path: str, payload: dict[str, Any]) -> None:
    exc = WaitingForAnswer(payload, path=path)
    exc.run_id, exc.flow_name = frame.level.run.run_id, frame.level.run.flow_name
    dispatch.run_waiting(frame, path, payload, None)
    exc.reported = True
    raise exc


def report_pause(frame: Frame, exc: WaitingForAnswer) -> None:
    """The node running in ``frame`` paused: ``run_waiting`` once (by the innermost level;
    the flows around it end as ``waiting`` without another event)."""
    level = frame.level
    if exc.run_id is None:
        exc.run_id, exc.flow_name = level.run.run_id, level.run.flow_name
    node_path = frame.path if frame.node is not None else None
    step = frame.step if frame.node is not None else None
    frame.node = None
    if exc.reported:
        return
    exc.reported = True
    if exc.path is None:
        exc.path = node_path
    dispatch.run_waiting(frame, exc.path or level.path, exc.payload, step)


def is_halt(payload: Any) -> bool:
    """Whether a recorded question is a halt's (``{"halted": ..., "node": ...}``)."""
    return isinstance(payload, dict) and set(payload) == {"halted", "node"}
