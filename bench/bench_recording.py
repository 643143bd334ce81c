"""Per-node cost of recording runs, and query speed on a large history.

Measured side by side in one run (variants interleaved, median of rounds):

* plain upstream PocketFlow (no recording) - the baseline node cost;
* ``Flow(db_path=..., durability="sync" | "async" | "exit")``;
* a stdlib ``sqlite3`` reference: one long-lived connection, WAL, ``synchronous=NORMAL``,
  two event rows + one checkpoint (JSON of the 10-key store) + one commit per node;
* PocoFlow 0.2.1 on the same flow, in its own venv (created under
  ``~/.cache/pocketflow-ext/`` on first use; ``--no-pocoflow`` skips it).

Then ``list_runs(limit=100)`` and ``get_events(run)`` on a database of
``--history`` runs x 20 nodes (built with executemany), for PocoFlow's schema and ours.
Informational by default; ``--check`` exits 1 if a target is missed.
Run: ``python bench/bench_recording.py [--rounds N] [--history N] [--check]``.
"""

from __future__ import annotations

import argparse
import json
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

import pocketflow_ext
from pocketflow_ext import WorkflowDB
from pocketflow_ext.runstore import sqlite_schema as schema
from pocketflow_ext.runstore.runs import iso

# The reference writer's statements: the same rows into the same schema as the recorder.
INSERT_EVENT = (
    f"INSERT INTO pf_events ({', '.join(schema.EVENT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(schema.EVENT_COLUMNS))})"
)
INSERT_CHECKPOINT = (
    f"INSERT INTO pf_checkpoints ({', '.join(schema.CHECKPOINT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(schema.CHECKPOINT_COLUMNS))})"
)

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


class Reference:
    """Recording written by hand with the stdlib: one long-lived connection, WAL,
    ``synchronous=NORMAL``, node_start + node_end events and a checkpoint (JSON of the
    store) per node, one commit per node.

    ``same_schema=True`` writes exactly the rows pocketflow-ext writes into its schema
    (the fair baseline for the target); ``False`` uses three minimal tables without
    indexes (shown for scale).
    """

    def __init__(self, path: Path, same_schema: bool) -> None:
        if same_schema:
            WorkflowDB(path).close()
        self.conn = sqlite3.connect(str(path), isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.same = same_schema
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

    def run(self, store: dict[str, Any], nodes_per_run: int) -> None:
        self.n += 1
        run_id, c = f"ref-{self.n:08x}", self.conn
        if self.same:
            c.execute(
                "INSERT INTO pf_runs (run_id, flow_name, started_at) VALUES (?, 'ref', ?)",
                (run_id, utc_now()),
            )
        else:
            c.execute("INSERT INTO runs VALUES (?, 'running', ?, NULL)", (run_id, utc_now()))
        for step in range(1, nodes_per_run + 1):
            t0 = time.perf_counter()
            store["count"] += 1
            elapsed = (time.perf_counter() - t0) * 1000
            c.execute("BEGIN")
            path = "ref/Step"
            if self.same:
                start = (run_id, step, "Step", "node_start", None, None, None, utc_now())
                end = (run_id, step, "Step", "node_end", None, elapsed, None, utc_now())
                for row in (start, end):
                    c.execute(INSERT_EVENT, (*row, path, None, None, None, None))
                c.execute(
                    INSERT_CHECKPOINT,
                    (run_id, step, "Step", json.dumps(store), utc_now(), path, None),
                )
            else:
                ins = "INSERT INTO events (run_id, step, node, event, ts) VALUES (?,?,?,?,?)"
                c.execute(ins, (run_id, step, "Step", "node_start", utc_now()))
                c.execute(ins, (run_id, step, "Step", "node_end", utc_now()))
                c.execute(
                    "INSERT INTO checkpoints (run_id, step, node, store, ts) VALUES (?,?,?,?,?)",
                    (run_id, step, "Step", json.dumps(store), utc_now()),
                )
            c.execute("COMMIT")
        table = "pf_runs" if self.same else "runs"
        c.execute(
            f"UPDATE {table} SET status='completed', completed_at=? WHERE run_id=?",
            (utc_now(), run_id),
        )


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
    minimal = Reference(tmp / "minimal.db", same_schema=False)

    def wall(run: Callable[[int], Any], n: int) -> float:
        t0 = time.perf_counter()
        for _ in range(runs):
            run(n)
        return (time.perf_counter() - t0) / runs * 1e6

    def cpu(run: Callable[[int], Any], n: int) -> float:
        # CPU time of this (the flow's) thread: waiting is not counted, so neither the
        # flush at flow end nor moments the writer thread holds the GIL are.
        t0 = time.thread_time()
        for _ in range(runs):
            run(n)
        return (time.thread_time() - t0) / runs * 1e6

    def flow(mode: str) -> Callable[[int], Any]:
        return lambda n: recorded[(mode, n)].run(base_store())

    variants: dict[str, tuple[Callable[..., float], Callable[[int], Any]]] = {
        "upstream": (wall, lambda n: upstream[n].run(base_store())),
        "upstream (thread CPU)": (cpu, lambda n: upstream[n].run(base_store())),
        "sync": (wall, flow("sync")),
        "async (flow thread CPU)": (cpu, flow("async")),
        "async (wall, incl. end flush)": (wall, flow("async")),
        "exit": (wall, flow("exit")),
        "reference": (wall, lambda n: reference.run(base_store(), n)),
        "reference (minimal tables)": (wall, lambda n: minimal.run(base_store(), n)),
    }
    node: dict[str, list[float]] = {name: [] for name in variants}
    run_cost: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            clock, run = variants[name]
            short, long = clock(run, SHORT), clock(run, LONG)
            per_node = (long - short) / (LONG - SHORT)
            node[name].append(per_node)
            run_cost[name].append(short - SHORT * per_node)

    def ratio(top: str, base: str, scale: str, minus_base: bool = True) -> float:
        values = [
            ((t - b) if minus_base else t) / s
            for t, b, s in zip(node[top], node[base], node[scale], strict=True)
        ]
        return statistics.median(values)

    figures = {
        name: (statistics.median(node[name]), statistics.median(run_cost[name])) for name in names
    }
    # Ratios are taken within each round (variants ran seconds apart), then the median.
    ratios = {
        "sync_vs_reference": ratio("sync", "upstream", "reference"),
        "exit_vs_reference": ratio("exit", "upstream", "reference"),
        "async_added_vs_upstream": ratio(
            "async (flow thread CPU)", "upstream (thread CPU)", "upstream (thread CPU)"
        ),
    }
    return figures, ratios


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
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return statistics.median(times) * 1e3

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
    parser.add_argument("--no-pocoflow", action="store_true")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args()

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
        added = per_node if name.startswith("reference") else per_node - base
        print(f"  {name:32} {per_node:8.1f} {added:8.1f} {per_run:8.0f}")
    results = dict(ratios)

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
    print(
        f"  migrated it in place to schema v{schema.SCHEMA_VERSION} in {time.perf_counter() - t0:.1f} s"
    )
    queries = measure_queries(history)
    for name, value in queries.items():
        print(f"  {name:28} {value:8.3f} ms")
    results.update(list_runs_ms=queries["list_runs_ms"], get_events_ms=queries["get_events_ms"])

    print("\nRatios")
    print(
        f"  sync recording cost / stdlib reference      {results['sync_vs_reference']:6.2f}x  (target <= {TARGETS['sync_vs_reference']})"
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
        print(
            f"  PocoFlow 0.2.1 cost / ours (sync)           {poco_cost / (node['sync'][0] - up):6.2f}x"
        )
        print(
            f"  PocoFlow 0.2.1 list_runs(limit=100)         {poco['list_runs_ms']:8.3f} ms (its own schema, no indexes)"
        )
        print(f"  PocoFlow 0.2.1 get_events(run)              {poco['get_events_ms']:8.3f} ms")
    else:
        print("  PocoFlow 0.2.1: not measured")
    missed = [name for name, limit in TARGETS.items() if results[name] > limit]
    print("\nTargets: " + ("all met" if not missed else "MISSED " + ", ".join(missed)))
    return 1 if (missed and args.check) else 0


if __name__ == "__main__":
    sys.exit(main())
