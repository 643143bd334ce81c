"""Per-node cost of the core features, as ratios against plain upstream PocketFlow.

Part 1: every variant runs the same looping flow of 15 nodes. Part 2: hook + typed Store
+ retry on runs of 10, 100 and 10,000 nodes, and the fixed cost per run that follows.
Variants are interleaved in each round (order rotated) and the median per-round ratio to
upstream is reported, so machine noise hits all variants alike. The drop-in classes copy
each node more cheaply than upstream's loop does for upstream's nodes (nodes/copying.py),
which pays for part of the features, so each figure is also shown against the drop-in
classes with nothing configured ("vs drop-in"): what the feature itself costs.
Informational by default; ``--check`` exits 1 when a target is missed.
Run: ``python bench/bench_core.py [--rounds N] [--laps N] [--check]``.
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
    "drop-in, nothing configured": 1.1,
}
RUN_SIZES = (10, 100, 10_000)
SIZE_TARGETS = {100: 1.5}  # hook + typed Store + retry, per run size
FIXED_COST_TARGET_US = 30.0


def time_per_node(flow: Any, make_shared: Callable[[int], Any], laps: int) -> float:
    shared = make_shared(laps)
    gc.collect()
    t0 = time.perf_counter()
    flow.run(shared)
    elapsed = time.perf_counter() - t0
    nodes = shared["count"] + 1  # every Step/Last plus the exit node
    return elapsed / nodes


def time_per_run(flow: Any, make_shared: Callable[[int], Any], repeat: int) -> float:
    """Seconds per run, over ``repeat`` back-to-back runs (short runs are below the timer's
    noise one at a time). Fresh shared stores are made before the clock starts."""
    stores = [make_shared(1) for _ in range(repeat)]
    gc.collect()
    t0 = time.perf_counter()
    for shared in stores:
        flow.run(shared)
    return (time.perf_counter() - t0) / repeat


BEST_OF = 3


def interleaved(
    names: list[str], timed: Callable[[str], float], rounds: int, baseline: str = "upstream"
) -> dict[str, tuple[float, float]]:
    """Median µs per node and median per-round ratio to ``baseline``, per variant."""
    results = interleaved_ratios(names, timed, rounds, (baseline,))
    return {name: (micros, ratios[0]) for name, (micros, ratios) in results.items()}


def interleaved_ratios(
    names: list[str], timed: Callable[[str], float], rounds: int, baselines: tuple[str, ...]
) -> dict[str, tuple[float, tuple[float, ...]]]:
    """Median µs per node and, per baseline, the median per-round ratio to it. Every
    variant runs in each round, in a rotating order, so machine noise hits all alike;
    within a round each variant's time is its best of ``BEST_OF`` samples, which drops
    samples another process interrupted (on a busy machine medians alone still drift)."""
    per_node: dict[str, list[float]] = {name: [] for name in names}
    ratios: dict[str, list[list[float]]] = {name: [[] for _ in baselines] for name in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        this_round = {name: min(timed(name) for _ in range(BEST_OF)) for name in order}
        for name in names:
            per_node[name].append(this_round[name])
            for i, baseline in enumerate(baselines):
                ratios[name][i].append(this_round[name] / this_round[baseline])
    return {
        name: (
            statistics.median(per_node[name]) * 1e6,
            tuple(statistics.median(each) for each in ratios[name]),
        )
        for name in names
    }


DROP_IN = "drop-in, nothing configured"


def measure(rounds: int, laps: int) -> dict[str, tuple[float, tuple[float, ...]]]:
    """Per variant: median µs per node, and median per-round ratios to upstream and to
    the drop-in classes with nothing configured."""
    flows = {name: (factory(), make_shared) for name, (factory, make_shared) in VARIANTS.items()}
    for name in flows:  # warm up caches (names, imports) outside the timed rounds
        time_per_node(*flows[name], laps=2)
    return interleaved_ratios(
        list(flows),
        lambda name: time_per_node(*flows[name], laps=laps),
        rounds,
        ("upstream", DROP_IN),
    )


def sized_flow(pf: ModuleType, nodes: int, **kwargs: Any) -> Any:
    """A run of ``nodes`` distinct-then-looping nodes (plus the quiet exit node): chains
    up to 100 distinct nodes, longer runs loop over 100."""
    return build(pf, chain=min(nodes, 100), stop_after=nodes, **kwargs)


def hook_store_retry(nodes: int) -> Any:
    return sized_flow(pocketflow_ext, nodes, retry=True).on("node_end", _on_node_end)


OURS = "hook+Store+retry"


def measure_sizes(rounds: int) -> dict[int, dict[str, tuple[float, tuple[float, ...]]]]:
    """Per run size and variant (upstream, drop-in, hook+Store+retry): median µs per run
    and median per-round ratios to upstream and to the drop-in classes."""
    results: dict[int, dict[str, tuple[float, tuple[float, ...]]]] = {}
    for nodes in RUN_SIZES:
        repeat = max(1, 1000 // nodes)  # about 1,000 nodes per sample
        flows = {
            "upstream": (sized_flow(pocketflow, nodes), shared_dict),
            "drop-in": (sized_flow(pocketflow_ext, nodes), shared_dict),
            OURS: (hook_store_retry(nodes), typed_store),
        }
        for flow, make_shared in flows.values():
            time_per_run(flow, make_shared, repeat=2)  # warm-up: names, caches
        results[nodes] = interleaved_ratios(
            list(flows),
            lambda name, flows=flows, repeat=repeat: time_per_run(*flows[name], repeat=repeat),
            rounds,
            ("upstream", "drop-in"),
        )
    return results


def fixed_cost_us(sizes: dict[int, dict[str, tuple[float, tuple[float, ...]]]]) -> float:
    """What a run costs beyond its nodes, ours minus upstream's: the smallest run's time
    less its nodes at the per-node cost of the largest run (where fixed costs vanish)."""
    small, large = min(sizes), max(sizes)

    def fixed(name: str) -> float:
        return sizes[small][name][0] - small * sizes[large][name][0] / large

    return fixed(OURS) - fixed("upstream")


def verdict(ok: bool, target: str) -> str:
    return f"<= {target}  {'PASS' if ok else 'FAIL'}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (median)")
    parser.add_argument("--laps", type=int, default=20, help=f"laps of {CHAIN} nodes per run")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.laps < 1:
        parser.error("--rounds and --laps must be at least 1")

    results = measure(args.rounds, args.laps)
    nodes = args.laps * CHAIN + 1
    print(f"Core overhead: {nodes} nodes per run, {args.rounds} interleaved rounds, medians")
    print(f"{'variant':<38} {'µs/node':>8} {'ratio':>7} {'vs drop-in':>10}  target")
    missed = []
    for name, (micros, (ratio, to_dropin)) in results.items():
        target = TARGETS.get(name)
        shown = ""
        if target is not None:
            shown = verdict(ratio <= target, f"{target:.1f}x")
            if ratio > target:
                missed.append(name)
        print(f"{name:<38} {micros:>8.2f} {ratio:>6.2f}x {to_dropin:>9.2f}x  {shown}")

    sizes = measure_sizes(args.rounds)
    print()
    print("Hook + typed Store + retry by run size (µs per run; nodes include the exit node)")
    print(
        f"{'nodes':>7} {'upstream':>10} {'drop-in':>10} {'ours':>10} {'ratio':>7} "
        f"{'vs drop-in':>10}  target"
    )
    for size, row in sizes.items():
        ours_us, (ratio, to_dropin) = row[OURS]
        target = SIZE_TARGETS.get(size)
        shown = ""
        if target is not None:
            shown = verdict(ratio <= target, f"{target:.1f}x")
            if ratio > target:
                missed.append(f"{size}-node runs")
        print(
            f"{size + 1:>7} {row['upstream'][0]:>10.1f} {row['drop-in'][0]:>10.1f} "
            f"{ours_us:>10.1f} {ratio:>6.2f}x {to_dropin:>9.2f}x  {shown}"
        )
    fixed = fixed_cost_us(sizes)
    ok = fixed <= FIXED_COST_TARGET_US
    print(
        f"fixed cost per run (ours minus upstream): {fixed:.1f} µs  "
        f"{verdict(ok, f'{FIXED_COST_TARGET_US:.0f} µs')}"
    )
    if not ok:
        missed.append("fixed cost per run")
    if missed:
        print(f"missed: {', '.join(missed)}")
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
