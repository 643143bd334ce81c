"""The seams where a flow reports into the event stream.

Upstream keeps its loops; we only wrap ``_run``/``_run_async`` (a flow level),
``_orch``/``_orch_async`` (one pass through the graph) and ``get_next_node`` (the moment
one node has finished and the next is chosen). The same functions serve ``HooksMixin``
and ``instrument()``'s wrapt wrappers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextvars import Token
from typing import Any

from ..errors import MaxStepsExceeded, RunCancelled, WaitingForAnswer
from ..graph import base_name, names_cache, naming_root, renamed
from ..stream import dispatch
from ..stream.scope import (
    Frame,
    Level,
    Run,
    current_frame,
    global_hooks,
    global_subscribers,
    pending_options,
    reset_current_frame,
    set_current_frame,
)
from .interrupt import halt_after, halt_before, halts_for, process_halts, report_pause

_advance = dispatch.advance  # called once per node: one module lookup fewer


def flow_label(flow: Any) -> str:
    return base_name(flow)


def _wants_run(flow: Any) -> bool:
    return bool(
        global_subscribers()
        or global_hooks()
        or getattr(flow, "_listeners", None)
        or getattr(flow, "max_steps", None) is not None
        or pending_options() is not None
        or getattr(flow, "halts", None)
        or process_halts() is not None
    )


def _begin_level(flow: Any, shared: Any) -> tuple[Level, Token[Frame | None]] | None:
    parent = current_frame()
    if parent is None:
        if not _wants_run(flow):
            return None  # dormant: nothing listens, nothing to guard
        path = flow_label(flow)
        run = Run(path, shared)
        parent_level = None
        halts = halts_for(flow)
        if halts is not None:
            run.options.extra["halts"] = halts
    else:
        parent_level = parent.level
        run = parent_level.run
        # A flow nested as a node is named by its parent's graph; one started inside a
        # node's code sits under that node.
        path = f"{parent_level.path}/{parent.node or base_name(flow)}"
    names = names_cache(flow)
    level = Level(
        run,
        flow,
        path,
        parent_level,
        names.names(naming_root(flow)),
        names.paths(path),
        tuple(getattr(flow, "_listeners", ())),
        shared,
    )
    if "halts" in run.options.extra:
        level.guarded = True  # halts are checked between nodes, as max_steps is
    if names.conditional:  # conditional nodes start themselves: take the handover path
        level.guarded = True
    token = set_current_frame(Frame(level, None))
    dispatch.flow_start(level)
    return level, token


def _end_level(level: Level, token: Token[Frame | None], exc: BaseException | None) -> None:
    try:
        if exc is None:
            dispatch.flow_end(level, "completed", None)
        else:
            dispatch.flow_end(level, status_for(exc), exc)
    finally:
        reset_current_frame(token)


def status_for(exc: BaseException) -> str:
    if isinstance(exc, WaitingForAnswer):
        return "waiting"
    # CancelledError: Ctrl+C under asyncio.run cancels the main task (and parallel branches).
    stopped = (RunCancelled, KeyboardInterrupt, asyncio.CancelledError)
    return "cancelled" if isinstance(exc, stopped) else "failed"


def run_flow(flow: Any, shared: Any, call: Callable[[Any], Any]) -> Any:
    opened = _begin_level(flow, shared)
    if opened is None:
        return call(shared)
    level, token = opened
    try:
        result = call(shared)
    except BaseException as exc:
        _end_level(level, token, exc)
        raise
    _end_level(level, token, None)
    return result


async def run_flow_async(flow: Any, shared: Any, call: Callable[[Any], Awaitable[Any]]) -> Any:
    opened = _begin_level(flow, shared)
    if opened is None:
        return await call(shared)
    level, token = opened
    try:
        result = await call(shared)
    except BaseException as exc:
        _end_level(level, token, exc)
        raise
    _end_level(level, token, None)
    return result


def _begin_frame(flow: Any, params: Any) -> tuple[Frame, Token[Frame | None]] | None:
    outer = current_frame()
    if outer is None or outer.level.flow is not flow:
        return None
    frame = Frame(outer.level, params or getattr(flow, "params", None) or None)
    token = set_current_frame(frame)
    if flow.start_node is not None:
        try:
            _start(frame, flow.start_node, flow)
        except BaseException:
            reset_current_frame(token)
            raise
    return frame, token


def _fail_frame(frame: Frame, exc: BaseException) -> None:
    if isinstance(exc, WaitingForAnswer):
        report_pause(frame, exc)
    elif frame.node is not None:
        dispatch.node_error(frame, exc)


def _end_frame(frame: Frame, token: Token[Frame | None]) -> None:
    # Counted per frame, not per node: parallel batch passes of one level each add theirs.
    frame.level.steps += frame.count
    reset_current_frame(token)


def orchestrate(
    flow: Any,
    shared: Any,
    params: Any,
    call: Callable[..., Any],
    reporting: Callable[[Frame], Callable[..., Any]] | None = None,
) -> Any:
    """One pass through ``flow``'s graph: ``call(shared, params)`` (upstream's ``_orch``).
    ``reporting(frame)``, when given, returns the call to make instead in an observed pass
    (``HooksMixin``: upstream's loop on a reporting view of the flow, see ``flows/hooks.py``)."""
    opened = _begin_frame(flow, params)
    if opened is None:
        return call(shared, params)
    frame, token = opened
    try:
        if reporting is not None:
            call = reporting(frame)
        return call(shared, params)
    except BaseException as exc:
        _fail_frame(frame, exc)
        raise
    finally:
        _end_frame(frame, token)


async def orchestrate_async(
    flow: Any,
    shared: Any,
    params: Any,
    call: Callable[..., Awaitable[Any]],
    reporting: Callable[[Frame], Callable[..., Awaitable[Any]]] | None = None,
) -> Any:
    opened = _begin_frame(flow, params)
    if opened is None:
        return await call(shared, params)
    frame, token = opened
    try:
        if reporting is not None:
            call = reporting(frame)
        return await call(shared, params)
    except BaseException as exc:
        _fail_frame(frame, exc)
        raise
    finally:
        _end_frame(frame, token)


def next_node(flow: Any, curr: Any, action: Any, call: Callable[..., Any]) -> Any:
    """``curr`` finished with ``action``; upstream picks the next node with
    ``call(flow, curr, action)`` (its ``get_next_node``, under ``instrument()``). Reported
    when ``flow`` runs in the current frame (``handed_over``)."""
    frame = current_frame()
    if frame is None or frame.level.flow is not flow:
        return call(flow, curr, action)
    try:
        nxt = call(flow, curr, action)
    except BaseException:  # e.g. upstream's "Flow ends" warning raised as an error
        _advance(frame, action, None)  # the node itself did finish
        raise
    return handed_over(frame, action, nxt)


def handed_over(frame: Frame, action: Any, nxt: Any) -> Any:
    """The node running in ``frame`` finished with ``action`` and upstream chose ``nxt``
    (None: the pass ends): the finished node ends and the next one starts. Returns ``nxt``.
    If the run can be stopped (``max_steps``, a cancel flag, halts) it is checked between
    the two."""
    if nxt is None:
        _advance(frame, action, None)
        return None
    level = frame.level
    try:
        name = level.names[id(nxt)]
    except KeyError:
        name = _new_node_name(level, nxt)
    if not level.guarded:
        _advance(frame, action, name)  # one call: nothing can stop the next node
    else:
        finished, finished_path = frame.node, frame.path
        _advance(frame, action, None)
        if finished is not None:
            halt_after(frame, finished, finished_path)
        _check_guards(frame, name)
        _hand_over(frame, nxt, name)
    return nxt


def _start(frame: Frame, node: Any, flow: Any) -> None:
    """Start the first node of a pass through the graph."""
    level = frame.level
    try:
        name = level.names[id(node)]
    except KeyError:
        name = _new_node_name(level, node)
    if level.guarded:
        _check_guards(frame, name)
    _hand_over(frame, node, name)


def _hand_over(frame: Frame, node: Any, name: str) -> None:
    """Start node ``name``, or, when it has a ``when=`` predicate, leave its start to it:
    it reports either its start or a skip once it has asked the predicate (nodes/when.py)."""
    if getattr(node, "when", None) is None:
        dispatch.advance(frame, None, name)
    else:
        frame.pending = name


def _new_node_name(level: Level, node: Any) -> str:
    """A node the level's names do not know: an edge was added since they were computed."""
    level.names = renamed(level.flow)
    return level.names.get(id(node)) or base_name(node)


def _check_guards(frame: Frame, name: str) -> None:
    """Stop before node ``name`` if the run was cancelled or ``max_steps`` is used up;
    pause there if a halt names it."""
    level = frame.level
    cancel = level.run.cancel
    if cancel is not None and cancel.is_set():
        raise RunCancelled(
            f"run {level.run.run_id!r} of flow {level.run.flow_name!r} was cancelled before "
            f"node {name!r}; resume it to continue from there"
        )
    if level.max_steps is not None and frame.count >= level.max_steps:
        trail = " -> ".join(frame.recent or ())
        raise MaxStepsExceeded(
            f"flow {level.path!r} exceeded max_steps={level.max_steps} "
            f"(last nodes run: {trail}); raise max_steps or check the loop's exit action"
        )
    halt_before(frame, name)
