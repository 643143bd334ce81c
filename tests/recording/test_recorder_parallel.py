"""The recorder on runs with Parallel groups: every branch node's events and checkpoint,
the step count and current_node while several branches are in flight."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

import pocketflow_ext as pf


class Put(pf.Node):
    def __init__(self, key: str, fail: bool = False) -> None:
        super().__init__(name=key)
        self.key, self.fail = key, fail

    def post(self, shared: Any, prep_res: Any, exec_res: Any) -> Any:
        if self.fail:
            raise ValueError(f"{self.key} failed")
        shared[self.key] = 1


def test_each_branch_node_has_its_checkpoint_and_the_group_one_after_the_join(
    tmp_path: Path,
) -> None:
    start = Put("start")
    start >> [Put("a"), Put("b")] >> Put("end")
    flow = pf.Flow(start=start, flow_name="F", db_path=tmp_path / "runs.db")
    flow.run({})
    run = flow.db.list_runs()[0]
    assert run["status"] == "completed" and run["steps"] == 5  # start, group, a, b, end
    points = {c["path"]: c["step"] for c in flow.db.get_checkpoints(run["run_id"])}
    assert set(points) == {"F/start", "F/Parallel", "F/Parallel/a", "F/Parallel/b", "F/end"}
    load = flow.db.load_checkpoint
    assert load(run["run_id"], points["F/Parallel/a"]) == {"start": 1, "a": 1}  # its own copy
    assert load(run["run_id"], points["F/Parallel/b"]) == {"start": 1, "b": 1}
    assert load(run["run_id"], points["F/Parallel"]) == {"start": 1, "a": 1, "b": 1}


B_FAILED = threading.Event()


class SlowPut(Put):
    def exec(self, prep_res: Any) -> Any:
        B_FAILED.wait(timeout=20)  # still running when the other branch fails: ends after it


def test_a_failed_branch_is_the_runs_current_node_though_another_ends_after_it(
    tmp_path: Path,
) -> None:
    start = Put("start")
    start >> [SlowPut("a"), Put("b", fail=True)]
    flow = pf.Flow(start=start, flow_name="F", db_path=tmp_path / "runs.db")
    B_FAILED.clear()
    flow.on("node_error", lambda name, exc, store: B_FAILED.set())  # after the recorder's
    with pytest.raises(ValueError, match="b failed"):
        flow.run({})
    run = flow.db.list_runs()[0]
    assert run["status"] == "failed"
    assert run["current_node"] == "Parallel/b"
    events = flow.db.get_events(run["run_id"])
    assert [e["path"] for e in events if e["event"] in ("node_end", "node_error")] == [
        "F/start",
        "F/Parallel/b",
        "F/Parallel/a",
        "F/Parallel",
    ]
