"""Per-node cost of ``instrument()`` on unmodified PocketFlow, as ratios against plain upstream.

The flow is bench_core's looping chain of plain ``pocketflow`` nodes. Variants are
interleaved in each round (instrumenting just before and removing just after the timed
run) and the median per-round ratio to upstream is reported. "after uninstrument()" shows
that a process which was instrumented and no longer is pays nothing. Run:
``python bench/bench_instrument.py [--rounds N] [--laps N]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pocketflow
from bench_core import CHAIN, build, interleaved, shared_dict, time_per_node

import pocketflow_ext


def variants(db_path: Path) -> dict[str, Callable[[], Any]]:
    """name -> a context-free setup returning a teardown."""

    def plain() -> Callable[[], None]:
        return lambda: None

    def instrumented(**options: Any) -> Callable[[], Callable[[], None]]:
        def setup() -> Callable[[], None]:
            pocketflow_ext.instrument(**options)
            return pocketflow_ext.uninstrument

        return setup

    return {
        "upstream": plain,
        "after uninstrument()": plain,  # measured after a first instrument/uninstrument cycle
        "instrument(): event stream + log": instrumented(trace=False),
        "instrument(db_path=...): recorded": instrumented(db_path=db_path, trace=False),
    }


def measure(rounds: int, laps: int, db_path: Path) -> dict[str, tuple[float, float]]:
    setups = variants(db_path)
    flow = build(pocketflow)
    names = list(setups)
    pocketflow_ext.instrument()
    pocketflow_ext.uninstrument()
    for name in names:  # warm-up outside the timed rounds
        teardown = setups[name]()
        time_per_node(flow, shared_dict, laps=2)
        teardown()

    def timed(name: str) -> float:
        teardown = setups[name]()
        try:
            return time_per_node(flow, shared_dict, laps=laps)
        finally:
            teardown()

    return interleaved(names, timed, rounds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (median)")
    parser.add_argument("--laps", type=int, default=40, help=f"laps of {CHAIN} nodes per run")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.laps < 1:
        parser.error("--rounds and --laps must be at least 1")
    with tempfile.TemporaryDirectory() as tmp:
        results = measure(args.rounds, args.laps, Path(tmp) / "bench.db")
    nodes = args.laps * CHAIN + 1
    print(f"instrument() overhead: {nodes} nodes per run, {args.rounds} rounds, medians")
    print(f"{'variant':<38} {'µs/node':>8} {'ratio':>7}")
    for name, (micros, ratio) in results.items():
        print(f"{name:<38} {micros:>8.2f} {ratio:>6.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
