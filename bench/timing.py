"""Per-node cost of bench variants, measured side by side (shared by the recording and
PostgreSQL benches).

Each variant does runs of ``short`` and of ``long`` nodes; its per-node cost is the
difference divided by the extra nodes (what one more node costs), its per-run cost what
is left of a short run. Variants are interleaved in a rotating order each round, so a
burst of load on a shared machine hits them all alike; ratios are taken within a round
(variants ran seconds apart), then the median over rounds."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

Run = Callable[[int], Any]
"""Does one run of ``n`` nodes."""
Clock = Callable[[Run, int, int], float]
"""Microseconds per run of ``n`` nodes, over ``runs`` runs."""


def wall(run: Run, n: int, runs: int) -> float:
    t0 = time.perf_counter()
    for _ in range(runs):
        run(n)
    return (time.perf_counter() - t0) / runs * 1e6


def cpu(run: Run, n: int, runs: int) -> float:
    """CPU time of this (the flow's) thread: waiting is not counted, so neither the flush
    at a flow's end nor moments a writer thread holds the GIL are."""
    t0 = time.thread_time()
    for _ in range(runs):
        run(n)
    return (time.thread_time() - t0) / runs * 1e6


def interleaved(
    variants: dict[str, tuple[Clock, Run]],
    rounds: int,
    runs: int,
    short: int,
    long: int,
    after_round: Callable[[], None] | None = None,
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Per-node and per-run cost of every variant, one value per round (``after_round``
    is called after each round, e.g. to sample a file's size)."""
    node: dict[str, list[float]] = {name: [] for name in variants}
    run_cost: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            clock, run = variants[name]
            short_us, long_us = clock(run, short, runs), clock(run, long, runs)
            per_node = (long_us - short_us) / (long - short)
            node[name].append(per_node)
            run_cost[name].append(short_us - short * per_node)
        if after_round is not None:
            after_round()
    return node, run_cost


def round_ratio(
    node: dict[str, list[float]], top: str, base: str, scale: str, minus_base: bool = True
) -> float:
    """Median over rounds of (``top`` - ``base``) / ``scale`` (``top`` / ``scale``
    without ``minus_base``)."""
    return statistics.median(
        ((t - b) if minus_base else t) / s
        for t, b, s in zip(node[top], node[base], node[scale], strict=True)
    )


def median_ms(fn: Callable[[], Any], repeats: int, warm: bool = True) -> float:
    """Median milliseconds of ``repeats`` calls (after one call that prepares statements
    and fills caches, with ``warm``)."""
    if warm:
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3
