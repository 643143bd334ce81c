"""The PostgreSQL run store against its targets, with SQLite beside it, in one run.

* sync mode, per node: ``Flow(db_path=URL)`` vs a hand-written psycopg reference writing
  the same rows (node_start + node_end events, the checkpoint) into the same tables in one
  transaction per node (plain and pipelined; the faster one is the baseline);
  SQLite's sync mode and its stdlib reference beside it;
* async mode: CPU the flow's thread spends per node, added to upstream dispatch;
* many writers: total nodes/s with 1, 2, 4, 8 recording processes, both stores, both
  modes; every row is counted afterwards (nothing lost). The 8-process async figure is
  the writer-throughput target;
* monitor queries (a runs page, a run's events, a checkpoint) on ``--history`` runs,
  built with COPY (PostgreSQL) and executemany (SQLite).

Needs a server: ``--url``, ``$POCKETFLOW_EXT_BENCH_PG_URL`` or
``$POCKETFLOW_EXT_TEST_PG_URL`` (``eval "$(bash .ci/postgres start)"`` starts one); a
fresh database is created on it and dropped afterwards. Without one it says so and exits 0.
Run: ``python bench/bench_postgres.py [--quick] [--check]``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import bench_recording
import pocketflow
import timing
from bench_recording import LONG, SHORT, base_store, build

import pocketflow_ext
from pocketflow_ext.errors import PocketFlowExtError
from pocketflow_ext.runstore.base import ALL_RUNS, CheckpointRow, EventRow, RunFilter, RunRow
from pocketflow_ext.runstore.location import is_url, masked
from pocketflow_ext.runstore.open import open_store
from pocketflow_ext.runstore.runs import iso

TARGETS = {
    "sync_vs_reference": 1.3,
    "async_added_vs_upstream": 3.0,
    "writer_nodes_per_s": 5000.0,  # at least
    "queries_vs_sqlite": 2.0,
}
PROCESSES = (1, 2, 4, 8)
QUICK_PROCESSES = (1, 8)  # --quick: the ends of the table only
STOP_AFTER = 60  # runs of the many-writer processes: three laps of the 20-node chain...
NODES_PER_RUN = STOP_AFTER + 1  # ...and the quiet exit node
HISTORY_NODES = 3  # node executions per run of the query history
EVENT_COLUMNS = EventRow._fields
CHECKPOINT_COLUMNS = CheckpointRow._fields
RUN_COLUMNS = tuple(RunRow.__dataclass_fields__)


def server_url(args: argparse.Namespace) -> str | None:
    return (
        args.url
        or os.environ.get("POCKETFLOW_EXT_BENCH_PG_URL")
        or os.environ.get("POCKETFLOW_EXT_TEST_PG_URL")
    )


@contextmanager
def fresh_database(server: str) -> Iterator[str]:
    """A new, empty database on ``server``, dropped afterwards."""
    import psycopg

    name = f"pfx_bench_{secrets.token_hex(4)}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urllib.parse.urlunsplit(urllib.parse.urlsplit(server)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ── sync and async per node ───────────────────────────────────────────────────
def _insert(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"


class PgReference:
    """What the store does per node, by hand: one long-lived psycopg connection; per node
    one transaction with the node_start and node_end events and the checkpoint (JSON of
    the store), the very rows the recorder writes, into the store's own tables.

    ``how``: ``plain`` (BEGIN, three INSERTs, COMMIT: five round trips), ``pipelined``
    (the same in pipeline mode) or ``implicit`` (the three INSERTs in one pipeline, which
    the server runs as one implicit transaction up to the Sync: one round trip, as the
    store writes)."""

    def __init__(self, url: str, how: str) -> None:
        import psycopg

        self.conn = psycopg.connect(url, autocommit=True)
        self.how = how
        self.pipeline = how != "plain"
        self.n = 0
        self.event_sql = _insert("pf_events", EVENT_COLUMNS)
        self.checkpoint_sql = _insert("pf_checkpoints", CHECKPOINT_COLUMNS)

    def run(self, store: dict[str, Any], nodes: int) -> None:
        self.n += 1
        run_id = f"ref-{self.how}-{secrets.token_hex(6)}"
        conn = self.conn
        conn.execute(
            "INSERT INTO pf_runs (run_id, flow_name, status, started_at) "
            "VALUES (%s, 'ref', 'running', %s)",
            (run_id, iso()),
        )
        path = "ref/Step"
        for step in range(nodes):
            t0 = time.perf_counter()
            store["count"] += 1
            elapsed = (time.perf_counter() - t0) * 1000
            start = EventRow(run_id, "node_start", iso(), step, "Step", path=path)
            end = EventRow(run_id, "node_end", iso(), step, "Step", "default", elapsed, path=path)
            checkpoint = CheckpointRow(run_id, step, "Step", json.dumps(store), iso(), path)
            rows = [
                (self.event_sql, [getattr(start, c) for c in EVENT_COLUMNS]),
                (self.event_sql, [getattr(end, c) for c in EVENT_COLUMNS]),
                (self.checkpoint_sql, [getattr(checkpoint, c) for c in CHECKPOINT_COLUMNS]),
            ]
            if self.how == "implicit":
                with conn.pipeline():
                    for sql, params in rows:
                        conn.execute(sql, params)
            elif self.pipeline:
                with conn.pipeline(), conn.transaction():
                    for sql, params in rows:
                        conn.execute(sql, params)
            else:
                with conn.transaction():
                    for sql, params in rows:
                        conn.execute(sql, params)
        conn.execute(
            "UPDATE pf_runs SET status = 'completed', completed_at = %s WHERE run_id = %s",
            (iso(), run_id),
        )


def measure_nodes(url: str, tmp: Path, rounds: int, runs: int) -> tuple[dict, dict]:
    """Per-node cost of every variant: (cost of LONG runs - cost of SHORT runs) / extra
    nodes, variants interleaved in a rotating order, medians over rounds."""
    lengths = (SHORT, LONG)
    flows = {("upstream", n): build(pocketflow, n) for n in lengths}
    for mode in ("sync", "async"):
        for n in lengths:
            flows[(f"pg {mode}", n)] = build(pocketflow_ext, n, db_path=url, durability=mode)
            flows[(f"sqlite {mode}", n)] = build(
                pocketflow_ext, n, db_path=tmp / f"{mode}.db", durability=mode
            )
    references = {how: PgReference(url, how) for how in ("plain", "pipelined", "implicit")}
    sqlite_ref = bench_recording.Reference(tmp / "reference.db", same_schema=True)

    def flow(name: str) -> timing.Run:
        return lambda n: flows[(name, n)].run(base_store())

    def reference(how: str) -> timing.Run:
        return lambda n: references[how].run(base_store(), n)

    wall, cpu = timing.wall, timing.cpu
    variants: dict[str, tuple[timing.Clock, timing.Run]] = {
        "upstream": (wall, flow("upstream")),
        "upstream (thread CPU)": (cpu, flow("upstream")),
        "pg sync": (wall, flow("pg sync")),
        "pg reference (psycopg)": (wall, reference("plain")),
        "pg reference (pipelined)": (wall, reference("pipelined")),
        "pg reference (one round trip)": (wall, reference("implicit")),
        "pg async (flow thread CPU)": (cpu, flow("pg async")),
        "sqlite sync": (wall, flow("sqlite sync")),
        "sqlite reference (stdlib)": (wall, lambda n: sqlite_ref.run(base_store(), n)),
        "sqlite async (flow thread CPU)": (cpu, flow("sqlite async")),
    }
    node, _run_cost = timing.interleaved(variants, rounds, runs, SHORT, LONG)
    # The fastest hand-written way, round by round, is what the store is measured against.
    node["pg reference (fastest)"] = [
        min(values)
        for values in zip(
            *(node[name] for name in variants if name.startswith("pg reference")), strict=True
        )
    ]
    ratio = functools.partial(timing.round_ratio, node)
    cpu_up = "upstream (thread CPU)"
    ratios = {
        # Added cost over upstream, divided by what the reference pays for the same rows.
        "sync_vs_reference": ratio("pg sync", "upstream", "pg reference (fastest)"),
        "sqlite_sync_vs_reference": ratio("sqlite sync", "upstream", "sqlite reference (stdlib)"),
        "async_added_vs_upstream": ratio("pg async (flow thread CPU)", cpu_up, cpu_up),
        "sqlite_async_added_vs_upstream": ratio("sqlite async (flow thread CPU)", cpu_up, cpu_up),
    }
    for ref in references.values():
        ref.conn.close()
    return {name: statistics.median(v) for name, v in node.items()}, ratios


# ── many recording processes ──────────────────────────────────────────────────
def child(db: str, mode: str, nodes: int, flow_name: str) -> None:
    """One recording process: build, say ready, wait for go, run, print when done."""
    flow = build(pocketflow_ext, STOP_AFTER, db_path=db, durability=mode, flow_name=flow_name)
    print("ready", flush=True)
    sys.stdin.readline()
    for _ in range(nodes // NODES_PER_RUN):
        flow.run(base_store())  # a run's end waits until its rows are committed, any mode
    print(time.time(), flush=True)


def many_writers(db: str, mode: str, processes: int, nodes: int, flow_name: str) -> float:
    """Total nodes/s of ``processes`` processes recording ``nodes`` nodes each."""
    command = [sys.executable, __file__, "--child", db, mode, str(nodes), flow_name]
    procs = [
        subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        start = time.time()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        ends = []
        for proc in procs:
            assert proc.stdout is not None
            ends.append(float(proc.stdout.readline()))
    finally:
        for proc in procs:
            if proc.wait(timeout=300) != 0:
                raise SystemExit(f"a recording process failed (exit {proc.returncode})")
    return processes * nodes / (max(ends) - start)


def count_rows(db: str, flow_name: str) -> tuple[int, int]:
    """(node_end events, checkpoints) recorded for the runs of ``flow_name``."""
    sql = (
        "SELECT (SELECT count(*) FROM pf_events e JOIN pf_runs r USING (run_id) "
        "WHERE r.flow_name = {p} AND e.event = 'node_end'), "
        "(SELECT count(*) FROM pf_checkpoints c JOIN pf_runs r USING (run_id) "
        "WHERE r.flow_name = {p})"
    )
    if is_url(db):
        import psycopg

        with psycopg.connect(db) as conn:
            row = conn.execute(sql.format(p="%s"), (flow_name, flow_name)).fetchone()
    else:
        with sqlite3.connect(db) as conn:
            row = conn.execute(sql.format(p="?"), (flow_name, flow_name)).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def scaling(
    url: str, tmp: Path, nodes: int, processes_list: tuple[int, ...]
) -> dict[tuple[str, str, int], float]:
    table: dict[tuple[str, str, int], float] = {}
    for store in ("postgresql", "sqlite"):
        for mode in ("sync", "async"):
            for processes in processes_list:
                name = f"scale-{store}-{mode}-{processes}"
                db = url if store == "postgresql" else str(tmp / f"{name}.db")
                if store == "sqlite":
                    open_store(db).close()  # created once, not raced by the processes
                rate = many_writers(db, mode, processes, nodes, name)
                ends, checkpoints = count_rows(db, name)
                expected = processes * nodes
                if (ends, checkpoints) != (expected, expected):
                    raise SystemExit(
                        f"LOST ROWS: {name}: {ends} node_end events and {checkpoints} "
                        f"checkpoints recorded for {expected} nodes"
                    )
                table[(store, mode, processes)] = rate
    return table


# ── monitor queries on a large history ────────────────────────────────────────
def history_rows(n_runs: int) -> Iterator[tuple[RunRow, list[EventRow], list[CheckpointRow]]]:
    rng = random.Random(7)  # our own generator: the global one is the user's
    start = time.time() - n_runs * 60
    store = json.dumps(base_store())
    for i in range(n_runs):
        flow = f"flow{i % 5}"
        run_id, t = f"{flow}-{i:08x}", start + i * 60
        status = "failed" if rng.random() < 0.1 else "completed"
        run = RunRow(
            run_id, flow, iso(t), status, completed_at=iso(t + 30),
            total_steps=HISTORY_NODES, current_node="Step", pid=1, hostname="bench",
        )  # fmt: skip
        events = [EventRow(run_id, "flow_start", iso(t), path=flow, node_name=flow)]
        checkpoints = []
        for step in range(HISTORY_NODES):
            ts, path = iso(t + step + 1), f"{flow}/Step"
            events.append(EventRow(run_id, "node_start", ts, step, "Step", path=path))
            events.append(EventRow(run_id, "node_end", ts, step, "Step", "default", 1.0, path=path))
            checkpoints.append(CheckpointRow(run_id, step, "Step", store, ts, path))
        events.append(EventRow(run_id, "flow_end", iso(t + 30), path=flow, node_name=flow))
        yield run, events, checkpoints


def history_tables(n_runs: int) -> dict[str, tuple[tuple[str, ...], list[Any]]]:
    """The history's rows by table, built once for both stores."""
    tables: dict[str, tuple[tuple[str, ...], list[Any]]] = {
        "pf_runs": (RUN_COLUMNS, []),
        "pf_events": (EVENT_COLUMNS, []),
        "pf_checkpoints": (CHECKPOINT_COLUMNS, []),
    }
    for run, events, checkpoints in history_rows(n_runs):
        tables["pf_runs"][1].append(run)
        tables["pf_events"][1].extend(events)
        tables["pf_checkpoints"][1].extend(checkpoints)
    return tables


def fill_postgres(url: str, tables: dict[str, tuple[tuple[str, ...], list[Any]]]) -> float:
    import psycopg

    open_store(url).close()  # the store creates its schema and indexes
    t0 = time.perf_counter()
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        for table, (columns, rows) in tables.items():
            with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row([getattr(row, c) for c in columns])
        conn.commit()
        conn.autocommit = True
        conn.execute("ANALYZE")
    return time.perf_counter() - t0


def fill_sqlite(path: Path, tables: dict[str, tuple[tuple[str, ...], list[Any]]]) -> float:
    open_store(path).close()  # the store creates its schema and indexes
    t0 = time.perf_counter()
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")
    for table, (columns, rows) in tables.items():
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        conn.executemany(sql, ([getattr(r, c) for c in columns] for r in rows))
    conn.execute("COMMIT")
    # Statistics, as a careful user's file has them: with them SQLite judges the index of
    # "who resumed these runs" useless (nearly all NULL), so the store names it.
    conn.execute("ANALYZE")
    conn.close()
    return time.perf_counter() - t0


def psycopg_floor(url: str, repeats: int) -> dict[str, float]:
    """The same reads as one bare psycopg statement each (autocommit, one connection): the
    least a query to the server costs, to tell the store's overhead from the round trip."""
    import psycopg

    rng = random.Random(3)
    with psycopg.connect(url, autocommit=True) as conn:
        run_ids = [r[0] for r in conn.execute("SELECT run_id FROM pf_runs LIMIT 1000")]
        events = (
            f"SELECT id, {', '.join(EVENT_COLUMNS)} FROM pf_events WHERE run_id = %s ORDER BY id"
        )
        page = (
            f"SELECT {', '.join(RUN_COLUMNS)} FROM pf_runs "
            "ORDER BY started_at DESC, run_id DESC LIMIT 50"
        )
        checkpoint = "SELECT store_json FROM pf_checkpoints WHERE run_id = %s AND step = 1"
        return {
            "runs page (50, newest)": timing.median_ms(
                lambda: conn.execute(page).fetchall(), repeats
            ),
            "events of a run": timing.median_ms(
                lambda: conn.execute(events, (rng.choice(run_ids),)).fetchall(), repeats
            ),
            "a checkpoint": timing.median_ms(
                lambda: json.loads(
                    conn.execute(checkpoint, (rng.choice(run_ids),)).fetchone()[0]  # type: ignore[index]
                ),
                repeats,
            ),
        }


def measure_queries(location: str, repeats: int) -> dict[str, float]:
    store = open_store(location, readonly=True)  # as the monitor opens it
    run_ids = [r["run_id"] for r in store.list_runs(limit=1000)]
    rng = random.Random(3)

    try:
        return {
            "runs page (50, newest)": timing.median_ms(
                lambda: store.runs_page(ALL_RUNS, limit=50, offset=0), repeats
            ),
            "runs page (failed, flow3)": timing.median_ms(
                lambda: store.runs_page(
                    RunFilter(statuses=("failed",), flows=("flow3",)), limit=50, offset=0
                ),
                repeats,
            ),
            "events of a run": timing.median_ms(
                lambda: store.get_events([rng.choice(run_ids)]), repeats
            ),
            "a checkpoint": timing.median_ms(
                lambda: store.load_checkpoint(rng.choice(run_ids), 1), repeats
            ),
        }
    finally:
        store.close()


# ── report ────────────────────────────────────────────────────────────────────
def report(url: str, tmp: Path, args: argparse.Namespace) -> int:
    rounds, runs = (1, 1) if args.quick else (args.rounds, args.runs)
    nodes = NODES_PER_RUN * (1 if args.quick else 8)
    history = 2_000 if args.quick else args.history
    print(f"PostgreSQL run store at {masked(url)} (a fresh database), SQLite beside it")
    print(f"\nPer node: runs of {SHORT} and {LONG} nodes, {rounds} rounds x {runs} runs")
    node, ratios = measure_nodes(url, tmp, rounds, runs)
    up, up_cpu = node["upstream"], node["upstream (thread CPU)"]
    print(f"  {'variant':34} {'us/node':>8} {'added':>8}")
    for name, value in node.items():
        base = 0.0 if "reference" in name else (up_cpu if "CPU" in name else up)
        print(f"  {name:34} {value:8.1f} {value - base:8.1f}")

    print(f"\nMany writers: total nodes/s, each process recording {nodes} nodes")
    counts = QUICK_PROCESSES if args.quick else PROCESSES
    table = scaling(url, tmp, nodes, counts)
    print(f"  {'store':11} {'mode':6} " + " ".join(f"{p:>7} proc" for p in counts))
    for store in ("postgresql", "sqlite"):
        for mode in ("sync", "async"):
            cells = " ".join(f"{table[(store, mode, p)]:12,.0f}" for p in counts)
            print(f"  {store:11} {mode:6} {cells}")
    print("  every node's event and checkpoint counted afterwards: nothing lost")
    ratios["writer_nodes_per_s"] = table[("postgresql", "async", 8)]

    print(f"\nMonitor queries on {history:,} runs ({HISTORY_NODES} nodes each), median ms")
    tables = history_tables(history)
    pg_fill = fill_postgres(url, tables)
    sqlite_db = tmp / "history.db"
    sqlite_fill = fill_sqlite(sqlite_db, tables)
    del tables
    print(f"  built with COPY in {pg_fill:.1f} s (PostgreSQL), executemany in {sqlite_fill:.1f} s")
    repeats = 10 if args.quick else 50
    pg_q, sqlite_q = measure_queries(url, repeats), measure_queries(str(sqlite_db), repeats)
    floor = psycopg_floor(url, repeats)
    print(f"  {'query':28} {'postgresql':>10} {'sqlite':>8} {'ratio':>6}  {'psycopg floor':>13}")
    for name in pg_q:
        bare = f"{floor[name]:13.3f}" if name in floor else f"{'-':>13}"
        print(
            f"  {name:28} {pg_q[name]:10.3f} {sqlite_q[name]:8.3f} "
            f"{pg_q[name] / sqlite_q[name]:5.2f}x  {bare}"
        )
    print("  (psycopg floor: the same rows read by one bare statement on an open connection)")
    ratios["queries_vs_sqlite"] = max(pg_q[n] / sqlite_q[n] for n in pg_q)

    print("\nRatios")
    print(
        f"  sync recording cost / psycopg reference     {ratios['sync_vs_reference']:6.2f}x  "
        f"(target <= {TARGETS['sync_vs_reference']}; SQLite vs stdlib: "
        f"{ratios['sqlite_sync_vs_reference']:.2f}x)"
    )
    print(
        f"  async added cost on flow thread / upstream  {ratios['async_added_vs_upstream']:6.2f}x  "
        f"(target <= {TARGETS['async_added_vs_upstream']}; SQLite: "
        f"{ratios['sqlite_async_added_vs_upstream']:.2f}x)"
    )
    print(
        f"  writer throughput, 8 processes, async       {ratios['writer_nodes_per_s']:6,.0f} nodes/s "
        f"(target >= {TARGETS['writer_nodes_per_s']:,.0f})"
    )
    print(
        f"  monitor queries, slowest / SQLite           {ratios['queries_vs_sqlite']:6.2f}x  "
        f"(target <= {TARGETS['queries_vs_sqlite']})"
    )
    missed = [
        name
        for name, limit in TARGETS.items()
        if (ratios[name] < limit if name == "writer_nodes_per_s" else ratios[name] > limit)
    ]
    print("\nTargets: " + ("all met" if not missed else "MISSED " + ", ".join(missed)))
    return 1 if (missed and args.check) else 0


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        db, mode, nodes, flow_name = sys.argv[2:6]
        child(db, mode, int(nodes), flow_name)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a PostgreSQL server to create a scratch database on")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (the smoke test)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=2, help="runs per variant per round")
    parser.add_argument("--history", type=int, default=100_000, help="runs in the query history")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args()
    server = server_url(args)
    if server is None:
        print(
            "PostgreSQL bench skipped: no server. Start one with "
            '`eval "$(bash .ci/postgres start)"` or pass --url postgresql://user@host/db'
        )
        return 0
    try:
        import psycopg  # noqa: F401
    except ImportError:
        print('PostgreSQL bench skipped: psycopg is not installed (pip install -e ".[postgres]")')
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="bench-postgres-"))
    try:
        with fresh_database(server) as url:
            try:
                open_store(url).close()
            except PocketFlowExtError as exc:
                print(f"PostgreSQL bench skipped: the store cannot be used here: {exc}")
                return 0
            return report(url, tmp, args)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
