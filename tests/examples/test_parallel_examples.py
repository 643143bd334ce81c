"""The parallel examples (the peers' fan-out/fan-in and parallel tasks) run offline."""

from __future__ import annotations

from collections.abc import Callable

import pytest

Run = Callable[..., str]


def test_flowkit_fan_out_and_fan_in_join_in_branch_order(run_example: Run) -> None:
    out = run_example("parallel_fan_out.py")
    assert "report: {'result_a': 31, 'result_b': 9, 'result_c': [1, 1, 2, 3, 4, 5, 6, 9]}" in out
    assert "joined in branch order: ['a', 'b', 'c']" in out
    assert "'orders': ['order1', 'order2'], 'recommendations': ['item1']" in out


def test_pyoco_parallel_tasks_run_together_and_the_batch_stays_under_its_limit(
    run_example: Run,
) -> None:
    out = run_example("parallel_tasks.py")
    assert "saved: CARROT (6 letters)" in out
    assert "12 summaries, at most 3 calls at once" in out


def test_the_batch_executor_example_gives_the_same_items_in_order_everywhere(
    run_example: Run,
) -> None:
    out = run_example("parallel_batch_executor.py")
    assert "sequential: ['2ff075522509'" in out and "exec in this process" in out
    assert "processes: ['2ff075522509'" in out and "exec in other processes" in out


def test_the_batch_executor_example_runs_on_a_dask_local_cluster(run_example: Run) -> None:
    pytest.importorskip("distributed")
    out = run_example("parallel_batch_executor.py", "--dask")
    assert "dask: ['2ff075522509'" in out
