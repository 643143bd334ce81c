"""Flowkit's and Pyoco's README examples, written with @task, run offline and print the
peers' expected results."""

from __future__ import annotations

from collections.abc import Callable

Run = Callable[..., str]


def test_flowkit_etl_pipeline_loads_and_notifies_and_caches_the_extract(run_example: Run) -> None:
    out = run_example("flowkit_etl.py", "--twice")
    assert (
        "{'load_to_database': 'Loaded 3 records', 'send_notification': 'Notification sent'}" in out
    )
    assert "ETL completed: Loaded 3 records" in out
    assert "second run API calls: 1 same result: True" in out


def test_flowkit_approval_workflow_takes_the_branch_its_size_selects(run_example: Run) -> None:
    large = run_example("flowkit_approval.py")
    assert large.splitlines() == [
        "Large dataset (3000) - manual approval required",
        "skipped auto_approve",
        "Loading 3000 with MANUAL_APPROVAL",
        "result: LOADED_MANUAL_APPROVAL",
    ]
    small = run_example("flowkit_approval.py", "500")
    assert "Small dataset (1000) - auto-approved" in small
    assert "skipped require_manual_approval" in small
    assert "result: LOADED_AUTO_APPROVED" in small


def test_flowkit_parallel_processing_totals_the_three_batches(run_example: Run) -> None:
    out = run_example("flowkit_parallel.py")
    assert out.splitlines()[0] == "Total: 499500"
    assert "batch form: Total: 499500" in out


def test_pyoco_hello_prints_pyocos_lines(run_example: Run) -> None:
    out = run_example("pyoco_hello.py")
    assert out.splitlines() == [" Fetching data...", " Processing: carrot", " Saved: CARROT"]
