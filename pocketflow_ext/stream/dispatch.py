"""How listeners are called: process-wide subscribers first, then each enclosing flow's
listeners (outermost first, registration order; process-wide hooks count as the top flow's,
before its own), each isolated so a raising listener is logged and never breaks the run."""

from __future__ import annotations

import logging
import time
import traceback
from typing import Any

from . import events as ev
from .events import NODE_END, NODE_START, Event
from .scope import OWN_NAME, SUBSCRIBER, Frame, Level, _global_subscribers

# The stdlib logger, not pocketflow_ext.logging: that module reads the run scope.
_log = logging.getLogger("pocketflow_ext.hooks")

_clock = time.perf_counter


def _deliver(
    level: Level, kind: str, event: Event | None, path: str, args: tuple[Any, ...]
) -> None:
    """Global subscribers, then the level's precomputed listeners for ``kind``, in order."""
    if event is not None and _global_subscribers:
        _to_global_subscribers(event)
    for cut, callback, is_subscriber in level.table[kind]:
        try:
            if is_subscriber:
                callback(event)
            elif cut is None:
                callback(*args)
            else:
                callback(path[cut:], *args)
        except Exception:
            _listener_failed(callback)


def _to_global_subscribers(event: Event) -> None:
    for sub in tuple(_global_subscribers):  # a snapshot: subscribers may unsubscribe
        try:
            sub(event)
        except Exception:
            _listener_failed(sub)


def _listener_failed(listener: Any) -> None:
    name = getattr(listener, "__qualname__", None) or repr(listener)
    _log.exception("listener %s raised; the run continues", name)


def _event(level: Level, kind: str, path: str, **fields: Any) -> Event:
    run = level.run
    return Event(
        kind=kind,
        run_id=run.run_id,
        flow_name=run.flow_name,
        path=path,
        ts=time.time(),
        store=level.store,
        **fields,
    )


def _node_event(
    frame: Frame, kind: str, path: str, name: str | None, **fields: Any
) -> Event | None:
    return _event(
        frame.level, kind, path, step=frame.step, node=name, params=frame.params, **fields
    )


def _failure(exc: BaseException) -> dict[str, Any]:
    return {"error": error_text(exc), "traceback": traceback_text(exc), "exc": exc}


def advance(frame: Frame, action: Any, name: str | None) -> None:
    """The node running in ``frame`` (if any) ended with ``action``; node ``name`` (if not
    None) starts. This runs once per node, so it is ``_deliver`` specialised by hand for
    the two node kinds: records only when some subscriber wants them, hooks called with
    explicit arguments (a ``*args`` call costs more than the rest of the loop), the hooks
    of the level's own flow handed the node's name as it is (no slicing of its path)."""
    level = frame.level
    finished = frame.node
    if finished is not None:
        elapsed = _clock() - frame.t0
        event = None
        if level.node_end_records:
            run = level.run
            event = Event(
                kind=NODE_END,
                run_id=run.run_id,
                flow_name=run.flow_name,
                path=frame.path,
                ts=time.time(),
                step=frame.step,
                node=finished,
                action=action,
                elapsed_s=elapsed,
                params=frame.params,
                store=level.store,
            )
            if _global_subscribers:
                _to_global_subscribers(event)
        store = level.store
        for how, callback in level.on_node_end:
            try:
                if how == OWN_NAME:
                    callback(finished, action, elapsed, store)
                elif how == SUBSCRIBER:
                    callback(event)
                else:
                    callback(frame.path[how:], action, elapsed, store)
            except Exception:
                _listener_failed(callback)
        if name is None:
            frame.node = None
            return
    elif name is None:
        return
    frame.node = name
    frame.step = next(level.step_numbers)
    frame.count += 1  # added to level.steps when the frame ends (observe.orchestrate)
    if frame.recent is not None:  # the trail is only for max_steps' error message
        frame.recent.append(name)
    try:
        path = level.paths[name]
    except KeyError:  # once per node name and place (the dict outlives the run)
        path = level.paths[name] = f"{level.path}/{name}"
    frame.path = path
    event = None
    if level.node_start_records:
        run = level.run
        event = Event(
            kind=NODE_START,
            run_id=run.run_id,
            flow_name=run.flow_name,
            path=path,
            ts=time.time(),
            step=frame.step,
            node=name,
            params=frame.params,
            store=level.store,
        )
        if _global_subscribers:
            _to_global_subscribers(event)
    for how, callback in level.on_node_start:
        try:
            if how == OWN_NAME:
                callback(name, level.store)
            elif how == SUBSCRIBER:
                callback(event)
            else:
                callback(path[how:], level.store)
        except Exception:
            _listener_failed(callback)
    frame.t0 = _clock()


def node_error(frame: Frame, exc: BaseException) -> None:
    elapsed = _clock() - frame.t0
    level, name, path = frame.level, frame.node, frame.path
    frame.node = None
    event = (
        _node_event(frame, ev.NODE_ERROR, path, name, elapsed_s=elapsed, **_failure(exc))
        if level.records[ev.NODE_ERROR]
        else None
    )
    _deliver(level, ev.NODE_ERROR, event, path, (exc, level.store))


def node_retry(frame: Frame, attempt: int, exc: BaseException, delay_s: float) -> None:
    level, name, path = frame.level, frame.node, frame.path
    event = (
        _node_event(
            frame, ev.NODE_RETRY, path, name, attempt=attempt, delay_s=delay_s, **_failure(exc)
        )
        if level.records[ev.NODE_RETRY]
        else None
    )
    _deliver(level, ev.NODE_RETRY, event, path, (attempt, exc, delay_s, level.store))


def run_waiting(frame: Frame, path: str, payload: Any, step: int | None) -> None:
    """The run pauses at node ``path`` for an answer to ``payload``; ``step`` is the
    paused node's (None for a halt: no node execution is under way)."""
    level = frame.level
    name = path.rsplit("/", 1)[-1]
    event = (
        _event(level, ev.RUN_WAITING, path, step=step, node=name, data=payload)
        if level.records[ev.RUN_WAITING]
        else None
    )
    _deliver(level, ev.RUN_WAITING, event, path, (payload, level.store))


def run_answered(frame: Frame, answer: Any) -> None:
    """``interrupt()`` in the node running in ``frame`` returns ``answer``."""
    level, path = frame.level, frame.path
    event = (
        _node_event(frame, ev.RUN_ANSWERED, path, frame.node, data=answer)
        if level.records[ev.RUN_ANSWERED]
        else None
    )
    _deliver(level, ev.RUN_ANSWERED, event, path, (answer, level.store))


def node_skip(frame: Frame, name: str) -> None:
    """Node ``name``, about to start in ``frame``, was skipped (its ``when=`` was false):
    it takes a step like any node execution and reports ``node_skip`` instead of its start
    and end (``frame.node`` stays None, so the next ``advance`` ends nothing)."""
    level = frame.level
    frame.node = None
    frame.step = next(level.step_numbers)
    frame.count += 1
    if frame.recent is not None:
        frame.recent.append(name)
    try:
        path = level.paths[name]
    except KeyError:
        path = level.paths[name] = f"{level.path}/{name}"
    frame.path = path
    event = _node_event(frame, ev.NODE_SKIP, path, name) if level.records[ev.NODE_SKIP] else None
    _deliver(level, ev.NODE_SKIP, event, path, (level.store,))


def cache_hit(frame: Frame) -> None:
    """The node running in ``frame`` took its ``exec`` result (or one batch item's) from
    the result cache."""
    level, path = frame.level, frame.path
    event = (
        _node_event(frame, ev.CACHE_HIT, path, frame.node) if level.records[ev.CACHE_HIT] else None
    )
    _deliver(level, ev.CACHE_HIT, event, path, (level.store,))


def flow_start(level: Level) -> None:
    event = _event(level, ev.FLOW_START, level.path) if level.records[ev.FLOW_START] else None
    _deliver(level, ev.FLOW_START, event, level.path, (level.path.rsplit("/", 1)[-1], level.store))


def flow_end(level: Level, status: str, exc: BaseException | None) -> None:
    event = None
    if level.records[ev.FLOW_END]:
        # A pause is no failure: no error text or traceback to record.
        failure = _failure(exc) if exc and status != "waiting" else {}
        event = _event(level, ev.FLOW_END, level.path, status=status, steps=level.steps, **failure)
    _deliver(level, ev.FLOW_END, event, level.path, (level.steps, level.store))


def custom(frame: Frame, topic: str, data: Any, recorded: bool) -> None:
    """``emit(topic, data)`` from the node running in ``frame`` (or from the flow level
    itself, between nodes): to hooks as ``(name, topic, data, store)`` and to subscribers."""
    level = frame.level
    path = frame.path if frame.node is not None else level.path
    event = None
    if level.records[ev.CUSTOM]:
        event = _event(
            level,
            ev.CUSTOM,
            path,
            step=frame.step if frame.node is not None else None,
            node=frame.node,
            params=frame.params,
            topic=topic,
            data=data,
            recorded=recorded,
        )
    _deliver(level, ev.CUSTOM, event, path, (topic, data, level.store))


def error_text(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def traceback_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
