"""The background-run and resume examples run offline and print what the docs promise."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest


def test_background_example_waits_cancels_and_records_every_run(
    run_example: Callable[..., str],
) -> None:
    out = run_example("background_run.py")
    assert "run id looks like research-<8 hex>: True" in out
    assert "status while waiting: running" in out
    assert "still running after 0.05 s" in out
    assert "status: completed" in out and "published: [pocketflow] notes about" in out
    assert "cancelled: RunCancelled" in out and "second status: cancelled" in out
    assert "distinct run ids: 3" in out
    assert "recorded: ['cancelled', 'completed', 'completed', 'completed', 'completed']" in out


@pytest.mark.skipif(sys.platform == "win32", reason="the example kills itself with SIGKILL")
def test_resume_example_continues_a_killed_run_without_repeating_nodes(
    run_example: Callable[..., str],
) -> None:
    out = run_example("resume_after_crash.py")
    assert "first process killed by signal: True" in out
    assert "interrupted run: True checkpoints: ['Draft', 'Polish']" in out
    assert "url: https://example.invalid/checkpoints" in out
    assert "llm calls in this process: 0" in out
    assert "resumed run: completed ran ['Publish']" in out
    assert "resume_from after Polish: https://example.invalid/checkpoints" in out
