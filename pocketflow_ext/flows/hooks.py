"""HooksMixin: ``flow.on(event, callback)``, internal subscribers, ``flow_name`` and ``max_steps``."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from ..errors import ConfigurationError, HookError
from ..graph import GraphNames, check_label
from ..nodes.variants import variant
from ..runstore.runs import check_run_id
from ..stream import dispatch
from ..stream.events import EVENT_KINDS, HOOK_SIGNATURES, Subscriber
from ..stream.scope import Frame, new_run_id
from ..subscribers.trace import ConsoleTrace
from . import observe
from .pickling import check_hooks_pickle


class HooksMixin:
    """Report a flow's execution into the event stream and let users hook into it.

    ``flow.on("node_end", cb)`` registers a PocoFlow-style hook; ``flow.subscribe(fn)``
    receives every :class:`~pocketflow_ext.Event` of the flow's runs (nested flows too).
    Both run in registration order; one that raises is logged, never breaks the run.
    """

    flow_name: str | None = None
    max_steps: int | None = None
    _listeners: tuple[tuple[str | None, Callable[..., Any]], ...] = ()

    def __init__(
        self, *args: Any, flow_name: str | None = None, max_steps: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        if flow_name is not None:
            self.flow_name = _check_flow_name(flow_name)
        if max_steps is not None:
            if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
                raise ConfigurationError(
                    f"max_steps must be a positive int (or None for no limit), got {max_steps!r}"
                )
            self.max_steps = max_steps
        # Created here so upstream's per-step copy.copy of a nested flow shares the cache.
        self._graph_names = GraphNames()

    def on(self, event: str, callback: Callable[..., Any]) -> Any:
        """Call ``callback`` on ``event``; returns the flow so calls chain.

        Events and signatures: ``flow_start(flow_name, store)``, ``node_start(name, store)``,
        ``node_retry(name, attempt, exc, delay_s, store)``,
        ``node_end(name, action, elapsed_s, store)``, ``node_error(name, exc, store)``,
        ``flow_end(steps, store)``, ``node_skip(name, store)`` (a ``when=`` was false),
        ``cache_hit(name, store)`` (``exec`` came from the result cache).
        """
        if event not in HOOK_SIGNATURES:
            raise HookError(
                f"unknown hook event {event!r} on flow {observe.flow_label(self)!r}; "
                f"choose one of {', '.join(EVENT_KINDS)}"
            )
        if not callable(callback):
            raise TypeError(
                f"hook for {event!r} must be callable with signature {HOOK_SIGNATURES[event]}, "
                f"got {type(callback).__name__}"
            )
        self._listeners = (*self._listeners, (event, callback))
        return self

    def subscribe(self, subscriber: Subscriber) -> Any:
        """Send every event record of this flow's runs to ``subscriber(event)``; returns the flow."""
        if not callable(subscriber):
            raise TypeError(f"subscriber must be callable, got {type(subscriber).__name__}")
        self._listeners = (*self._listeners, (None, subscriber))
        return self

    def unsubscribe(self, listener: Callable[..., Any]) -> Any:
        """Remove a hook or subscriber registered with ``on`` or ``subscribe``; returns the flow."""
        self._listeners = tuple(e for e in self._listeners if e[1] is not listener)
        return self

    def trace(self, mode: str | None = None) -> Any:
        """Print this flow's runs to stderr as they happen; returns the flow.

        ``mode``: "friendly", "plain", "off", or None for ``$POCKETFLOW_EXT_TRACE`` / auto.
        """
        return self.subscribe(ConsoleTrace(mode))

    # Pickling a flow (into a process pool, a Dask worker) sends its hooks along: one that
    # cannot be sent is named first. The node names cached by id() stay behind: the nodes
    # arriving elsewhere (or deep-copied) have other ids. Upstream's per-step copy.copy
    # shares the very same nodes, so it keeps the cache and skips the check.
    def __getstate__(self) -> Any:
        check_hooks_pickle(self)
        return {**self.__dict__, "_graph_names": GraphNames()}

    def __copy__(self) -> Any:
        clone = type(self).__new__(type(self))
        clone.__dict__.update(self.__dict__)
        return clone

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        clone = type(self).__new__(type(self))
        memo[id(self)] = clone
        state = {**self.__dict__, "_graph_names": None}
        clone.__dict__.update(copy.deepcopy(state, memo), _graph_names=GraphNames())
        return clone

    def _run(self, shared: Any) -> Any:
        return observe.run_flow(self, shared, super()._run)  # type: ignore[misc]

    async def _run_async(self, shared: Any) -> Any:
        return await observe.run_flow_async(self, shared, super()._run_async)  # type: ignore[misc]

    # Upstream's loop runs each pass. Dormant (nothing listens, nothing to guard), it runs on
    # the flow itself, exactly as upstream: this class adds no get_next_node, so a drop-in
    # flow pays nothing per node. Observed, it runs on a reporting view of the flow.
    def _orch(self, shared: Any, params: Any = None) -> Any:
        return observe.orchestrate(self, shared, params, super()._orch, self._reporting_orch)  # type: ignore[misc]

    async def _orch_async(self, shared: Any, params: Any = None) -> Any:
        return await observe.orchestrate_async(
            self,
            shared,
            params,
            super()._orch_async,  # type: ignore[misc]
            self._reporting_orch_async,
        )

    def _reporting_orch(self, frame: Frame) -> Callable[..., Any]:
        return super(HooksMixin, reporting_view(self, frame))._orch  # type: ignore[misc]

    def _reporting_orch_async(self, frame: Frame) -> Callable[..., Any]:
        return super(HooksMixin, reporting_view(self, frame))._orch_async  # type: ignore[misc]


class ReportingPass:
    """In front of a flow's class in its reporting view: each handover upstream's loop asks
    for (``get_next_node``) is reported in the view's frame. The class chain after it is the
    flow's own, looked up on every call, so user overrides and wrappers a tracing
    integration puts on upstream's method later are honoured, and what they return is what
    gets reported."""

    __slots__ = ("_pf_frame",)
    _pf_frame: Frame
    variant_of: tuple[type, tuple[type, ...]]  # set on the view class (nodes/variants.py)

    def get_next_node(self, curr: Any, action: Any) -> Any:
        frame = self._pf_frame
        try:
            nxt = self.variant_of[0].get_next_node(self, curr, action)  # type: ignore[attr-defined]
        except BaseException:  # e.g. upstream's "Flow ends" warning raised as an error
            _advance(frame, action, None)  # the node itself did finish
            raise
        if nxt is not None:  # the common case, without handed_over's call (once per node)
            level = frame.level
            name = level.names.get(id(nxt))
            if name is not None and not level.guarded:
                _advance(frame, action, name)
                return nxt
        return _handed_over(frame, action, nxt)


_advance = dispatch.advance  # once per node: module globals, not attribute chains
_handed_over = observe.handed_over


def reporting_view(flow: Any, frame: Frame) -> Any:
    """``flow`` for one observed pass of upstream's loop: an object of its class's variant
    with :class:`ReportingPass` in front (made once per class), sharing ``flow``'s very
    ``__dict__`` (attributes read or set during the pass are the flow's), reporting into
    ``frame``. Neither the flow nor its class is changed."""
    view: Any = object.__new__(variant(type(flow), (ReportingPass,)))
    view.__dict__ = flow.__dict__
    view._pf_frame = frame
    return view


def _check_flow_name(flow_name: Any) -> str:
    """A flow name must make valid run ids, or every recorded run would fail later."""
    name = check_label(flow_name, "flow_name")
    try:
        check_run_id(new_run_id(name))
    except ConfigurationError:
        shown = f"{name[:40]!r}" + (f"... ({len(name)} characters)" if len(name) > 40 else "")
        raise ConfigurationError(
            f"flow_name {shown} cannot name runs: run ids are '<flow_name>-<8 hex>', 1-200 "
            "characters with no '/' and no control character (newline, tab, ...), so a "
            "flow_name is at most 191 such characters; choose a short one-line name"
        ) from None
    return name
