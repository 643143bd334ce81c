"""bench_functions.py keeps running and reports its three targets (never checks timings)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_functions_bench_reports_dispatch_hit_and_miss_against_their_targets() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / "bench_functions.py"), "--rounds", "1", "--nodes", "5"],
        cwd=BENCH, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "@node function" in out and "<= 1.2x" in out
    assert "cache hit on SQLite, 10 KB" in out and "<= 200 µs" in out
    assert "cache miss added to it" in out and "<= 1.3x" in out
