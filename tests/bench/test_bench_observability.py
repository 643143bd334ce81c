"""bench/bench_observability.py keeps running: at a tiny size, checking what it reports
(never its timings)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_observability_bench_reports_each_subscriber_alone_and_both() -> None:
    pytest.importorskip("prometheus_client")
    pytest.importorskip("opentelemetry.sdk")
    done = subprocess.run(
        [sys.executable, str(BENCH / "bench_observability.py"), "--rounds", "1", "--nodes", "10"],
        cwd=BENCH, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    for variant in ("upstream", "PrometheusMetrics", "OpenTelemetryTracer", "metrics + tracing"):
        assert variant in done.stdout
    assert "<= 3x" in done.stdout and "building the spans (SDK" in done.stdout
