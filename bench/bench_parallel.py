"""Parallel branches and executors, side by side, as ratios.

Part 1: 16 branches each waiting 50 ms on I/O, against one such branch alone (target
<= 1.15x), for sync branches (threads) and async ones (the event loop).
Part 2: the cost per branch of a Parallel of trivial nodes against the same nodes run one
after another in a flow (target <= 100 µs per branch), dormant and with a subscriber.
Part 3: a BatchNode of 200 items of 20 ms CPU-bound exec, sequential against
executor="processes" and a Dask LocalCluster of 2 worker processes, both with the default
(automatic) chunking a user gets (target >= 1.6x; needs both cores free: run it on a quiet
machine and repeat). One task per item on Dask (chunksize=1) is shown beside, for what the
chunking saves; it has no target.
Part 4: the same variants on items whose exec does nothing: what the executor path itself
costs per item (pickling, tasks, the scheduler; a process pool's start-up spread over
the items), which part 3's ratio pays on top, and the CPU time this process spent (the
flow and a LocalCluster's scheduler run here, on the cores the workers need).
Each figure is the median of ``--rounds`` rounds. Informational; ``--check`` exits 1 when a
target is missed. Run: ``python bench/bench_parallel.py [--rounds N] [--quick] [--no-dask]``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from functools import partial
from typing import Any

import pocketflow_ext as pf


class Wait(pf.Node):
    """Waits on "I/O" (a sleep releases the GIL as a socket read does)."""

    def __init__(self, seconds: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seconds = seconds

    def exec(self, prep_res: Any) -> Any:
        time.sleep(self.seconds)


class AsyncWait(pf.AsyncNode):
    def __init__(self, seconds: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seconds = seconds

    async def exec_async(self, prep_res: Any) -> Any:
        await asyncio.sleep(self.seconds)


class Burn(pf.BatchNode):
    """CPU-bound exec: ``shared["ms"]`` milliseconds of arithmetic per item ."""

    def prep(self, shared: Any) -> Any:
        return [(shared["ms"], i) for i in range(shared["count"])]  # distinct items

    def exec(self, item: Any) -> Any:
        ms, _ = item
        end = time.process_time() + ms / 1000
        n = 0
        while time.process_time() < end:
            n += 1
        return n

    def post(self, shared: Any, prep_res: Any, exec_res: Any) -> Any:
        shared["done"] = len(exec_res)


class Trivial(pf.Node):
    def post(self, shared: Any, prep_res: Any, exec_res: Any) -> Any:
        shared[self.name] = 1


def median_time(call: Callable[[], Any], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def io_branches(rounds: int, branches: int, wait: float) -> list[tuple[str, float, float]]:
    rows = []
    one = pf.Flow(start=Wait(wait))
    many = pf.Flow(start=pf.Parallel(*(Wait(wait, name=f"w{i}") for i in range(branches))))
    t_one = median_time(lambda: one.run({}), rounds)
    t_many = median_time(lambda: many.run({}), rounds)
    rows.append(("sync (threads)", t_one, t_many))
    a_one = pf.AsyncFlow(start=AsyncWait(wait))
    a_many = pf.AsyncFlow(
        start=pf.Parallel(*(AsyncWait(wait, name=f"w{i}") for i in range(branches)))
    )
    t_one = median_time(lambda: asyncio.run(a_one.run_async({})), rounds)
    t_many = median_time(lambda: asyncio.run(a_many.run_async({})), rounds)
    rows.append(("async (event loop)", t_one, t_many))
    return rows


def overhead(rounds: int, branches: int, laps: int) -> list[tuple[str, float]]:
    """Per-branch cost: (Parallel of N trivial nodes - the same N in sequence) / N."""

    def sequence() -> pf.Flow:
        nodes = [Trivial(name=f"t{i}") for i in range(branches)]
        for a, b in zip(nodes, nodes[1:], strict=False):
            a >> b
        return pf.Flow(start=nodes[0])

    def group() -> pf.Flow:
        return pf.Flow(start=pf.Parallel(*(Trivial(name=f"t{i}") for i in range(branches))))

    def timed(flow: pf.Flow) -> float:
        def laps_of() -> None:
            for _ in range(laps):
                flow.run({})

        return median_time(laps_of, rounds) / laps

    rows = []
    for label, listen in (("dormant", False), ("with a subscriber", True)):
        seq, par = sequence(), group()
        if listen:
            seq.subscribe(lambda event: None)
            par.subscribe(lambda event: None)
        t_seq, t_par = timed(seq), timed(par)
        rows.append((f"{label}: sequence of {branches}", t_seq))
        rows.append((f"{label}: Parallel of {branches}", t_par))
        rows.append((f"{label}: per branch", (t_par - t_seq) / branches))
    return rows


DASK = "Dask LocalCluster (2 workers)"
PER_ITEM = "Dask, chunksize=1 (no target)"


# (variant, median seconds, speedups over sequential per round, median CPU seconds of
# this process: the flow's, and a LocalCluster's scheduler, which runs here too).
Rows = list[tuple[str, float, list[float], float]]


def cpu_batches(rounds: int, items: int, loads: list[float], dask: bool) -> dict[float, Rows]:
    """For each load (ms of exec per item), a row per variant (see ``Rows``). The variants run back to back in each round, so a change in
    the machine's load hits them alike; every load uses the one LocalCluster."""
    with ExitStack() as stack:
        variants: dict[str, pf.Flow] = {
            "sequential": pf.Flow(start=Burn()),
            'executor="processes" (2)': pf.Flow(start=Burn(executor="processes", max_workers=2)),
        }
        if dask:
            from distributed import Client, LocalCluster

            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=2,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
            )
            client = stack.enter_context(Client(cluster))
            # As a user writes it: the default (automatic) chunking.
            variants[DASK] = pf.Flow(start=Burn(executor=client.get_executor()))
            variants[PER_ITEM] = pf.Flow(start=Burn(executor=client.get_executor(), chunksize=1))
            variants[DASK].run({"ms": 0, "count": items})  # workers import Burn
        found: dict[float, Rows] = {}
        for ms in loads:
            shared = {"ms": ms, "count": items}
            times: dict[str, list[float]] = {name: [] for name in variants}
            cpu: dict[str, list[float]] = {name: [] for name in variants}
            for _ in range(rounds):
                for name, flow in variants.items():
                    cpu_before = time.process_time()
                    times[name].append(median_time(partial(flow.run, dict(shared)), 1))
                    cpu[name].append(time.process_time() - cpu_before)
            sequential = times["sequential"]
            found[ms] = [
                (
                    name,
                    statistics.median(t),
                    [s / x for s, x in zip(sequential, t, strict=True)],
                    statistics.median(cpu[name]),
                )
                for name, t in times.items()
            ]
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (for the tests)")
    parser.add_argument("--no-dask", action="store_true", help="skip the Dask LocalCluster")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    missed = []
    wait = 0.005 if args.quick else 0.05
    items, ms = (8, 2.0) if args.quick else (200, 20.0)

    print("1. 16 branches each waiting on I/O, against one branch alone (target <= 1.15x)")
    for label, one, many in io_branches(args.rounds, 16, wait):
        ratio = many / one
        print(f"   {label:<22} one {one * 1000:7.1f} ms   16 {many * 1000:7.1f} ms   {ratio:.2f}x")
        if ratio > 1.15:
            missed.append(f"I/O branches {label}")

    print(
        "2. Parallel of trivial nodes against the same nodes in sequence (target <= 100 µs per branch)"
    )
    for label, seconds in overhead(args.rounds, 16, 5 if args.quick else 200):
        print(f"   {label:<36} {seconds * 1e6:8.1f} µs")
        if label.endswith("per branch") and seconds > 100e-6:
            missed.append(label)

    dask = not args.no_dask
    if dask:
        try:
            import distributed  # noqa: F401
        except ImportError:
            print("   (Dask not installed: pip install 'pocketflow-ext[dask]')")
            dask = False
    print(
        f"3. {items} items of {ms:g} ms CPU-bound exec (target >= 1.6x faster; needs 2 idle cores)"
    )
    batches = cpu_batches(args.rounds, items, [ms, 0.0], dask)
    for label, seconds, speedups, _ in batches[ms]:
        speedup = statistics.median(speedups)
        spread = (
            f"(rounds: {', '.join(f'{x:.2f}' for x in speedups)}x)" if len(speedups) > 1 else ""
        )
        print(f"   {label:<32} {seconds * 1000:8.1f} ms   {speedup:.2f}x faster {spread}")
        if label not in ("sequential", PER_ITEM) and speedup < 1.6:
            missed.append(label)
    print(f"4. the executor's own cost: {items} items whose exec does nothing (no target)")
    for label, seconds, _, cpu in batches[0.0]:
        print(
            f"   {label:<32} {seconds * 1000:8.1f} ms   {seconds / items * 1e6:8.1f} µs per item"
            f"   CPU here {cpu * 1000:7.1f} ms"
        )
    if missed:
        print("missed: " + "; ".join(missed))
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
