"""PrometheusMetrics: run and node metrics from the event stream (``pip install
"pocketflow-ext[metrics]"``). prometheus_client is imported when a subscriber is built,
never by the core.

Labels are the flow name and the node's path (``Outer/Inner/Summarise``): both fixed by the
graph, so the number of series stays bounded (no run ids as labels).
"""

from __future__ import annotations

import os
import threading
from bisect import bisect_left
from collections import deque
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigurationError
from ..stream import events as ev
from ..stream.events import Event

NAMESPACE = "pocketflow_ext"
MULTIPROC_ENV_VAR = "PROMETHEUS_MULTIPROC_DIR"
# Seconds: LLM-backed nodes take from milliseconds to minutes.
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)

# Kinds added by other features; counted by name when they occur.
NODE_SKIP = "node_skip"
CACHE_HIT = "cache_hit"
_WANTED = frozenset(
    {ev.FLOW_START, ev.FLOW_END, ev.NODE_END, ev.NODE_RETRY, ev.NODE_ERROR, NODE_SKIP, CACHE_HIT}
)


def prometheus() -> Any:
    """The prometheus_client module, or a ConfigurationError saying how to install it."""
    try:
        import prometheus_client
    except ImportError:
        raise ConfigurationError(
            'metrics need prometheus_client: pip install "pocketflow-ext[metrics]"'
        ) from None
    return prometheus_client


class NodeDurations:
    """``node_duration_seconds`` as a collector of plain counts. A node's end only appends
    ``(path, seconds)`` to a queue (prometheus_client's ``Histogram.observe`` costs about
    as much as a whole upstream node); the queue is folded into bucket counts when scraped
    (off the flow's thread) or when it grows long. Single-process only: multi-process mode
    uses the Histogram, whose values live in the shared files."""

    FOLD_AT = 50_000  # queued observations folded on the flow's thread, at most

    def __init__(self, buckets: Sequence[float]) -> None:
        self.bounds = sorted(float(b) for b in buckets if b != float("inf"))
        # node path -> [count per bucket (+Inf last)..., sum]. Keyed by the path alone: it
        # starts with the run's flow name, so the flow label is read off it when collected.
        self._series: dict[str, list[float]] = {}
        self._queue: deque[tuple[str, float]] = deque()  # appends are atomic
        self._lock = threading.Lock()

    def observe(self, path: str, seconds: float) -> None:
        self._queue.append((path, seconds))
        if len(self._queue) >= self.FOLD_AT:
            self.fold()

    def fold(self) -> None:
        """Count the queued observations into their buckets."""
        bounds, queued = self.bounds, self._queue
        with self._lock:
            series_of = self._series
            while queued:
                path, seconds = queued.popleft()
                series = series_of.get(path)
                if series is None:
                    series = series_of[path] = [0.0] * (len(bounds) + 2)
                series[bisect_left(bounds, seconds)] += 1  # le is inclusive: bisect_left
                series[-1] += seconds

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Any:
        from prometheus_client.core import HistogramMetricFamily

        family = HistogramMetricFamily(
            f"{NAMESPACE}_node_duration_seconds",
            "Node execution time (prep, exec with retries, post), by node path.",
            labels=["flow", "node"],
        )
        self.fold()
        with self._lock:
            snapshot = {key: list(series) for key, series in self._series.items()}
        labels = [*(format(b, "g") for b in self.bounds), "+Inf"]
        for path, series in sorted(snapshot.items()):
            cumulative, running = [], 0.0
            for label, count in zip(labels, series[:-1], strict=True):
                running += count
                cumulative.append((label, running))
            family.add_metric([path.partition("/")[0], path], cumulative, sum_value=series[-1])
        yield family


class _Metrics:
    """The metric objects of one registry (created once: a registry refuses duplicates)."""

    def __init__(self, registry: Any, buckets: Sequence[float]) -> None:
        pc = prometheus()
        common: dict[str, Any] = {"namespace": NAMESPACE, "registry": registry}
        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV_VAR))
        self.runs = pc.Counter(
            "runs", "Finished top-level runs by final status.", ["flow", "status"], **common
        )
        # livesum: in multi-process mode the gauge is the sum over live processes.
        self.in_progress = pc.Gauge(
            "runs_in_progress",
            "Top-level runs going on now.",
            ["flow"],
            multiprocess_mode="livesum",
            **common,
        )
        self.run_seconds = pc.Histogram(
            "run_duration_seconds", "Run wall time.", ["flow"], buckets=buckets, **common
        )
        self.node_seconds: Any
        if self.multiprocess:
            self.node_seconds = pc.Histogram(
                "node_duration_seconds",
                "Node execution time (prep, exec with retries, post), by node path.",
                ["flow", "node"],
                buckets=buckets,
                **common,
            )
        else:
            self.node_seconds = NodeDurations(buckets)
            registry.register(self.node_seconds)
        self.retries = pc.Counter(
            "node_retries", "Failed exec attempts that were retried.", ["flow", "node"], **common
        )
        self.errors = pc.Counter(
            "node_errors", "Node executions that raised.", ["flow", "node"], **common
        )
        self.cache_hits = pc.Counter(
            "cache_hits", "Node executions answered from the cache.", ["flow", "node"], **common
        )
        self.skips = pc.Counter(
            "node_skips", "Nodes skipped by their when= condition.", ["flow", "node"], **common
        )


_by_registry: dict[int, tuple[Any, _Metrics]] = {}
_lock = threading.Lock()


def _metrics_for(registry: Any, buckets: Sequence[float]) -> _Metrics:
    with _lock:
        found = _by_registry.get(id(registry))
        if found is None or found[0] is not registry:
            found = (registry, _Metrics(registry, buckets))
            _by_registry[id(registry)] = found
        return found[1]


class PrometheusMetrics:
    """Subscriber counting runs and timing nodes for Prometheus.

    ``pocketflow_ext.subscribe(PrometheusMetrics())`` (every flow of the process) or
    ``flow.subscribe(...)``; expose them with :func:`serve_metrics`. ``registry`` defaults
    to prometheus_client's global one; ``buckets`` are the histograms' bounds in seconds
    (fixed by the first subscriber of a registry).

    >>> from pocketflow_ext.subscribers.metrics import PrometheusMetrics, serve_metrics
    >>> pocketflow_ext.subscribe(PrometheusMetrics())  # doctest: +SKIP
    >>> serve_metrics(9464)  # doctest: +SKIP
    """

    def __init__(self, registry: Any = None, buckets: Sequence[float] = DEFAULT_BUCKETS) -> None:
        pc = prometheus()
        self.registry = registry if registry is not None else pc.REGISTRY
        self._m = _metrics_for(self.registry, buckets)
        durations = self._m.node_seconds
        # Node ends are most of the events: their path is bound once, here.
        self._observe = durations.observe if isinstance(durations, NodeDurations) else None
        self._run_started: dict[str, float] = {}
        self._children: dict[tuple[Any, ...], Any] = {}

    def wants(self, kind: str) -> bool:
        # node_start is the most frequent record and carries nothing to count.
        return kind in _WANTED

    def __call__(self, event: Event) -> None:
        kind = event.kind
        if kind == ev.NODE_END:
            if self._observe is not None:  # the common case, inlined: once per node
                self._observe(event.path, event.elapsed_s or 0.0)
            else:
                self._node_time(event)
            return
        top = event.path == event.flow_name  # the run's own flow, not a nested one
        flow = event.flow_name
        if kind == ev.FLOW_START:
            if top:
                self._run_started[event.run_id] = event.ts
                self._child(self._m.in_progress, flow).inc()
        elif kind == ev.FLOW_END:
            if top:
                self._child(self._m.in_progress, flow).dec()
                self._child(self._m.runs, flow, event.status or "completed").inc()
                started = self._run_started.pop(event.run_id, None)
                if started is not None:
                    seconds = max(0.0, event.ts - started)
                    self._child(self._m.run_seconds, flow).observe(seconds)
        elif kind == ev.NODE_ERROR:
            self._node_time(event)
            self._child(self._m.errors, flow, event.path).inc()
        elif kind == ev.NODE_RETRY:
            self._child(self._m.retries, flow, event.path).inc()
        elif kind == CACHE_HIT:
            self._child(self._m.cache_hits, flow, event.path).inc()
        elif kind == NODE_SKIP:
            self._child(self._m.skips, flow, event.path).inc()

    def _child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, found once per series (``labels()`` takes a lock
        and validates every value: several microseconds per run otherwise)."""
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def _node_time(self, event: Event) -> None:
        seconds = event.elapsed_s or 0.0
        if self._observe is not None:
            self._observe(event.path, seconds)
        else:  # multi-process mode: prometheus_client's Histogram
            self._child(self._m.node_seconds, event.flow_name, event.path).observe(seconds)


def metrics_registry(registry: Any = None, multiprocess_dir: str | None = None) -> Any:
    """The registry to expose: ``registry``, or in multi-process mode (``multiprocess_dir``
    or ``$PROMETHEUS_MULTIPROC_DIR``) a fresh one collecting every process's files."""
    pc = prometheus()
    directory = multiprocess_dir or os.environ.get(MULTIPROC_ENV_VAR)
    if directory:
        if not os.path.isdir(directory):
            raise ConfigurationError(
                f"{MULTIPROC_ENV_VAR} is {directory!r}, which is not a directory; create it "
                "(empty) before the worker processes start"
            )
        from prometheus_client import multiprocess

        collected = pc.CollectorRegistry()
        multiprocess.MultiProcessCollector(collected, path=directory)
        return collected
    return registry if registry is not None else pc.REGISTRY


def serve_metrics(
    port: int,
    addr: str = "127.0.0.1",
    registry: Any = None,
    multiprocess_dir: str | None = None,
) -> Any:
    """Serve ``/metrics`` over HTTP on ``addr:port`` from a daemon thread; returns the
    server (``server.server_port`` is the port, useful with ``port=0``; ``shutdown()``
    stops it). ``addr`` is this machine only by default; ``"0.0.0.0"`` lets a Prometheus
    on another machine scrape. In multi-process mode it serves the sum over every process (see
    :func:`metrics_registry` and docs/metrics.md)."""
    pc = prometheus()
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ConfigurationError(f"port must be a whole number from 0 to 65535, got {port!r}")
    served = metrics_registry(registry, multiprocess_dir)
    try:
        started = pc.start_http_server(port, addr=addr, registry=served)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot serve metrics on {addr}:{port} ({exc.strerror or exc}); choose a free port"
        ) from exc
    return started[0] if isinstance(started, tuple) else started


PORT_ENV_VAR = "POCKETFLOW_EXT_METRICS_PORT"
_served: dict[int, Any] = {}


def serve_once(port: int) -> Any:
    """``serve_metrics(port)`` unless this process already serves on that port."""
    with _lock:
        if port not in _served:
            _served[port] = serve_metrics(port)
        return _served[port]


def plugin() -> PrometheusMetrics:
    """The ``metrics`` plugin: a subscriber on the global registry, served on
    ``$POCKETFLOW_EXT_METRICS_PORT`` when that is set."""
    metrics = PrometheusMetrics()
    text = os.environ.get(PORT_ENV_VAR, "").strip()
    if text:
        try:
            port = int(text)
        except ValueError:
            raise ConfigurationError(
                f"{PORT_ENV_VAR} must be a port number, got {text!r}"
            ) from None
        serve_once(port)
    return metrics


class RunStoreCollector:
    """A Prometheus collector reading a run store at each scrape: the view across every
    process and machine recording there (``pocketflow-ext metrics --db``).

    ``pocketflow_ext_store_runs{flow,status}``: runs recorded, by derived status (a run
    whose process died counts as ``interrupted``); over the ``window`` most recent
    finished runs, ``pocketflow_ext_store_recent_runs{flow}`` and
    ``pocketflow_ext_store_run_duration_seconds{flow,quantile}`` (0.5, 0.95 and 1, the
    longest).
    """

    def __init__(self, store: Any, window: int = 1000) -> None:
        self.store = store
        self.window = window

    def describe(self) -> list[Any]:
        return []  # collected fresh at every scrape, nothing to check at registration

    def collect(self) -> Any:
        from prometheus_client.core import GaugeMetricFamily

        from ..runstore.base import RunFilter
        from ..runstore.runs import STATUSES, TERMINAL_STATUSES

        runs = GaugeMetricFamily(
            f"{NAMESPACE}_store_runs", "Runs in the run store.", labels=["flow", "status"]
        )
        for flow in self.store.flow_names():
            for status in STATUSES:
                count = self.store.count_runs(RunFilter(statuses=(status,), flows=(flow,)))
                if count:
                    runs.add_metric([flow, status], count)
        yield runs
        durations: dict[str, list[float]] = {}
        finished = RunFilter(statuses=TERMINAL_STATUSES)
        for run in self.store.list_runs(finished, limit=self.window):
            seconds = run.get("duration_s")
            if isinstance(seconds, (int, float)):
                durations.setdefault(str(run.get("flow_name") or ""), []).append(float(seconds))
        recent = GaugeMetricFamily(
            f"{NAMESPACE}_store_recent_runs",
            f"Finished runs among the {self.window} most recent.",
            labels=["flow"],
        )
        quantiles = GaugeMetricFamily(
            f"{NAMESPACE}_store_run_duration_seconds",
            f"Run duration quantiles over the {self.window} most recent finished runs.",
            labels=["flow", "quantile"],
        )
        for flow, values in sorted(durations.items()):
            values.sort()
            recent.add_metric([flow], len(values))
            for q in (0.5, 0.95, 1.0):
                quantiles.add_metric(
                    [flow, str(q)], values[min(len(values) - 1, int(q * len(values)))]
                )
        yield recent
        yield quantiles


def store_registry(store: Any, window: int = 1000) -> Any:
    """A registry holding only a :class:`RunStoreCollector` of ``store``."""
    pc = prometheus()
    registry = pc.CollectorRegistry()
    registry.register(RunStoreCollector(store, window))
    return registry
