"""Resume and Ctrl+C of runs that stopped with several Parallel branches in flight, in
child processes as users run them."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import pocketflow_ext as pf

CHILD = Path(__file__).with_name("parallel_child.py")


def child(db: Path, mode: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHILD), str(db), mode, *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def log_of(db: Path) -> list[str]:
    path = Path(str(db) + ".log")
    lines = path.read_text().splitlines() if path.exists() else []
    path.unlink(missing_ok=True)
    return lines


def only_run(db: Path) -> dict:
    with pf.WorkflowDB(db) as wdb:
        runs = wdb.list_runs()
    return runs[0]


def test_resume_after_a_failed_branch_reruns_only_the_unfinished_branches(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    failed = child(db, "fail")
    assert failed.returncode == 1 and "b failed on purpose" in failed.stdout
    assert sorted(log_of(db)) == ["Start", "a", "c1", "c2"]
    run = only_run(db)
    assert run["status"] == "failed"

    resumed = child(db, "resume", run["run_id"])
    assert resumed.returncode == 0, resumed.stderr
    assert log_of(db) == ["b", "Merge"]  # a and the whole of c kept their results
    # branch order, whatever order the branches finished in; branch c's contribution is
    # what its flow left in "parts" (c2 overwrote c1's in the branch's own copy)
    assert resumed.stdout.rstrip().endswith("['start', 'a', 'b', 'c2']")
    assert "('a', True), ('b', True), ('c1', True), ('c2', True)" in resumed.stdout


def test_a_resumed_group_that_fails_again_keeps_branches_finished_in_either_run(
    tmp_path: Path,
) -> None:
    db = tmp_path / "runs.db"
    child(db, "fail")
    first = only_run(db)["run_id"]
    log_of(db)
    again = child(db, "fail-resume-fails", first)  # not "resume": b fails again
    assert again.returncode != 0
    with pf.WorkflowDB(db) as wdb:
        second = wdb.list_runs()[0]
    resumed = child(db, "resume", second["run_id"])
    assert resumed.returncode == 0, resumed.stderr
    assert log_of(db) == ["b", "Merge"]
    assert resumed.stdout.rstrip().endswith("['start', 'a', 'b', 'c2']")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
def test_ctrl_c_stops_every_branch_and_the_cancelled_run_resumes(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    started = Path(str(db) + ".started")
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), str(db), "sigint"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # a few ticks in each branch
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in out, err
    run = only_run(db)
    assert run["status"] == "cancelled"
    with pf.WorkflowDB(db) as wdb:
        events = wdb.get_events(run["run_id"])
    starts = [e for e in events if e["event"] == "node_start"]
    ends = [e for e in events if e["event"] in ("node_end", "node_error")]
    assert len(starts) == len(ends)  # every branch node ended or failed: none left running
    assert {e["path"] for e in starts} >= {"fan/Fan/x/Tick", "fan/Fan/y/Tick"}

    log_of(db)
    resumed = child(db, "resume-sigint", run["run_id"])
    assert resumed.returncode == 0, resumed.stderr
    ran = log_of(db)
    assert ran.count("x/Tick") == 5 and ran.count("y/Tick") == 5 and ran[-1] == "Merge"
    assert "('x', 5), ('y', 5)" in resumed.stdout


class Mark(pf.Node):
    """Writes its key; raises while ``broken`` holds its name."""

    broken: set[str] = set()
    ran: list[str] = []

    def __init__(self, key: str) -> None:
        super().__init__(name=key)
        self.key = key

    def post(self, shared: dict, prep_res: object, exec_res: object) -> None:
        if self.key in Mark.broken:
            raise RuntimeError(f"{self.key} is broken")
        Mark.ran.append(self.key)
        shared[self.key] = len(Mark.ran)


class AsyncMark(pf.AsyncNode):
    def __init__(self, key: str) -> None:
        super().__init__(name=key)
        self.key = key

    async def post_async(self, shared: dict, prep_res: object, exec_res: object) -> None:
        Mark.ran.append(self.key)
        shared[self.key] = "async"


def test_a_group_inside_a_nested_async_flow_resumes_without_its_finished_branches(
    tmp_path: Path,
) -> None:
    def build() -> pf.AsyncFlow:
        inner_start = Mark("inner_start")
        inner_start >> [AsyncMark("a"), Mark("b"), Mark("c")] >> Mark("after")
        inner = pf.AsyncFlow(start=inner_start, flow_name="Inner")
        first = Mark("first")
        first >> inner >> Mark("last")
        return pf.AsyncFlow(start=first, flow_name="outer", db_path=tmp_path / "runs.db")

    Mark.ran, Mark.broken = [], {"c"}
    flow = build()
    with pytest.raises(RuntimeError, match="c is broken"):
        flow.run({})
    run_id = flow.db.list_runs()[0]["run_id"]
    assert sorted(Mark.ran) == ["a", "b", "first", "inner_start"]

    Mark.ran, Mark.broken = [], set()
    store = build().resume(run_id)
    assert Mark.ran == ["c", "after", "last"]
    assert store["a"] == "async" and {"b", "c", "first", "inner_start", "after", "last"} <= set(
        store
    )


def test_a_group_that_is_the_first_node_cannot_be_resumed_mid_group(tmp_path: Path) -> None:
    def build() -> pf.Flow:
        return pf.Flow(
            start=pf.Parallel(Mark("a"), Mark("b")), flow_name="F", db_path=tmp_path / "r.db"
        )

    Mark.ran, Mark.broken = [], {"b"}
    flow = build()
    with pytest.raises(RuntimeError):
        flow.run({})
    run_id = flow.db.list_runs()[0]["run_id"]
    Mark.broken = set()
    with pytest.raises(pf.ResumeError, match="store the group started with"):
        build().resume(run_id)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
def test_ctrl_c_of_an_async_flow_cancels_async_branches_and_stops_threaded_ones(
    tmp_path: Path,
) -> None:
    db = tmp_path / "runs.db"
    started = Path(str(db) + ".started")
    proc = subprocess.Popen(
        [sys.executable, str(CHILD.with_name("parallel_async_child.py")), str(db)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in out, err
    run = only_run(db)
    assert run["status"] == "cancelled"
    with pf.WorkflowDB(db) as wdb:
        events = wdb.get_events(run["run_id"])
    starts = [e for e in events if e["event"] == "node_start"]
    assert len(starts) == len([e for e in events if e["event"] in ("node_end", "node_error")])
    errors = {e["path"] for e in events if e["event"] == "node_error"}
    assert {"af/Parallel/x", "af/Parallel/y", "af/Parallel"} <= errors
