"""The core examples run offline as users would run them, and print what the docs promise."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

Run = Callable[..., str]
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_typed_store_example_writes_through_and_rejects_bad_types(run_example: Run) -> None:
    out = run_example("typed_store.py")
    assert "observer: words: 0 -> 4" in out
    assert "words in the caller's dict: 4" in out
    assert "rejected: store 'counter': key 'words' expects int, got str" in out
    assert "restored: {'text': 'the quick brown fox', 'words': 4}" in out
    assert not (EXAMPLES / "counter_snapshot.json").exists()


def test_edges_and_hooks_example_follows_named_edges_and_stops_runaway_loop(
    run_example: Run,
) -> None:
    out = run_example("edges_and_hooks.py")
    assert out.splitlines().count("> Draft") == 2 and "  Review -> approve" in out
    assert "done in 5 steps" in out and "published: True" in out
    assert "stopped: flow 'runaway' exceeded max_steps=5" in out


def test_retry_example_retries_flaky_calls_then_succeeds(run_example: Run) -> None:
    out = run_example("retry_backoff.py")
    assert "retry Summarise after attempt 1" in out and "retry Summarise after attempt 2" in out
    assert "summary: PocketFlow keeps workflows small" in out
    assert "llm calls: 3" in out


def test_async_example_runs_async_nodes_in_sync_flow_even_inside_a_loop(run_example: Run) -> None:
    out = run_example("async_in_sync_flow.py")
    assert "summaries: ['first document about flows', 'second document about nodes']" in out
    assert "from a running loop: ['third document']" in out


@pytest.mark.parametrize("name", ["one_mixin_at_a_time.py"])
def test_single_mixins_on_upstream_classes(run_example: Run, name: str) -> None:
    out = run_example(name)
    assert "Greet -> anything" in out
    assert "shared: {'greeted': True, 'flaky': 'ok'}" in out


def test_quickstart_records_a_completed_run_with_its_checkpoint(
    run_example: Run, tmp_path: Path
) -> None:
    from pocketflow_ext import WorkflowDB

    db_path = tmp_path / "quick.db"
    out = run_example("quickstart.py", str(db_path))
    assert "Summarise -> done" in out
    assert "Summarise: PocketFlow models an LLM app" in out
    (run,) = WorkflowDB(db_path).list_runs()
    assert run["flow_name"] == "summarise" and run["status"] == "completed"
    store = WorkflowDB(db_path).load_checkpoint(run["run_id"], step=0)
    assert store["summary"].startswith("Summarise: PocketFlow")


def test_demo_records_completed_and_failed_runs_with_nested_paths(
    run_example: Run, tmp_path: Path
) -> None:
    from pocketflow_ext import WorkflowDB

    db_path = tmp_path / "demo.db"
    out = run_example("demo.py", str(db_path))
    assert "solar power: published=True" in out and "fusion: failed" in out
    db = WorkflowDB(db_path)
    runs = db.list_runs()
    assert sorted(r["status"] for r in runs) == ["completed", "completed", "failed"]
    failed = next(r for r in runs if r["status"] == "failed")
    assert "sources missing" in failed["error_msg"]
    paths = {e["path"] for e in db.get_events(failed["run_id"])}
    assert {"research/Writing/Review", "research/SummariseAll/Summarise"} <= paths


def test_large_store_example_records_declared_changes_as_deltas(
    run_example: Run, tmp_path: Path
) -> None:
    out = run_example("large_store.py", str(tmp_path))
    assert "step 0 (AddRecord): 5001 records, count 1, full checkpoint" in out
    assert "step 1 (Count): 5001 records, count 2, delta checkpoint" in out
