"""bench_parallel.py keeps running: tiny sizes, checking what it reports (never timings)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_parallel_bench_reports_every_part_with_its_target() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / "bench_parallel.py"), "--rounds", "1", "--quick"],
        cwd=BENCH, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "<= 1.15x" in out and "sync (threads)" in out and "async (event loop)" in out
    assert "<= 100 µs per branch" in out and "dormant: per branch" in out
    assert "with a subscriber: per branch" in out
    assert ">= 1.6x" in out and 'executor="processes" (2)' in out
    assert "Dask LocalCluster (2 workers)" in out or "Dask not installed" in out
