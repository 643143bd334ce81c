"""Per-node cost of recording runs, checkpoint size, and query speed on a large history.

Measured side by side in one run (variants interleaved, median of rounds):

* plain upstream PocketFlow (no recording) - the baseline node cost;
* ``Flow(db_path=..., durability="sync" | "async" | "exit")``;
* a stdlib ``sqlite3`` reference: one long-lived connection, WAL, ``synchronous=NORMAL``,
  two event rows + one checkpoint (JSON of the whole store) + one commit per node, and
  the WAL bounded as the recorder bounds it (commits copy it back every 4 MB of pages,
  a restarted WAL cut back to 4 MB).
  The target compares what each adds to the same upstream flow: ours against the
  reference's writes made by hand from an upstream flow's loop (``HandRecordedFlow``).
  The reference alone in a bare loop is shown too: with nothing between its commits its
  caches stay warm, so its SQL costs less than the same SQL between a flow's nodes;
* PocoFlow 0.2.1 on the same flow, in its own venv (created under
  ``~/.cache/pocketflow-ext/`` on first use; ``--no-pocoflow`` skips it).

Then delta checkpoints: stores of 1 KB, 1 MB (large strings; nested records) and 100 KB
(nested records) where each node changes one small key: sync cost per node, per run and
over whole runs, the database size for a 100-node run, and the reference writing the
whole store per node. Last, ``list_runs(limit=100)`` and ``get_events(run)`` on a database
of ``--history`` runs x 20 nodes (built with executemany), for PocoFlow's schema and ours.
Informational by default; ``--check`` exits 1 if a target is missed.
Run: ``python bench/bench_recording.py [--rounds N] [--history N] [--check]``.
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import bench_core
import pocketflow
import timing

import pocketflow_ext
from pocketflow_ext import WorkflowDB
from pocketflow_ext.runstore.sqlite import WAL_LIMIT_BYTES

CHAIN = 20  # distinct nodes in the flow graph
SHORT, LONG = 20, 220  # nodes per run of the two run lengths (the chain loops)
NODES = 100  # nodes per run for PocoFlow's runs
HISTORY_NODES = 20  # nodes per run in the query database
STORE_KEYS = 10
POCOFLOW = "pocoflow==0.2.1"
POCOFLOW_VENV = Path.home() / ".cache" / "pocketflow-ext" / "bench-pocoflow-0.2.1"

TARGETS = {
    "sync_vs_reference": 1.3,
    "async_added_vs_upstream": 3.0,
    "list_runs_ms": 2.0,
    "get_events_ms": 1.0,
}
POCOFLOW_TARGET = 20.0  # PocoFlow 0.2.1's recording cost / ours (sync), at least


def base_store() -> dict[str, Any]:
    """A 10-key store: a counter plus typical small values."""
    store: dict[str, Any] = {"count": 0, "query": "what is recorded?", "lang": "en"}
    for i in range(STORE_KEYS - len(store)):
        store[f"field_{i}"] = f"value number {i}" if i % 2 else i * 1.5
    return store


def build(pf: Any, nodes_per_run: int, **flow_kwargs: Any) -> Any:
    """bench_core's looping chain, stopping after ``nodes_per_run`` nodes."""
    return bench_core.build(pf, chain=CHAIN, stop_after=nodes_per_run, **flow_kwargs)


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat()


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat()


def wal_size(path: Path) -> int:
    try:
        return os.stat(f"{path}-wal").st_size
    except OSError:
        return 0


EVENT_SQL = (
    "INSERT INTO pf_events (run_id, step, node_name, event, action, elapsed_ms, error_msg, "
    "ts, path, params, attempt, delay_ms, traceback) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
CHECKPOINT_SQL = (
    "INSERT INTO pf_checkpoints (run_id, step, node_name, store_json, created_at, path, "
    "params) VALUES (?,?,?,?,?,?,?)"
)


class Reference:
    """Recording written by hand with the stdlib: one long-lived connection, WAL,
    ``synchronous=NORMAL``, the WAL checkpointed by a background thread (as ours), the
    given events and a checkpoint (JSON of the whole store) per node, one commit per node.

    ``same_schema=True`` writes into pocketflow-ext's schema (the fair baseline for the
    targets); ``False`` uses three minimal tables without indexes (shown for scale).
    ``events`` are the event rows per node: node_start and node_end, like the recorder.
    """

    def __init__(
        self, path: Path, same_schema: bool, events: tuple[str, ...] = ("node_start", "node_end")
    ) -> None:
        if same_schema:
            WorkflowDB(path).close()
        self.conn = sqlite3.connect(str(path), isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        # The WAL bounded as ours is: commits copy it back every WAL_LIMIT_BYTES of pages
        # (SQLite's default automatic checkpoint, ~4 MB) and cut a restarted one back to
        # the limit. Copying from another thread instead (the reference of earlier rounds)
        # never catches up with back-to-back commits: its WAL grew past 300 MB.
        page = self.conn.execute("PRAGMA page_size").fetchone()[0]
        self.conn.execute(f"PRAGMA wal_autocheckpoint={WAL_LIMIT_BYTES // page}")
        self.conn.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
        self.path = path
        self.wal_peak = 0
        self.same = same_schema
        self.events = events
        if not same_schema:
            self.conn.execute(
                "CREATE TABLE runs (run_id TEXT PRIMARY KEY, status TEXT, started_at TEXT, "
                "completed_at TEXT)"
            )
            self.conn.execute(
                "CREATE TABLE events (id INTEGER PRIMARY KEY, run_id TEXT, step INTEGER, "
                "node TEXT, event TEXT, ts TEXT)"
            )
            self.conn.execute(
                "CREATE TABLE checkpoints (id INTEGER PRIMARY KEY, run_id TEXT, step INTEGER, "
                "node TEXT, store TEXT, ts TEXT, UNIQUE(run_id, step))"
            )
        self.n = 0

    def close(self) -> None:
        self.conn.close()

    def begin(self) -> str:
        """Insert a run row; returns its id."""
        self.n += 1
        run_id, c = f"ref-{self.n:08x}", self.conn
        if self.same:
            c.execute(
                "INSERT INTO pf_runs (run_id, flow_name, started_at) VALUES (?, 'ref', ?)",
                (run_id, utc_now()),
            )
        else:
            c.execute("INSERT INTO runs VALUES (?, 'running', ?, NULL)", (run_id, utc_now()))
        return run_id

    def node(self, run_id: str, step: int, store: dict[str, Any], elapsed: float) -> None:
        """One node's rows (the events, the checkpoint) in one commit."""
        c = self.conn
        c.execute("BEGIN")
        path = "ref/Step"
        if self.same:
            for event in self.events:
                ms = elapsed if event == "node_end" else None
                row = (run_id, step, "Step", event, None, ms, None, utc_now(), path)
                c.execute(EVENT_SQL, (*row, None, None, None, None))
            c.execute(
                CHECKPOINT_SQL,
                (run_id, step, "Step", json.dumps(store), utc_now(), path, None),
            )
        else:
            ins = "INSERT INTO events (run_id, step, node, event, ts) VALUES (?,?,?,?,?)"
            for event in self.events:
                c.execute(ins, (run_id, step, "Step", event, utc_now()))
            c.execute(
                "INSERT INTO checkpoints (run_id, step, node, store, ts) VALUES (?,?,?,?,?)",
                (run_id, step, "Step", json.dumps(store), utc_now()),
            )
        c.execute("COMMIT")

    def end(self, run_id: str) -> None:
        table = "pf_runs" if self.same else "runs"
        self.conn.execute(
            f"UPDATE {table} SET status='completed', completed_at=? WHERE run_id=?",
            (utc_now(), run_id),
        )
        self.wal_peak = max(self.wal_peak, wal_size(self.path))

    def run(self, store: dict[str, Any], nodes_per_run: int) -> None:
        """The reference alone: a loop doing a trivial node's work and writing its rows."""
        run_id = self.begin()
        for step in range(nodes_per_run):
            t0 = time.perf_counter()
            store["count"] += 1
            self.node(run_id, step, store, (time.perf_counter() - t0) * 1000)
        self.end(run_id)


class HandRecordedFlow(pocketflow.Flow):  # type: ignore[misc]
    """An upstream flow recorded by hand with the stdlib (the Reference's rows), as a
    program would without pocketflow-ext: the reference's writes in the same setting as
    ours (between the flow's own work), so both pay what running a flow costs SQLite
    (colder caches, the garbage collector). Upstream's ``Flow._orch`` plus the writes."""

    def __init__(self, start: Any, reference: Reference) -> None:
        super().__init__(start)
        self.reference = reference

    def _orch(self, shared: Any, params: Any = None) -> Any:
        ref = self.reference
        run_id, step = ref.begin(), 0
        curr, p, last_action = copy.copy(self.start_node), (params or {**self.params}), None
        while curr:
            curr.set_params(p)
            t0 = time.perf_counter()
            last_action = curr._run(shared)
            ref.node(run_id, step, shared, (time.perf_counter() - t0) * 1000)
            step += 1
            curr = copy.copy(self.get_next_node(curr, last_action))
        ref.end(run_id)
        return last_action


def measure_nodes(tmp: Path, rounds: int, runs: int) -> tuple[dict[str, Any], dict[str, float]]:
    """Per-node and per-run cost of every variant.

    Each variant does runs of SHORT and of LONG nodes; the per-node cost is the
    difference divided by the extra nodes (what one more node costs), the per-run cost
    what is left of a SHORT run (run row, graph, final commit). Variants are interleaved
    in a rotating order each round and every figure is a median over rounds.
    """
    lengths = (SHORT, LONG)
    upstream = {n: build(pocketflow, n) for n in lengths}
    recorded = {
        (mode, n): build(pocketflow_ext, n, db_path=tmp / f"{mode}.db", durability=mode)
        for mode in ("sync", "async", "exit")
        for n in lengths
    }
    reference = Reference(tmp / "reference.db", same_schema=True)
    in_flow = Reference(tmp / "reference_in_flow.db", same_schema=True)
    hand = {n: HandRecordedFlow(upstream[n].start_node, in_flow) for n in lengths}
    minimal = Reference(tmp / "minimal.db", same_schema=False)

    def flow(mode: str) -> Callable[[int], Any]:
        return lambda n: recorded[(mode, n)].run(base_store())

    variants: dict[str, tuple[timing.Clock, timing.Run]] = {
        "upstream": (timing.wall, lambda n: upstream[n].run(base_store())),
        "upstream (thread CPU)": (timing.cpu, lambda n: upstream[n].run(base_store())),
        "sync": (timing.wall, flow("sync")),
        "async (flow thread CPU)": (timing.cpu, flow("async")),
        "async (wall, incl. end flush)": (timing.wall, flow("async")),
        "exit": (timing.wall, flow("exit")),
        "reference in an upstream flow": (timing.wall, lambda n: hand[n].run(base_store())),
        "reference": (timing.wall, lambda n: reference.run(base_store(), n)),
        "reference (minimal tables)": (timing.wall, lambda n: minimal.run(base_store(), n)),
    }
    wal_peak = {"sync": 0}

    def note_wal() -> None:
        wal_peak["sync"] = max(wal_peak["sync"], wal_size(tmp / "sync.db"))

    names = list(variants)
    node, run_cost = timing.interleaved(variants, rounds, runs, SHORT, LONG, after_round=note_wal)
    ratio = functools.partial(timing.round_ratio, node)

    figures = {
        name: (statistics.median(node[name]), statistics.median(run_cost[name])) for name in names
    }
    # Ratios are taken within each round (variants ran seconds apart), then the median.
    ratios = {
        # The target: both sides measured the same way, as what recording adds to a flow.
        "sync_vs_reference": statistics.median(
            (s - u) / (h - u)
            for s, u, h in zip(
                node["sync"], node["upstream"], node["reference in an upstream flow"], strict=True
            )
        ),
        "sync_vs_bare_reference": ratio("sync", "upstream", "reference"),
        "exit_vs_reference": ratio("exit", "upstream", "reference"),
        "async_added_vs_upstream": ratio(
            "async (flow thread CPU)", "upstream (thread CPU)", "upstream (thread CPU)"
        ),
    }
    wal_peak["reference"] = reference.wal_peak
    print(
        "  -wal file at run ends, largest (MB): sync {:.1f}, reference {:.1f}".format(
            wal_peak["sync"] / 1e6, wal_peak["reference"] / 1e6
        )
    )
    reference.close()
    in_flow.close()
    minimal.close()
    return figures, ratios


# ── delta checkpoints: large stores where each node changes one small key ─────
WORDS = "the run store records what each node changed and a full snapshot now and then".split()


def store_1kb() -> dict[str, Any]:
    """A counter and nine ~100-character strings: about 1 KB of JSON."""
    rng = random.Random(1)
    store: dict[str, Any] = {"count": 0}
    for i in range(9):
        store[f"field_{i}"] = " ".join(rng.choice(WORDS) for _ in range(20))[:100]
    return store


def store_strings(total: int) -> dict[str, Any]:
    """A counter and 100 documents of text (immutable str values) adding up to ``total`` bytes."""
    rng = random.Random(2)
    store: dict[str, Any] = {"count": 0}
    for i in range(100):
        words = " ".join(rng.choice(WORDS) for _ in range(total // 100 // 4))
        store[f"doc_{i:03}"] = words[: total // 100]
    return store


def records(n: int) -> list[dict[str, Any]]:
    """Nested records: dicts holding strings, numbers, a list and a nested dict."""
    rng = random.Random(3)
    return [
        {
            "id": i,
            "name": f"user {i}",
            "email": f"user{i}@example.com",
            "score": round(rng.random() * 100, 3),
            "active": i % 3 != 0,
            "tags": [rng.choice(WORDS) for _ in range(3)],
            "address": {"city": rng.choice(WORDS).title(), "zip": f"{rng.randrange(10**5):05}"},
            "history": [rng.randrange(1000) for _ in range(4)],
        }
        for i in range(n)
    ]


def store_nested(total: int) -> dict[str, Any]:
    """A counter, a settings dict and a list of nested records adding up to ``total`` bytes."""
    one = len(json.dumps(records(1)[0])) + 2
    return {
        "count": 0,
        "settings": {"model": "small", "temperature": 0.2, "stop": ["\n\n"]},
        "records": records(total // one),
    }


STORES: dict[str, Callable[[], dict[str, Any]]] = {
    "1 KB": store_1kb,
    "1 MB strings": lambda: store_strings(1_000_000),
    "1 MB nested": lambda: store_nested(1_000_000),
    "100 KB nested": lambda: store_nested(100_000),
    "1 MB declared": lambda: store_nested(1_000_000),
}
DECLARED = {"1 MB declared"}
"""Stores run as ``Store(..., in_place="declared")``: values change only by writes."""
STORE_LABELS = {
    "1 KB": "1 KB: a counter + 9 strings of 100 characters",
    "1 MB strings": "1 MB: a counter + 100 strings of 10 KB (immutable values)",
    "1 MB nested": "1 MB: a counter + a list of ~5,000 nested dicts (mutable values)",
    "100 KB nested": "100 KB: a counter + a list of ~500 nested dicts",
    "1 MB declared": '1 MB nested, as Store(..., in_place="declared") (no content comparison)',
}
STORE_TARGETS = {
    "1 MB strings / 1 KB": 1.5,
    "1 MB declared / 1 KB": 1.5,
    "100 KB nested / reference (1 event + full checkpoint)": 1.2,
}
SIZE_NODES = 100
SIZE_TARGET_MB = 5.0
WHOLE_RUNS = (SHORT, 1020)  # whole-run averages: a short run, and one past the delta chain limit


def fresh(template: dict[str, Any], declared: bool = False) -> Any:
    """A run's store: a new top-level dict sharing the template's (never mutated) values,
    so building a 1 MB store is not timed; ``declared``: in a Store that promises values
    change only by writes."""
    store = dict(template)
    store["count"] = 0
    return pocketflow_ext.Store(store, in_place="declared") if declared else store


def db_size_mb(path: Path) -> float:
    """Pages in use (the WAL's included), in MB."""
    conn = sqlite3.connect(str(path))
    try:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()
    return pages * size / 1e6


def measure_loads(path: Path, repeats: int = 5) -> tuple[float, float, int]:
    """``load_checkpoint`` of the newest run's first step (a full snapshot) and of the
    step at the end of its longest delta chain, in ms, and that chain's length."""
    conn = sqlite3.connect(str(path))
    try:
        run_id = conn.execute("SELECT run_id FROM pf_runs ORDER BY started_at DESC").fetchone()[0]
        rows = conn.execute(
            "SELECT step, kind, parent_step FROM pf_checkpoints WHERE run_id = ? ORDER BY id",
            (run_id,),
        ).fetchall()
    finally:
        conn.close()
    depth: dict[int, int] = {}
    for step, kind, parent in rows:  # commit order: a parent is (nearly always) first
        depth[step] = depth.get(parent, 0) + 1 if kind == "delta" else 0
    deepest = max(depth, key=lambda step: depth[step])
    db = WorkflowDB(path)

    def median_ms(step: int) -> float:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            db.load_checkpoint(run_id, step)
            times.append(time.perf_counter() - t0)
        return statistics.median(times) * 1e3

    try:
        return median_ms(rows[0][0]), median_ms(deepest), depth[deepest]
    finally:
        db.close()


def measure_stores(tmp: Path, rounds: int, whole_rounds: int) -> dict[str, Any]:
    """Per store: sync per node (SHORT vs LONG runs) and per run, upstream, the reference
    writing the full store per node (with two events, and with one event); whole-run
    averages; database size of a SIZE_NODES-node run, ours and the reference's."""
    templates = {name: make() for name, make in STORES.items()}
    lengths = (SHORT, LONG)
    variants: dict[tuple[str, str], Callable[[int], Any]] = {}
    references = []
    for name, template in templates.items():
        slug = name.replace(" ", "_")
        upstream = {n: build(pocketflow, n) for n in lengths}
        ours = {n: build(pocketflow_ext, n, db_path=tmp / f"s_{slug}.db") for n in lengths}
        ref2 = Reference(tmp / f"r2_{slug}.db", same_schema=True)
        ref1 = Reference(tmp / f"r1_{slug}.db", same_schema=True, events=("node_end",))
        references += [ref2, ref1]
        t, d = template, name in DECLARED
        variants[(name, "upstream")] = lambda n, u=upstream, t=t, d=d: u[n].run(fresh(t, d))
        variants[(name, "sync")] = lambda n, o=ours, t=t, d=d: o[n].run(fresh(t, d))
        variants[(name, "reference")] = lambda n, r=ref2, t=t: r.run(fresh(t), n)
        variants[(name, "reference, 1 event")] = lambda n, r=ref1, t=t: r.run(fresh(t), n)
    node: dict[tuple[str, str], list[float]] = {key: [] for key in variants}
    run_cost: dict[tuple[str, str], list[float]] = {key: [] for key in variants}
    keys = list(variants)
    for r in range(rounds):
        for key in keys[r % len(keys) :] + keys[: r % len(keys)]:
            run = variants[key]
            times = []
            for n in lengths:
                t0 = time.perf_counter()
                run(n)
                times.append((time.perf_counter() - t0) * 1e6)
            per_node = (times[1] - times[0]) / (LONG - SHORT)
            node[key].append(per_node)
            run_cost[key].append(times[0] - SHORT * per_node)
    for ref in references:
        ref.close()

    def added(name: str) -> list[float]:
        return [s - u for s, u in zip(node[(name, "sync")], node[(name, "upstream")], strict=True)]

    def ratio(top: list[float], base: list[float]) -> float:
        return statistics.median(t / b for t, b in zip(top, base, strict=True))

    results: dict[str, Any] = {
        "node": {key: statistics.median(v) for key, v in node.items()},
        "run": {key: statistics.median(v) for key, v in run_cost.items()},
        "ratios": {
            "1 MB strings / 1 KB": ratio(added("1 MB strings"), added("1 KB")),
            "1 MB nested / 1 KB": ratio(added("1 MB nested"), added("1 KB")),
            "1 MB declared / 1 KB": ratio(added("1 MB declared"), added("1 KB")),
            "100 KB nested / reference (1 event + full checkpoint)": ratio(
                added("100 KB nested"), node[("100 KB nested", "reference, 1 event")]
            ),
            "100 KB nested / reference (2 events + full checkpoint)": ratio(
                added("100 KB nested"), node[("100 KB nested", "reference")]
            ),
        },
    }

    whole: dict[tuple[str, int], float] = {}
    loads: dict[str, tuple[float, float, int]] = {}
    for name, template in templates.items():
        slug = name.replace(" ", "_")
        for n in WHOLE_RUNS:
            flow = build(pocketflow_ext, n, db_path=tmp / f"w_{slug}.db")
            times = []
            for _ in range(whole_rounds):
                t0 = time.perf_counter()
                flow.run(fresh(template, name in DECLARED))
                times.append((time.perf_counter() - t0) / (n + 1) * 1e6)
            whole[(name, n)] = statistics.median(times)
        loads[name] = measure_loads(tmp / f"w_{slug}.db")
    results["whole"] = whole
    results["loads"] = loads

    sizes: dict[str, tuple[float, float]] = {}
    for name, template in templates.items():
        slug = name.replace(" ", "_")
        ours_path, ref_path = tmp / f"size_{slug}.db", tmp / f"size_ref_{slug}.db"
        build(pocketflow_ext, SIZE_NODES - 1, db_path=ours_path).run(
            fresh(template, name in DECLARED)
        )
        ref = Reference(ref_path, same_schema=True)
        ref.run(fresh(template), SIZE_NODES)
        ref.close()
        sizes[name] = (db_size_mb(ours_path), db_size_mb(ref_path))
    results["sizes"] = sizes
    return results


def report_stores(results: dict[str, Any]) -> list[str]:
    """Print the delta-checkpoint section; returns the names of missed targets."""
    print("\nDelta checkpoints (sync): each node changes one small key of a large store")
    for name in STORES:
        print(f"  {name:14} {STORE_LABELS[name]}")
    node, run = results["node"], results["run"]
    print(
        f"\n  {'store':14} {'recording us/node':>18} {'us/run':>9} {'reference us/node':>18}"
        f" {'1 event':>9}   whole runs: us/node at {' / '.join(map(str, WHOLE_RUNS))} nodes"
    )
    for name in STORES:
        ours = node[(name, "sync")] - node[(name, "upstream")]
        whole = " / ".join(f"{results['whole'][(name, n)]:.0f}" for n in WHOLE_RUNS)
        print(
            f"  {name:14} {ours:18.1f} {run[(name, 'sync')]:9.0f} "
            f"{node[(name, 'reference')]:18.1f} {node[(name, 'reference, 1 event')]:9.1f}   {whole}"
        )
    print(f"\n  load_checkpoint in a {WHOLE_RUNS[-1]}-node run (ms): a full snapshot / the end of")
    print("  the longest delta chain (deltas in it)")
    for name, (full_ms, end_ms, deltas) in results["loads"].items():
        print(f"  {name:14} {full_ms:8.2f} / {end_ms:8.2f}  ({deltas})")
    print(f"\n  database size after one {SIZE_NODES}-node run (ours / full store per node):")
    missed = []
    for name, (ours_mb, ref_mb) in results["sizes"].items():
        target = ""
        if name.startswith("1 MB"):
            ok = ours_mb <= SIZE_TARGET_MB
            target = f"  (target <= {SIZE_TARGET_MB:.0f} MB: {'pass' if ok else 'MISSED'})"
            if not ok:
                missed.append(f"size {name}")
        print(f"  {name:14} {ours_mb:8.2f} MB / {ref_mb:8.2f} MB{target}")
    print()
    for label, value in results["ratios"].items():
        limit = STORE_TARGETS.get(label)
        verdict = ""
        if limit is not None:
            ok = value <= limit
            verdict = f"  (target <= {limit}: {'pass' if ok else 'MISSED'})"
            if not ok:
                missed.append(label)
        print(f"  {label:56} {value:6.2f}x{verdict}")
    return missed


# ── PocoFlow 0.2.1 in its own venv ────────────────────────────────────────────
POCOFLOW_SCRIPT = textwrap.dedent(
    """
    import json, sys, time, tempfile, os, statistics
    from pocoflow import Flow, Node, WorkflowDB
    CHAIN, NODES, STORE_KEYS = (int(a) for a in sys.argv[1].split(","))
    rounds, runs = int(sys.argv[2]), int(sys.argv[3])
    history = sys.argv[4]

    class Step(Node):
        def prep(self, store): return store["count"]
        def exec(self, count): return count + 1
        def post(self, store, p, e):
            store["count"] = e
            return "default"

    class Last(Step):
        def post(self, store, p, e):
            store["count"] = e
            return "again" if e < NODES else "stop"

    def base_store():
        store = {"count": 0, "query": "what is recorded?", "lang": "en"}
        for i in range(STORE_KEYS - len(store)):
            store[f"field_{i}"] = f"value number {i}" if i % 2 else i * 1.5
        return store

    def build(**kw):
        nodes = [Step() for _ in range(CHAIN - 1)] + [Last()]
        for a, b in zip(nodes, nodes[1:]):
            a.then("default", b)
        nodes[-1].then("again", nodes[0])
        return Flow(start=nodes[0], max_steps=NODES + 1, **kw)

    tmp = tempfile.mkdtemp()
    plain, recorded = build(), build(db_path=os.path.join(tmp, "poco.db"))
    out = {"plain": [], "recorded": []}
    for _ in range(rounds):
        for name, flow in (("plain", plain), ("recorded", recorded)):
            t0 = time.perf_counter()
            for _ in range(runs):
                flow.run(base_store())
            out[name].append((time.perf_counter() - t0) / (runs * NODES) * 1e6)
    result = {k: statistics.median(v) for k, v in out.items()}
    if history:
        db = WorkflowDB(history)
        run_ids = [r["run_id"] for r in db.list_runs(limit=100)]
        t = []
        for _ in range(20):
            t0 = time.perf_counter(); db.list_runs(limit=100); t.append(time.perf_counter() - t0)
        result["list_runs_ms"] = statistics.median(t) * 1e3
        t = []
        for i in range(20):
            t0 = time.perf_counter(); db.get_events(run_ids[i % len(run_ids)]); t.append(time.perf_counter() - t0)
        result["get_events_ms"] = statistics.median(t) * 1e3
    print(json.dumps(result))
    """
)


def pocoflow_python() -> Path | None:
    """The Python of a venv with PocoFlow 0.2.1, created on first use (needs pip access)."""
    python = POCOFLOW_VENV / "bin" / "python"
    if python.exists():
        return python
    print(f"  creating a venv with {POCOFLOW} in {POCOFLOW_VENV} ...", file=sys.stderr)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(POCOFLOW_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", POCOFLOW],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    except (subprocess.CalledProcessError, OSError) as exc:
        print(f"  could not install {POCOFLOW}: {exc}", file=sys.stderr)
        shutil.rmtree(POCOFLOW_VENV, ignore_errors=True)
        return None
    return python


def measure_pocoflow(rounds: int, runs: int, history: Path | None) -> dict[str, float] | None:
    python = pocoflow_python()
    if python is None:
        return None
    done = subprocess.run(
        [
            str(python),
            "-c",
            POCOFLOW_SCRIPT,
            f"{CHAIN},{NODES},{STORE_KEYS}",
            str(rounds),
            str(runs),
            str(history or ""),
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        print(f"  PocoFlow run failed:\n{done.stderr}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


# ── a large history, built with executemany ───────────────────────────────────
def pocoflow_ddl() -> str:
    return textwrap.dedent(
        """
        PRAGMA journal_mode=WAL;
        CREATE TABLE pf_runs (run_id TEXT PRIMARY KEY, flow_name TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'running'
            CHECK(status IN ('queued','running','paused','completed','failed')),
            started_at TEXT NOT NULL, completed_at TEXT, total_steps INTEGER,
            current_node TEXT, error_msg TEXT);
        CREATE TABLE pf_checkpoints (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL,
            step INTEGER NOT NULL, node_name TEXT NOT NULL, store_json TEXT NOT NULL,
            created_at TEXT NOT NULL, UNIQUE(run_id, step),
            FOREIGN KEY (run_id) REFERENCES pf_runs(run_id));
        CREATE TABLE pf_events (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL,
            step INTEGER, node_name TEXT, event TEXT NOT NULL, action TEXT, elapsed_ms REAL,
            error_msg TEXT, ts TEXT NOT NULL, FOREIGN KEY (run_id) REFERENCES pf_runs(run_id));
        """
    )


def fill_history(path: Path, n_runs: int) -> float:
    t0 = time.perf_counter()
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.executescript(pocoflow_ddl())
    conn.execute("PRAGMA synchronous=OFF")
    rng = random.Random(7)  # our own generator: the global one is the user's
    start = time.time() - n_runs * 60
    store = json.dumps(base_store())
    conn.execute("BEGIN")
    for i in range(n_runs):
        run_id = f"flow{i % 5}-{i:08x}"
        t = start + i * 60
        status = "failed" if rng.random() < 0.1 else "completed"
        conn.execute(
            "INSERT INTO pf_runs VALUES (?,?,?,?,?,?,?,?)",
            (
                run_id,
                f"flow{i % 5}",
                status,
                iso(t),
                iso(t + 30),
                HISTORY_NODES,
                "Step",
                None,
            ),
        )
        events = [(run_id, None, f"flow{i % 5}", "flow_start", None, None, None, iso(t))]
        checkpoints = []
        for step in range(1, HISTORY_NODES + 1):
            ts = iso(t + step)
            events.append((run_id, step, "Step", "node_start", None, None, None, ts))
            events.append((run_id, step, "Step", "node_end", "default", 1.0, None, ts))
            checkpoints.append((run_id, step, "Step", store, ts))
        events.append((run_id, None, f"flow{i % 5}", "flow_end", None, None, None, iso(t + 30)))
        conn.executemany(
            "INSERT INTO pf_events (run_id, step, node_name, event, action, elapsed_ms, "
            "error_msg, ts) VALUES (?,?,?,?,?,?,?,?)",
            events,
        )
        conn.executemany(
            "INSERT INTO pf_checkpoints (run_id, step, node_name, store_json, created_at) "
            "VALUES (?,?,?,?,?)",
            checkpoints,
        )
    conn.execute("COMMIT")
    conn.close()
    return time.perf_counter() - t0


def measure_queries(path: Path, repeats: int = 200) -> dict[str, float]:
    db = WorkflowDB(path, readonly=True)
    run_ids = [r["run_id"] for r in db.list_runs(limit=1000)]
    rng = random.Random(3)

    def median_ms(fn: Callable[[], Any]) -> float:
        return timing.median_ms(fn, repeats, warm=False)

    return {
        "list_runs_ms": median_ms(lambda: db.list_runs(limit=100)),
        "list_runs_failed_ms": median_ms(lambda: db.list_runs(limit=100, status="failed")),
        "list_runs_flow_page5_ms": median_ms(
            lambda: db.list_runs(limit=100, flow_name="flow3", offset=400)
        ),
        "count_runs_ms": median_ms(db.count_runs),
        "get_events_ms": median_ms(lambda: db.get_events(rng.choice(run_ids))),
        "get_checkpoints_ms": median_ms(lambda: db.get_checkpoints(rng.choice(run_ids))),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--runs", type=int, default=4, help="runs per variant per round")
    parser.add_argument("--history", type=int, default=10_000, help="runs in the query database")
    parser.add_argument(
        "--store-rounds", type=int, help="rounds of the large-store section (--rounds / 3)"
    )
    parser.add_argument(
        "--whole-rounds", type=int, help="runs per whole-run average, large stores (<= 3)"
    )
    parser.add_argument("--no-stores", action="store_true", help="skip the large-store section")
    parser.add_argument("--no-pocoflow", action="store_true")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args()
    if args.store_rounds is None:
        args.store_rounds = max(1, args.rounds // 3)
    if args.whole_rounds is None:
        args.whole_rounds = min(3, args.store_rounds)

    tmp = Path(tempfile.mkdtemp(prefix="bench-recording-"))
    try:
        return report(tmp, args)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def report(tmp: Path, args: argparse.Namespace) -> int:
    print(
        f"Recording: {CHAIN}-node looping flow, runs of {SHORT} and {LONG} nodes, "
        f"{STORE_KEYS}-key store, {args.rounds} rounds x {args.runs} runs"
    )
    node, ratios = measure_nodes(tmp, args.rounds, args.runs)
    up = node["upstream"][0]
    ref = node["reference"][0]
    print(f"  {'variant':32} {'us/node':>8} {'added':>8} {'us/run':>8}")
    for name, (per_node, per_run) in node.items():
        base = node["upstream (thread CPU)"][0] if "CPU" in name else up
        bare = name.startswith("reference") and "flow" not in name
        added = per_node if bare else per_node - base
        print(f"  {name:32} {per_node:8.1f} {added:8.1f} {per_run:8.0f}")
    results = dict(ratios)
    store_missed: list[str] = []
    if not args.no_stores:
        store_missed = report_stores(measure_stores(tmp, args.store_rounds, args.whole_rounds))

    history = tmp / "history.db"
    print(f"\nQueries on {args.history:,} runs x {HISTORY_NODES} nodes")
    built = fill_history(history, args.history)
    size_mb = history.stat().st_size / 1e6
    print(f"  built PocoFlow-schema file with executemany in {built:.1f} s ({size_mb:.0f} MB)")
    poco = (
        None if args.no_pocoflow else measure_pocoflow(max(3, args.rounds // 2), args.runs, history)
    )
    t0 = time.perf_counter()
    WorkflowDB(history).close()
    with sqlite3.connect(str(history)) as conn:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    conn.close()
    print(f"  migrated it in place to schema v{version} in {time.perf_counter() - t0:.1f} s")
    queries = measure_queries(history)
    for name, value in queries.items():
        print(f"  {name:28} {value:8.3f} ms")
    results.update(list_runs_ms=queries["list_runs_ms"], get_events_ms=queries["get_events_ms"])

    print("\nRatios")
    print(
        f"  sync recording cost / stdlib reference      {results['sync_vs_reference']:6.2f}x  (target <= {TARGETS['sync_vs_reference']}; both in a flow)"
    )
    print(
        f"  sync recording cost / bare-loop reference   {results['sync_vs_bare_reference']:6.2f}x  (the reference alone in a loop, caches warm)"
    )
    print(f"  exit recording cost / stdlib reference      {results['exit_vs_reference']:6.2f}x")
    print(
        f"  async added cost on flow thread / upstream  {results['async_added_vs_upstream']:6.2f}x  (target <= {TARGETS['async_added_vs_upstream']})"
    )
    if poco is not None:
        poco_cost = poco["recorded"] - poco["plain"]  # per node, runs of NODES nodes
        print(
            f"  PocoFlow 0.2.1 recording cost / reference   {poco_cost / ref:6.2f}x  ({poco_cost:.0f} us/node)"
        )
        results["pocoflow_vs_sync"] = poco_cost / (node["sync"][0] - up)
        print(
            f"  PocoFlow 0.2.1 cost / ours (sync)           {results['pocoflow_vs_sync']:6.2f}x  (target >= {POCOFLOW_TARGET:.0f}x)"
        )
        print(
            f"  PocoFlow 0.2.1 list_runs(limit=100)         {poco['list_runs_ms']:8.3f} ms (its own schema, no indexes)"
        )
        print(f"  PocoFlow 0.2.1 get_events(run)              {poco['get_events_ms']:8.3f} ms")
    else:
        print("  PocoFlow 0.2.1: not measured")
    missed = [name for name, limit in TARGETS.items() if results[name] > limit]
    if results.get("pocoflow_vs_sync", POCOFLOW_TARGET) < POCOFLOW_TARGET:
        missed.append("pocoflow_vs_sync")
    missed += store_missed
    print("\nTargets: " + ("all met" if not missed else "MISSED " + ", ".join(missed)))
    return 1 if (missed and args.check) else 0


if __name__ == "__main__":
    sys.exit(main())
