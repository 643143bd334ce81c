"""Monitor speed on 100,000 runs: the runs-page queries and the first render of the page.

    python bench/bench_monitor.py [--runs 100000]

Builds two databases with executemany (pocketflow-ext's schema with its indexes, and
PocoFlow 0.2.1's, which has none), then times each query (best of 5) and the monitor's
first render in Streamlit's AppTest next to the same render on a 100-run database.
Target: under 1 s for the runs page.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from streamlit.testing.v1 import AppTest

from pocketflow_ext import WorkflowDB
from pocketflow_ext.runstore import RunFilter, open_store

# PocoFlow 0.2.1's pf_runs, as its WorkflowDB creates it (no index besides the key).
POCOFLOW_RUNS = """CREATE TABLE pf_runs (
    run_id TEXT PRIMARY KEY, flow_name TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'running', started_at TEXT NOT NULL, completed_at TEXT,
    total_steps INTEGER, current_node TEXT, error_msg TEXT)"""
STATUSES = ("completed",) * 90 + ("failed",) * 7 + ("cancelled",) * 2 + ("running",)


def rows(count: int) -> list[tuple[object, ...]]:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    out = []
    for n in range(count):
        began = start + dt.timedelta(seconds=n * 7)
        status = STATUSES[n % len(STATUSES)]
        ended = None if status == "running" else (began + dt.timedelta(seconds=3)).isoformat()
        out.append(
            (
                f"flow{n % 7}-{n:08x}",
                f"flow{n % 7}",
                status,
                began.isoformat(timespec="microseconds"),
                ended,
                n % 12,
                f"Node{n % 5}",
                "ValueError: boom" if status == "failed" else None,
            )
        )
    return out


def build(path: Path, count: int, ours: bool) -> Path:
    if ours:
        WorkflowDB(path).close()  # our schema, migrated and indexed
    with sqlite3.connect(path) as conn:
        if not ours:
            conn.execute(POCOFLOW_RUNS)
        conn.executemany(
            "INSERT INTO pf_runs (run_id, flow_name, status, started_at, completed_at, "
            "total_steps, current_node, error_msg) VALUES (?,?,?,?,?,?,?,?)",
            rows(count),
        )
    return path


def best_of(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def page_time(db: Path, filt: RunFilter, page: int) -> float:
    def query() -> None:
        with open_store(db, readonly=True) as store:
            store.runs_page(filt, limit=50, offset=page * 50)

    return best_of(query)


def render_script(db_path: str) -> None:
    from pocketflow_ext.ui import render_workflow_monitor

    render_workflow_monitor(db_path)


def render_time(db: Path) -> float:
    def render() -> None:
        app = AppTest.from_function(render_script, args=(str(db),), default_timeout=120).run()
        assert not app.exception and len(app.dataframe[0].value) > 0

    return best_of(render, repeat=3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    count = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as tmp:
        small = build(Path(tmp) / "small.db", 100, ours=True)
        cases = {
            "first page": (RunFilter(), 0),
            "last page": (RunFilter(), (count - 1) // 50),
            "status=failed": (RunFilter(statuses=("failed",)), 0),
            "status=running/interrupted": (RunFilter(statuses=("running", "interrupted")), 0),
            "flow=flow3": (RunFilter(flows=("flow3",)), 0),
            "run id contains '00abc'": (RunFilter(search="00abc"), 0),
        }
        print(f"runs-page query (count + 50 rows, best of 5) on {count:,} runs")
        print(f"  {'case':<28} {'pocketflow-ext':>14} {'PocoFlow 0.2.1':>15}")
        t0 = time.perf_counter()
        ours = build(Path(tmp) / "ours.db", count, ours=True)
        theirs = build(Path(tmp) / "pocoflow.db", count, ours=False)
        print(f"  (both databases built in {time.perf_counter() - t0:.1f} s)")
        for name, (filt, page) in cases.items():
            a, b = page_time(ours, filt, page), page_time(theirs, filt, page)
            print(f"  {name:<28} {a * 1000:>11.1f} ms {b * 1000:>12.1f} ms")
        big, little = render_time(ours), render_time(small)
        print("first render of the monitor page (AppTest, best of 3)")
        print(
            f"  {count:,} runs: {big * 1000:.0f} ms   100 runs: {little * 1000:.0f} ms   "
            f"ratio {big / little:.2f}x"
        )


if __name__ == "__main__":
    main()
