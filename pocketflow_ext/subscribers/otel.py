"""OpenTelemetryTracer: a span per run and per node execution (``pip install
"pocketflow-ext[otel]"``). The OpenTelemetry API is imported when a tracer is built, never
by the core.

By default the flow's thread only queues the events of ends (an SDK span costs more than a
whole upstream node); a daemon thread builds each run's spans when the run ends, with the
events' own times and parents found from the paths (``span_tree.py``). With ``live=True``
spans are built as events happen and a running node's span is the current span of its
context, so spans the node's own code creates (an instrumented HTTP or LLM client) nest
under it; parents then come from the open spans above each path.
"""

from __future__ import annotations

import atexit
import os
import secrets
import sys
import threading
from collections import deque
from typing import Any

from ..errors import ConfigurationError
from ..logging import get_logger
from ..stream import events as ev
from ..stream.events import Event
from .span_tree import SpanItem, span_tree

_log = get_logger("otel")

TRACER_NAME = "pocketflow_ext"
_WANTED_AT_END = frozenset({ev.FLOW_START, ev.FLOW_END, ev.NODE_END, ev.NODE_RETRY, ev.NODE_ERROR})
_WANTED = _WANTED_AT_END | {ev.NODE_START}


def opentelemetry() -> tuple[Any, Any]:
    """``(opentelemetry.trace, opentelemetry.context)``, or a ConfigurationError saying how
    to install them."""
    try:
        from opentelemetry import context, trace
    except ImportError:
        raise ConfigurationError(
            'tracing needs OpenTelemetry: pip install "pocketflow-ext[otel]"'
        ) from None
    return trace, context


def _ns(ts: float) -> int:
    return int(ts * 1e9)


class _Open:
    """A span that has started and not ended, with what its end needs."""

    __slots__ = ("span", "path", "is_flow", "token", "retries")

    def __init__(self, span: Any, path: str, is_flow: bool) -> None:
        self.span = span
        self.path = path
        self.is_flow = is_flow
        self.token: Any = None
        self.retries: list[Event] = []


class OpenTelemetryTracer:
    """Subscriber turning runs into OpenTelemetry traces.

    ``tracer_provider``: any ``TracerProvider`` (default: the global one, which the SDK or
    an auto-instrumentation agent configures). Span attributes: ``pocketflow.run_id``,
    ``pocketflow.flow``, ``pocketflow.path``, ``pocketflow.node``, ``pocketflow.step``,
    ``pocketflow.action``, ``pocketflow.attempts``, ``pocketflow.status``; retries are span
    events named ``retry``; failed nodes and runs have status ERROR and the exception.

    ``live=False`` (default): the flow's thread only queues the events; a daemon thread
    builds each run's spans once the run has ended, checking when a run ends and every
    ``build_every`` seconds (None: only when :meth:`flush` is called). :meth:`flush`
    builds the ended runs now (tests, before reading an exporter); at interpreter exit
    every queued run is built, unfinished ones too. ``live=True``: spans are built as
    events happen, and a running node's span is current in its context (see the module
    doc).

    >>> from opentelemetry.sdk.trace import TracerProvider  # doctest: +SKIP
    >>> flow.subscribe(OpenTelemetryTracer(TracerProvider()))  # doctest: +SKIP
    """

    def __init__(
        self, tracer_provider: Any = None, *, live: bool = False, build_every: float | None = 1.0
    ) -> None:
        trace, context = opentelemetry()
        self._trace = trace
        self._context = context
        self._status = trace.Status
        self._error = trace.StatusCode.ERROR
        provider = tracer_provider if tracer_provider is not None else trace.get_tracer_provider()
        self.tracer = provider.get_tracer(TRACER_NAME)
        if build_every is not None and (
            isinstance(build_every, bool)
            or not isinstance(build_every, (int, float))
            or build_every <= 0
        ):
            raise ConfigurationError(
                f"build_every must be a number of seconds > 0 or None, got {build_every!r}"
            )
        self.live = live
        self.build_every = build_every
        self._lock = threading.Lock()
        # Events waiting for the span builder (live=False); deque appends are atomic.
        self._queue: deque[Event] = deque()
        self._runs: dict[str, list[Event]] = {}  # events of runs not ended yet, by run id
        self._callers: dict[str, Any] = {}  # the span current where each run started
        self._wake = threading.Event()
        self._builder: threading.Thread | None = None
        self._build_lock = threading.Lock()  # one drain at a time, in event order
        if not live:
            # Registered after the provider's shutdown (provider_from_env), so it runs first.
            atexit.register(self.flush, unfinished=True)
        # (run id, step) -> open node span; (run id, path) -> open spans at that path,
        # newest last (parallel batch items share a path).
        self._nodes: dict[tuple[str, int | None], _Open] = {}
        self._by_path: dict[tuple[str, str], list[_Open]] = {}

    def wants(self, kind: str) -> bool:
        # Built from their ends, spans need no node_start records (the most frequent).
        return kind in _WANTED if self.live else kind in _WANTED_AT_END

    def __call__(self, event: Event) -> None:
        if self.live:
            self._handle(event)
            return
        self._queue.append(event)
        if event.path == event.flow_name:  # the run's own flow: once per run
            if event.kind == ev.FLOW_START:
                # The span current where the run starts (a web request) is its parent.
                caller = self._trace.get_current_span()
                if caller.get_span_context().is_valid:
                    self._callers[event.run_id] = caller
                if self._builder is None and self.build_every is not None:
                    self._start_builder()
            elif event.kind == ev.FLOW_END:
                self._wake.set()  # a run ended: its trace is complete

    @property
    def pending(self) -> int:
        """Events queued for the span builder and not yet taken."""
        return len(self._queue)

    def flush(self, unfinished: bool = False) -> None:
        """Build the spans of every run that has ended, in this thread; with
        ``unfinished=True`` also those of runs still going (their open spans end at their
        last event, with ``pocketflow.status`` "unfinished"), as at interpreter exit."""
        with self._build_lock:
            queued, runs = self._queue, self._runs
            while queued:
                event = queued.popleft()
                runs.setdefault(event.run_id, []).append(event)
                if event.kind == ev.FLOW_END and event.path == event.flow_name:
                    self._build(event.run_id, runs.pop(event.run_id))
            if unfinished:
                for run_id in list(runs):
                    self._build(run_id, runs.pop(run_id))

    def _build(self, run_id: str, events: list[Event]) -> None:
        try:
            self._build_run(run_id, events)
        except Exception:  # one bad trace must not stop the others
            _log.exception("building the spans of run %s failed", run_id)

    def _build_run(self, run_id: str, events: list[Event]) -> None:
        items = span_tree(events)
        last_ts = max(e.ts for e in events)
        caller = self._callers.pop(run_id, None)
        spans: dict[int, Any] = {}

        def span_of(item: SpanItem) -> Any:
            span = spans.get(id(item))
            if span is None:
                parent = item.parent
                if parent is not None:
                    context = self._trace.set_span_in_context(span_of(parent))
                elif caller is not None:
                    context = self._trace.set_span_in_context(caller)
                else:
                    context = None
                span = spans[id(item)] = self.tracer.start_span(
                    item.path,
                    context=context,
                    start_time=_ns(item.start),
                    attributes=_attributes(item.kind, item.first),
                )
            return span

        for item in items:
            span = span_of(item)
            if item.kind == "node":
                self._finish_node(span, item.first, item.retries)
            else:
                self._finish_level(span, item.last, item.end if item.end else last_ts)

    def _start_builder(self) -> None:
        with self._lock:
            if self._builder is not None:
                return
            self._builder = threading.Thread(
                target=self._build_forever, name="pocketflow-ext-otel", daemon=True
            )
            self._builder.start()

    def _build_forever(self) -> None:
        while True:
            self._wake.wait(self.build_every)
            self._wake.clear()
            self.flush()

    def _handle(self, event: Event) -> None:
        kind = event.kind
        if kind == ev.NODE_START:
            self._start_node(event)
        elif kind == ev.NODE_END:
            self._end_node(event, None)
        elif kind == ev.NODE_ERROR:
            self._end_node(event, event.exc)
        elif kind == ev.NODE_RETRY:
            self._retry(event)
        elif kind == ev.FLOW_START:
            self._start_flow(event)
        elif kind == ev.FLOW_END:
            self._end_flow(event)

    # ── parents ──────────────────────────────────────────────────────────────
    def _parent(self, run_id: str, path: str, include_self: bool) -> Any:
        """The OpenTelemetry context of the nearest open span above ``path`` in this run
        (or at ``path`` itself: the node a nested flow runs as)."""
        by_path = self._by_path
        probe = path if include_self else path.rpartition("/")[0]
        while probe:
            opened = by_path.get((run_id, probe))
            if opened:
                return self._trace.set_span_in_context(opened[-1].span)
            probe = probe.rpartition("/")[0]
        return None

    def _open(self, run_id: str, opened: _Open) -> None:
        self._by_path.setdefault((run_id, opened.path), []).append(opened)

    def _close(self, run_id: str, opened: _Open) -> None:
        key = (run_id, opened.path)
        stack = self._by_path.get(key)
        if stack is not None:
            try:
                stack.remove(opened)
            except ValueError:
                pass
            if not stack:
                del self._by_path[key]

    # ── live: spans as events happen ─────────────────────────────────────────
    def _start_flow(self, event: Event) -> None:
        top = event.path == event.flow_name
        with self._lock:
            # The top flow's parent is whatever span is current where the run starts.
            parent = None if top else self._parent(event.run_id, event.path, True)
            span = self.tracer.start_span(
                event.path,
                context=parent,
                start_time=_ns(event.ts),
                attributes=_attributes("run" if top else "flow", event),
            )
            self._open(event.run_id, _Open(span, event.path, True))

    def _end_flow(self, event: Event) -> None:
        with self._lock:
            stack = self._by_path.get((event.run_id, event.path))
            # The newest open span at this path that is a flow's, not a node's.
            opened = next((o for o in reversed(stack or ()) if o.is_flow), None)
            if opened is None:
                return
            self._close(event.run_id, opened)
        self._finish_level(opened.span, event, event.ts)

    def _start_node(self, event: Event) -> None:
        with self._lock:
            parent = self._parent(event.run_id, event.path, False)
            span = self.tracer.start_span(
                event.path,
                context=parent,
                start_time=_ns(event.ts),
                attributes=_attributes("node", event),
            )
            opened = _Open(span, event.path, False)
            self._nodes[(event.run_id, event.step)] = opened
            self._open(event.run_id, opened)
        # Current in the node's context: spans its own code creates nest under it.
        opened.token = self._context.attach(self._trace.set_span_in_context(span))

    def _end_node(self, event: Event, exc: BaseException | None) -> None:
        with self._lock:
            opened = self._nodes.pop((event.run_id, event.step), None)
            if opened is None:
                return
            self._close(event.run_id, opened)
        span = opened.span
        if opened.token is not None and self._trace.get_current_span() is span:
            # Only in the context that made it current (always so when the node ran here).
            self._context.detach(opened.token)
        self._finish_node(span, event, opened.retries)

    def _retry(self, event: Event) -> None:
        opened = self._nodes.get((event.run_id, event.step))
        if opened is not None:
            opened.retries.append(event)

    # ── both: what a span says when it ends ──────────────────────────────────
    def _finish_node(self, span: Any, end: Event, retries: list[Event]) -> None:
        """End a node's span at its ``node_end``/``node_error``, with its retries."""
        for retry in retries:
            span.add_event(
                "retry",
                attributes={
                    "pocketflow.attempt": retry.attempt or 0,
                    "pocketflow.delay_s": retry.delay_s or 0.0,
                    "exception.message": retry.error or "",
                },
                timestamp=_ns(retry.ts),
            )
        if end.action is not None:
            span.set_attribute("pocketflow.action", str(end.action))
        span.set_attribute("pocketflow.attempts", len(retries) + 1)
        if end.kind == ev.NODE_ERROR:
            if end.exc is not None:
                span.record_exception(end.exc, timestamp=_ns(end.ts))
            span.set_status(self._status(self._error, end.error or "failed"))
        span.end(end_time=_ns(end.ts))

    def _finish_level(self, span: Any, end: Event | None, end_ts: float) -> None:
        """End a flow level's span at its ``flow_end`` (None: it never ended)."""
        status = (end.status or "completed") if end is not None else "unfinished"
        span.set_attribute("pocketflow.status", status)
        if end is not None and end.steps is not None:
            span.set_attribute("pocketflow.steps", end.steps)
        if status == "failed" and end is not None:
            if end.exc is not None:
                span.record_exception(end.exc, timestamp=_ns(end.ts))
            span.set_status(self._status(self._error, end.error or "failed"))
        span.end(end_time=_ns(end_ts))


def _attributes(kind: str, event: Event) -> dict[str, str | int]:
    attributes: dict[str, str | int] = {
        "pocketflow.run_id": event.run_id,
        "pocketflow.flow": event.flow_name,
        "pocketflow.path": event.path,
        "pocketflow.kind": kind,
    }
    if kind == "node":
        attributes["pocketflow.node"] = event.node or event.path.rpartition("/")[2]
        if event.step is not None:
            attributes["pocketflow.step"] = event.step
    return attributes


def provider_from_env() -> Any:
    """A tracer provider configured by the standard ``OTEL_*`` variables, made global.

    Kept as is when one is already configured (``opentelemetry-instrument``, your own
    code). Otherwise an SDK ``TracerProvider`` with the resource from
    ``OTEL_SERVICE_NAME``/``OTEL_RESOURCE_ATTRIBUTES`` and a batch processor per exporter
    in ``OTEL_TRACES_EXPORTER`` (default ``otlp``; ``console`` writes to stderr, ``none``
    exports nothing). ``otlp`` needs ``opentelemetry-exporter-otlp`` and follows
    ``OTEL_EXPORTER_OTLP_PROTOCOL`` (``http/protobuf`` default, or ``grpc``) and
    ``OTEL_EXPORTER_OTLP_ENDPOINT``. Spans still buffered are exported at exit.
    """
    trace, _ = opentelemetry()
    current = trace.get_tracer_provider()
    if type(current).__name__ not in ("ProxyTracerProvider", "NoOpTracerProvider"):
        return current
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        raise ConfigurationError(
            'tracing from OTEL_* variables needs the SDK: pip install "pocketflow-ext[otel]"'
        ) from None
    # Span ids from secrets: the SDK's default draws from the global random generator,
    # which a script seeding random would see disturbed.
    provider = TracerProvider(resource=Resource.create(), id_generator=_secret_ids())
    names = os.environ.get("OTEL_TRACES_EXPORTER", "otlp")
    for name in (each.strip().lower() for each in names.split(",")):
        if name in ("", "none"):
            continue
        provider.add_span_processor(BatchSpanProcessor(_exporter(name)))
    trace.set_tracer_provider(provider)
    atexit.register(provider.shutdown)  # export what is still buffered
    return provider


def _secret_ids() -> Any:
    """An SDK ``IdGenerator`` drawing trace and span ids from ``secrets``."""
    from opentelemetry.sdk.trace.id_generator import IdGenerator

    class SecretIds(IdGenerator):
        def generate_span_id(self) -> int:
            return secrets.randbits(64) or 1

        def generate_trace_id(self) -> int:
            return secrets.randbits(128) or 1

    return SecretIds()


def _exporter(name: str) -> Any:
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter(out=sys.stderr)  # stdout belongs to the script
    if name == "otlp":
        grpc = os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf") == "grpc"
        try:
            if grpc:
                from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
            else:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                    OTLPSpanExporter,
                )
        except ImportError:
            raise ConfigurationError(
                "OTEL_TRACES_EXPORTER=otlp needs an OTLP exporter: pip install "
                f"opentelemetry-exporter-otlp-proto-{'grpc' if grpc else 'http'} "
                "(or set OTEL_TRACES_EXPORTER=console)"
            ) from None
        return OTLPSpanExporter()
    raise ConfigurationError(
        f"OTEL_TRACES_EXPORTER={name!r} is not supported here; use otlp, console or none"
    )


def plugin() -> OpenTelemetryTracer:
    """The ``otel`` plugin: a tracer on the provider ``OTEL_*`` variables configure."""
    return OpenTelemetryTracer(provider_from_env())
