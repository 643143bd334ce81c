"""Per-node cost of the metrics and tracing subscribers, as ratios against upstream.

Every variant runs the same 100-node run (bench_core's chain of trivial nodes):
PrometheusMetrics alone, OpenTelemetryTracer alone (SDK TracerProvider whose exporter
drops every span), and both together, whose target is <= 3x upstream per node on the
flow's thread. The tracer builds its spans off the flow's thread; that cost (the SDK's
own) is timed apart and reported as CPU per node. Variants
are interleaved in each round (order rotated) and the median per-round ratio is reported.
Times are the flow thread's CPU time (``time.thread_time``), not wall-clock.
Informational by default; ``--check`` exits 1 when the target is missed.
Run: ``python bench/bench_observability.py [--rounds N] [--nodes N] [--check]``.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import pocketflow
from bench_core import interleaved, shared_dict, sized_flow
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from prometheus_client import CollectorRegistry

import pocketflow_ext
from pocketflow_ext.subscribers.metrics import PrometheusMetrics
from pocketflow_ext.subscribers.otel import OpenTelemetryTracer

BOTH = "metrics + tracing"
TARGET = 3.0


class DropSpans(SpanExporter):
    """An exporter that exports nothing: the cost measured is ours and the SDK's."""

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def provider() -> TracerProvider:
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(DropSpans()))
    return tracer_provider


def time_per_run(flow: Any, make_shared: Callable[[int], Any], repeat: int) -> float:
    """CPU seconds of this thread per run, over ``repeat`` runs: the cost on the flow's
    thread, unaffected by other processes taking the machine's cores (wall-clock ratios
    on a shared machine swing by 2x between runs of this script)."""
    stores = [make_shared(1) for _ in range(repeat)]
    gc.collect()
    t0 = time.thread_time()
    for shared in stores:
        flow.run(shared)
    return (time.thread_time() - t0) / repeat


def variants(
    nodes: int, metrics: PrometheusMetrics, tracer: OpenTelemetryTracer
) -> dict[str, Callable[[], Any]]:
    return {
        "upstream": lambda: sized_flow(pocketflow, nodes),
        "drop-in, nothing configured": lambda: sized_flow(pocketflow_ext, nodes),
        "PrometheusMetrics": lambda: sized_flow(pocketflow_ext, nodes).subscribe(metrics),
        "OpenTelemetryTracer": lambda: sized_flow(pocketflow_ext, nodes).subscribe(tracer),
        BOTH: lambda: sized_flow(pocketflow_ext, nodes).subscribe(metrics).subscribe(tracer),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (median)")
    parser.add_argument("--nodes", type=int, default=100, help="nodes per run (default 100)")
    parser.add_argument("--check", action="store_true", help="exit 1 if the target is missed")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.nodes < 2:
        parser.error("--rounds must be at least 1 and --nodes at least 2")

    metrics = PrometheusMetrics(CollectorRegistry())
    # Spans are built when flush() is called: timed apart from the runs, below.
    tracer = OpenTelemetryTracer(provider(), build_every=None)
    flows = {name: build() for name, build in variants(args.nodes, metrics, tracer).items()}
    repeat = max(1, 1000 // args.nodes)  # about 1,000 nodes per sample
    for flow in flows.values():
        time_per_run(flow, shared_dict, repeat=2)  # warm-up: names, label children
    build_seconds: list[float] = []

    def timed(name: str) -> float:
        seconds = time_per_run(flows[name], shared_dict, repeat)
        queued = tracer.pending
        t0 = time.thread_time()
        tracer.flush()
        if queued:
            build_seconds.append((time.thread_time() - t0) / repeat)
        return seconds

    results = interleaved(list(flows), timed, args.rounds)
    per_run = args.nodes + 1  # the exit node runs too
    print(f"Observability overhead: {per_run} nodes per run, {args.rounds} rounds, medians")
    print(f"{'variant':<30} {'µs/node':>8} {'ratio':>7}  target")
    missed = False
    for name, (micros_per_run, ratio) in results.items():
        shown = ""
        if name == BOTH:
            ok = ratio <= TARGET
            missed = not ok
            shown = f"<= {TARGET:.0f}x  {'PASS' if ok else 'FAIL'}"
        print(f"{name:<30} {micros_per_run / per_run:>8.2f} {ratio:>6.2f}x  {shown}")
    upstream_us = results["upstream"][0] / per_run
    build_us = statistics.median(build_seconds) * 1e6 / per_run
    both_us = results[BOTH][0] / per_run
    print()
    print(
        f"building the spans (SDK, off the flow's thread): {build_us:.2f} µs per node; "
        f"with it, both cost {(both_us + build_us) / upstream_us:.1f}x upstream in CPU"
    )
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
