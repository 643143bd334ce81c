"""Cost of function nodes and of the result cache, side by side (variants interleaved,
median of rounds):

* ``@node`` dispatch: a chain of trivial function nodes against the same chain of
  hand-written ``Node`` subclasses (target <= 1.2x);
* cache hit on SQLite: a chain of cached nodes whose 10 KB results are all in the cache,
  per node (target <= 200 µs);
* cache miss: what a miss adds to a recorded node (looking up, encoding and storing the
  10 KB result) against what recording that node costs (target <= 1.3x).

Informational by default; ``--check`` exits 1 when a target is missed.
Run: ``python bench/bench_functions.py [--rounds N] [--nodes N] [--check]``.
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pocketflow_ext import Cache, Flow, Node, node

# A 10 KB result that reads like text (the JSON decoder's cost depends on the text: a run
# of one repeated character is a slow case for the codec's substring scan).
_WORDS = random.Random(0).choices(
    ["alpha", "beta", "gamma", "delta", "node", "flow", "cache"], k=2000
)
VALUE = " ".join(_WORDS)[:10_000]


# ── @node against a hand-written Node subclass ────────────────────────────────
class Step(Node):
    def prep(self, shared):
        return shared["count"]

    def exec(self, count):
        return count + 1

    def post(self, shared, prep_res, exec_res):
        shared["count"] = exec_res
        return "default"


@node(writes="count")
def step(count):
    return count + 1


def chain(nodes: list[Any]) -> Flow:
    for a, b in itertools.pairwise(nodes):
        a >> b
    return Flow(start=nodes[0])


def hand_written(n: int) -> Flow:
    return chain([Step() for _ in range(n)])


def function_nodes(n: int) -> Flow:
    return chain([step.clone() for _ in range(n)])


# ── cached nodes with a 10 KB result ──────────────────────────────────────────
def produce_class(cache: Any) -> type:
    class Produce(Node):
        def prep(self, shared):
            return shared["key"], self.name

        def exec(self, prep_res):
            return VALUE

        def post(self, shared, prep_res, exec_res):
            shared["value"] = exec_res

    Produce.cache = cache
    return Produce


def produce_chain(n: int, cache: Any, **flow_kwargs: Any) -> Flow:
    cls = produce_class(cache)
    nodes = [cls(name=f"P{i}") for i in range(n)]
    for a, b in itertools.pairwise(nodes):
        a >> b
    return Flow(start=nodes[0], **flow_kwargs)


def timed(run: Callable[[], Any]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    n = args.nodes
    workdir = Path(tempfile.mkdtemp(prefix="bench-functions-"))

    # @node dispatch
    flows = {"hand-written Node": hand_written(n), "@node function": function_nodes(n)}
    dispatch: dict[str, list[float]] = {name: [] for name in flows}
    for _ in range(args.rounds):
        for name, flow in flows.items():
            dispatch[name].append(min(timed(lambda f=flow: f.run({"count": 0})) for _ in range(5)))
    per_node = {name: statistics.median(times) / n * 1e6 for name, times in dispatch.items()}
    pairs = zip(dispatch["@node function"], dispatch["hand-written Node"], strict=True)
    ratios = [f / h for f, h in pairs]
    dispatch_ratio = statistics.median(ratios)

    # cache hit (entries in a cache database of their own), and miss against recording
    hit_db = workdir / "hits.db"
    hits = produce_chain(n, Cache(db=str(hit_db)))
    hits.run({"key": "warm"})  # fills the cache: every later run hits
    plain = produce_chain(n, None)
    hit_times, plain_times = [], []
    for _ in range(args.rounds):
        hit_times.append(timed(lambda: hits.run({"key": "warm"})))
        plain_times.append(timed(lambda: plain.run({"key": "warm"})))
    hit_us = statistics.median(hit_times) / n * 1e6
    plain_us = statistics.median(plain_times) / n * 1e6

    recorded = produce_chain(n, None, db_path=str(workdir / "recorded.db"))
    cached_recorded = produce_chain(n, True, db_path=str(workdir / "cached.db"))
    keys = itertools.count()
    rec_times, miss_times, base_times = [], [], []
    for _ in range(args.rounds):
        base_times.append(timed(lambda: plain.run({"key": "base"})))
        rec_times.append(timed(lambda: recorded.run({"key": "rec"})))
        # a new key every round: every node misses, computes and stores its result
        miss_times.append(timed(lambda: cached_recorded.run({"key": f"miss-{next(keys)}"})))
    base = statistics.median(base_times)
    recording_us = (statistics.median(rec_times) - base) / n * 1e6
    miss_added_us = (statistics.median(miss_times) - statistics.median(rec_times)) / n * 1e6
    miss_ratio = miss_added_us / recording_us if recording_us > 0 else float("inf")

    rows = [
        ("hand-written Node", f"{per_node['hand-written Node']:.2f} µs/node", "1.00x", ""),
        ("@node function", f"{per_node['@node function']:.2f} µs/node", f"{dispatch_ratio:.2f}x",
         "<= 1.2x"),
        ("plain node, 10 KB result", f"{plain_us:.1f} µs/node", "", ""),
        ("cache hit on SQLite, 10 KB", f"{hit_us:.1f} µs/node", "", "<= 200 µs"),
        ("recording a node (sync)", f"{recording_us:.1f} µs/node", "1.00x", ""),
        ("cache miss added to it", f"{miss_added_us:.1f} µs/node", f"{miss_ratio:.2f}x",
         "<= 1.3x"),
    ]  # fmt: skip
    checks = [dispatch_ratio <= 1.2, hit_us <= 200, miss_ratio <= 1.3]
    print(f"Function nodes and the result cache: {n} nodes per run, {args.rounds} rounds, medians")
    print(f"{'variant':32} {'cost':>16} {'ratio':>7}  target")
    verdicts = iter(checks)
    for name, cost, ratio, target in rows:
        verdict = ("PASS" if next(verdicts) else "FAIL") if target else ""
        print(f"{name:32} {cost:>16} {ratio:>7}  {target} {verdict}".rstrip())
    if args.check and not all(checks):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
