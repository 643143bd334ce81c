"""Per-node cost of the core features, as ratios against plain upstream PocketFlow.

Every variant runs the same looping flow of 15 nodes; variants are interleaved in each
round (order rotated) and the median per-round ratio to upstream is reported, so machine
noise hits all variants alike. Informational by default; ``--check`` exits 1 when a
target is missed. Run: ``python bench/bench_core.py [--rounds N] [--laps N] [--check]``.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pocketflow

import pocketflow_ext

CHAIN = 15  # nodes per lap; the last one loops back to the first


def build(
    pf: ModuleType,
    *,
    retry: bool = False,
    chain: int = CHAIN,
    stop_after: int | None = None,
    **flow_kwargs: Any,
) -> Any:
    """A chain of ``chain`` trivial nodes looping until ``stop_after`` nodes have run, or
    until ``shared["laps"]`` laps are done. Shared by the other bench scripts."""

    class Step(pf.Node):
        if retry:  # configured, never triggered
            max_retries = 3
            retry_delay = 0.01
            backoff = 2.0

        def prep(self, shared):
            return shared["count"]

        def exec(self, count):
            return count + 1

        def post(self, shared, prep_res, exec_res):
            shared["count"] = exec_res
            return "default"

    class Last(Step):
        def post(self, shared, prep_res, exec_res):
            shared["count"] = exec_res
            limit = stop_after if stop_after is not None else shared["laps"] * chain
            return "again" if exec_res < limit else "stop"

    nodes = [Step() for _ in range(chain - 1)] + [Last()]
    for a, b in zip(nodes[:-1], nodes[1:], strict=True):
        a >> b
    nodes[-1] - "again" >> nodes[0]
    nodes[-1] - "stop" >> pf.Node()  # a quiet exit: no upstream "Flow ends" warning
    return pf.Flow(start=nodes[0], **flow_kwargs)


def shared_dict(laps: int) -> dict:
    return {"count": 0, "laps": laps}


def typed_store(laps: int) -> pocketflow_ext.Store:
    store = pocketflow_ext.Store(shared_dict(laps), schema={"count": int, "laps": int})
    store.add_observer(lambda key, old, new: None)
    return store


def _on_node_end(name: str, action: Any, elapsed: float, store: Any) -> None:
    pass


def _subscriber(event: pocketflow_ext.Event) -> None:
    pass


# name -> (flow factory, shared factory); each flow is built once and reused every round.
Variant = tuple[Callable[[], Any], Callable[[int], Any]]
VARIANTS: dict[str, Variant] = {
    "upstream": (lambda: build(pocketflow), shared_dict),
    "drop-in, nothing configured": (lambda: build(pocketflow_ext), shared_dict),
    "hooks: one flow.on hook": (
        lambda: build(pocketflow_ext).on("node_end", _on_node_end),
        shared_dict,
    ),
    "hooks: one subscriber": (lambda: build(pocketflow_ext).subscribe(_subscriber), shared_dict),
    "typed Store, schema + observer": (lambda: build(pocketflow_ext), typed_store),
    "retry configured, not triggered": (lambda: build(pocketflow_ext, retry=True), shared_dict),
    "all three (hook+Store+retry)": (
        lambda: build(pocketflow_ext, retry=True).on("node_end", _on_node_end),
        typed_store,
    ),
    "all three (subscriber+Store+retry)": (
        lambda: build(pocketflow_ext, retry=True).subscribe(_subscriber),
        typed_store,
    ),
}
TARGETS = {
    "drop-in, nothing configured": 1.2,
    "all three (hook+Store+retry)": 2.0,
    "all three (subscriber+Store+retry)": 2.0,
}


def time_per_node(flow: Any, make_shared: Callable[[int], Any], laps: int) -> float:
    shared = make_shared(laps)
    gc.collect()
    t0 = time.perf_counter()
    flow.run(shared)
    elapsed = time.perf_counter() - t0
    nodes = shared["count"] + 1  # every Step/Last plus the exit node
    return elapsed / nodes


def interleaved(
    names: list[str], timed: Callable[[str], float], rounds: int, baseline: str = "upstream"
) -> dict[str, tuple[float, float]]:
    """Median µs per node and median per-round ratio to ``baseline``, per variant. Every
    variant runs once per round, in a rotating order, so machine noise hits all alike."""
    per_node: dict[str, list[float]] = {name: [] for name in names}
    ratios: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        this_round = {name: timed(name) for name in order}
        for name in names:
            per_node[name].append(this_round[name])
            ratios[name].append(this_round[name] / this_round[baseline])
    return {
        name: (statistics.median(per_node[name]) * 1e6, statistics.median(ratios[name]))
        for name in names
    }


def measure(rounds: int, laps: int) -> dict[str, tuple[float, float]]:
    flows = {name: (factory(), make_shared) for name, (factory, make_shared) in VARIANTS.items()}
    for name in flows:  # warm up caches (names, imports) outside the timed rounds
        time_per_node(*flows[name], laps=2)
    return interleaved(list(flows), lambda name: time_per_node(*flows[name], laps=laps), rounds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21, help="interleaved rounds (median)")
    parser.add_argument("--laps", type=int, default=60, help=f"laps of {CHAIN} nodes per run")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.laps < 1:
        parser.error("--rounds and --laps must be at least 1")

    results = measure(args.rounds, args.laps)
    nodes = args.laps * CHAIN + 1
    print(f"Core overhead: {nodes} nodes per run, {args.rounds} interleaved rounds, medians")
    print(f"{'variant':<38} {'µs/node':>8} {'ratio':>7}  target")
    missed = []
    for name, (micros, ratio) in results.items():
        target = TARGETS.get(name)
        verdict = ""
        if target is not None:
            ok = ratio <= target
            verdict = f"<= {target:.1f}x  {'PASS' if ok else 'FAIL'}"
            if not ok:
                missed.append(name)
        print(f"{name:<38} {micros:>8.2f} {ratio:>6.2f}x  {verdict}")
    if missed:
        print(f"missed: {', '.join(missed)}")
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
