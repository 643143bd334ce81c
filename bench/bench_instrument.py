"""Per-node cost of ``instrument()`` on unmodified PocketFlow, as ratios against plain upstream.

The flow is a 100-node run of plain ``pocketflow`` nodes (bench_core's chain). Variants
are interleaved in each round (instrumenting just before and removing just after the
timed runs) and the median per-round ratio to upstream is reported. "after
uninstrument()" shows that a process which was instrumented and no longer is pays
nothing. Informational by default; ``--check`` exits 1 when the target is missed. Run:
``python bench/bench_instrument.py [--rounds N] [--nodes N] [--check]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pocketflow
from bench_core import interleaved, shared_dict, sized_flow, time_per_run, verdict

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
        "instrument(hooks={node_end: ...})": instrumented(trace=False, hooks={"node_end": _hook}),
        "instrument(db_path=...): recorded": instrumented(db_path=db_path, trace=False),
    }


def _hook(name: str, action: Any, elapsed_s: float, store: Any) -> None:
    pass


TARGETS = {"instrument(): event stream + log": 2.0}


def measure(rounds: int, nodes: int, db_path: Path) -> dict[str, tuple[float, float]]:
    """Median µs per node and median ratio to upstream, per variant."""
    setups = variants(db_path)
    flow = sized_flow(pocketflow, nodes)
    repeat = max(1, 1000 // nodes)  # about 1,000 nodes per sample
    names = list(setups)
    pocketflow_ext.instrument()
    pocketflow_ext.uninstrument()
    for name in names:  # warm-up outside the timed rounds
        teardown = setups[name]()
        time_per_run(flow, shared_dict, repeat=2)
        teardown()

    def timed(name: str) -> float:
        teardown = setups[name]()
        try:
            return time_per_run(flow, shared_dict, repeat=repeat) / (nodes + 1)
        finally:
            teardown()

    return interleaved(names, timed, rounds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (median)")
    parser.add_argument("--nodes", type=int, default=100, help="nodes per run")
    parser.add_argument("--check", action="store_true", help="exit 1 if the target is missed")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.nodes < 1:
        parser.error("--rounds and --nodes must be at least 1")
    with tempfile.TemporaryDirectory() as tmp:
        results = measure(args.rounds, args.nodes, Path(tmp) / "bench.db")
    print(
        f"instrument() overhead: {args.nodes + 1} nodes per run, {args.rounds} interleaved "
        "rounds, medians"
    )
    print(f"{'variant':<38} {'µs/node':>8} {'ratio':>7}  target")
    missed = []
    for name, (micros, ratio) in results.items():
        target = TARGETS.get(name)
        shown = ""
        if target is not None:
            shown = verdict(ratio <= target, f"{target:.1f}x")
            if ratio > target:
                missed.append(name)
        print(f"{name:<38} {micros:>8.2f} {ratio:>6.2f}x  {shown}")
    if missed:
        print(f"missed: {', '.join(missed)}")
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
