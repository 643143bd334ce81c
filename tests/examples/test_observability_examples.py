"""The observability examples run offline and print what their docs pages promise."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

Run = Callable[..., str]
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_streaming_example_prints_tokens_writes_and_cancels_on_break(run_example: Run) -> None:
    out = run_example("streaming_tokens.py")
    assert "tokens: PocketFlow is a 100-line LLM framework." in out
    assert "Answer wrote ['answer']" in out and "Cite wrote ['sources']" in out
    assert "after break: ['answer', 'question']" in out  # Cite never ran
    assert "async tokens: 7" in out


def test_graph_pictures_example_prints_mermaid_and_dot(run_example: Run) -> None:
    out = run_example("graph_pictures.py")
    assert out.startswith("flowchart LR\n")
    assert '  subgraph s0["Editing"]' in out and "  n0 --> s0" in out
    assert '  n3 -.->|"*"| n5' in out
    assert "digraph flow {" in out and "subgraph cluster_0 {" in out


def test_metrics_example_scrapes_its_own_endpoint(run_example: Run) -> None:
    pytest.importorskip("prometheus_client")
    out = run_example("metrics_scrape.py")
    assert 'pocketflow_ext_runs_total{flow="digest",status="completed"} 3.0' in out
    assert 'pocketflow_ext_node_retries_total{flow="digest",node="digest/Fetch"} 3.0' in out
    assert (
        'pocketflow_ext_node_duration_seconds_count{flow="digest",node="digest/Summarise"} 3.0'
        in out
    )


def test_tracing_example_prints_the_span_tree(run_example: Run) -> None:
    pytest.importorskip("opentelemetry.sdk")
    out = run_example("tracing_in_memory.py")
    assert out.splitlines() == [
        "essay [run]",
        "  essay/Plan [node] retries=1",
        "  essay/Writing [node]",
        "    essay/Writing [flow]",
        "      essay/Writing/Write [node]",
        "      essay/Writing/Polish [node]",
        "one trace: True",
    ]


def test_webhook_example_receives_signed_notices(run_example: Run) -> None:
    out = run_example("webhook_receiver.py")
    assert "signed=True run.completed flow=nightly-report error=None" in out
    assert "signed=True run.failed flow=nightly-sync error=RuntimeError: upstream API down" in out


def test_plugin_package_example_installs_and_runs_as_a_subscriber(tmp_path: Path) -> None:
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--no-build-isolation", "--target", str(site), str(EXAMPLES / "plugin_package")],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    script = tmp_path / "slow.py"
    script.write_text(
        "import time, pocketflow\n"
        "class Wait(pocketflow.Node):\n"
        "    def exec(self, _):\n"
        "        time.sleep(0.05)\n"
        "pocketflow.Flow(start=Wait()).run({})\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("POCKETFLOW_EXT_")}
    env.update(PYTHONPATH=str(site), SLOW_NODE_SECONDS="0.01")
    done = subprocess.run(
        [sys.executable, "-m", "pocketflow_ext", "run", "--no-trace", "--db", "runs.db",
         "--subscriber", "slow-nodes", str(script)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "slow node: Flow/Wait took" in done.stderr
