"""The benchmark scripts keep running: each one at a tiny size, checking what it reports
(never its timings: those are for bench/ runs on a quiet machine, not for tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def run_bench(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        cwd=BENCH, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_core_bench_reports_every_variant_against_upstream() -> None:
    out = run_bench("bench_core.py", "--rounds", "1", "--laps", "2")
    for variant in ("upstream", "drop-in, nothing configured", "all three (hook+Store+retry)"):
        assert variant in out
    assert "<= 1.1x" in out  # the drop-in target
    # hook + typed Store + retry per run size, with the 100-node target and the fixed cost
    for size in ("11", "101", "10001"):
        assert any(line.split()[:1] == [size] for line in out.splitlines()), size
    assert "<= 1.5x" in out and "fixed cost per run" in out and "<= 30 µs" in out


def test_instrument_bench_reports_its_target_and_every_variant() -> None:
    out = run_bench("bench_instrument.py", "--rounds", "1", "--nodes", "20")
    assert "after uninstrument()" in out and "instrument(db_path=...): recorded" in out
    assert "instrument(): event stream + log" in out and "<= 2.0x" in out


def test_recording_bench_reports_ratios_and_query_times() -> None:
    out = run_bench(
        "bench_recording.py", "--rounds", "1", "--runs", "1", "--history", "50", "--no-pocoflow"
    )
    assert "sync recording cost / stdlib reference" in out
    assert "async added cost on flow thread / upstream" in out


def test_monitor_bench_reports_the_first_render() -> None:
    pytest.importorskip("streamlit")
    out = run_bench("bench_monitor.py", "--runs", "200")
    assert "first render of the monitor page" in out


def test_postgres_bench_reports_its_targets_or_says_why_it_cannot() -> None:
    out = run_bench("bench_postgres.py", "--quick")
    if not os.environ.get("POCKETFLOW_EXT_TEST_PG_URL"):
        assert "PostgreSQL bench skipped: no server" in out
        return
    for line in (
        "sync recording cost / psycopg reference",
        "async added cost on flow thread / upstream",
        "writer throughput, 8 processes, async",
        "monitor queries, slowest / SQLite",
        "nothing lost",
    ):
        assert line in out, line
    for store in ("postgresql", "sqlite"):
        for mode in ("sync", "async"):
            assert any(line.split()[:2] == [store, mode] for line in out.splitlines())
