"""What a run is, the same for every store and reader: timestamps, run ids, the derived
status, and the run dict every reader gets (``runs.run_view``)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pocketflow_ext import WorkflowDB
from pocketflow_ext.errors import ConfigurationError
from pocketflow_ext.runstore import runs


def test_timestamps_are_iso_utc_and_sort_as_text() -> None:
    early, late = runs.iso(1_700_000_000.0), runs.iso(1_700_000_000.5)
    assert early.endswith("+00:00") and "T" in early
    assert early < late
    assert runs.parse_iso(late) == pytest.approx(1_700_000_000.5)


@pytest.mark.parametrize("bad", ["", "a/b", "line\nbreak", "x" * 201, 42, None, b"bytes"])
def test_malformed_run_ids_are_rejected(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="run_id"):
        runs.check_run_id(bad)


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_running_row_of_a_dead_local_process_reads_as_interrupted() -> None:
    row = {"status": "running", "pid": dead_pid(), "hostname": socket.gethostname()}
    assert runs.derive_status(row) == "interrupted"


def test_running_row_with_stale_heartbeat_reads_as_interrupted() -> None:
    stale = runs.iso(1_000_000.0)
    row = {"status": "running", "pid": 1, "hostname": "elsewhere", "heartbeat_at": stale}
    assert runs.derive_status(row) == "interrupted"


def test_running_row_of_a_live_process_stays_running() -> None:
    row = {
        "status": "running",
        "pid": os.getpid(),
        "hostname": socket.gethostname(),
        "heartbeat_at": runs.iso(),
    }
    assert runs.derive_status(row) == "running"


def test_pocoflow_rows_without_process_columns_keep_their_status() -> None:
    assert runs.derive_status({"status": "running"}) == "running"
    assert runs.derive_status({"status": "completed"}) == "completed"


def dead_run(db: WorkflowDB, run_id: str, **fields: object) -> None:
    db.create_run(run_id, "f", pid=dead_pid(), hostname=socket.gethostname(),
                  started_at="2026-01-01T00:00:00.000000+00:00", **fields)  # fmt: skip


def test_an_interrupted_run_lasts_until_its_last_recorded_activity(tmp_path: Path) -> None:
    db = WorkflowDB(tmp_path / "runs.db")
    dead_run(db, "gone-1", heartbeat_at="2026-01-01T00:00:05.000000+00:00")
    for step, second in ((0, 2), (1, 9)):
        db.save_event(
            "gone-1", "node_end", step=step, ts=f"2026-01-01T00:00:0{second}.000000+00:00"
        )
    run = db.get_run("gone-1")
    assert run is not None and run["status"] == "interrupted"
    assert run["last_activity_at"] == "2026-01-01T00:00:09.000000+00:00"
    assert run["duration_s"] == pytest.approx(9.0)  # not counting on after its process died
    assert run["steps"] == 2  # counted from its events: total_steps was never written
    assert db.list_runs(status="interrupted")[0]["duration_s"] == pytest.approx(9.0)


def test_a_live_run_counts_its_duration_to_now_and_its_steps_so_far(tmp_path: Path) -> None:
    db = WorkflowDB(tmp_path / "runs.db")
    db.create_run("live-1", "f", pid=os.getpid(), hostname=socket.gethostname())
    db.save_event("live-1", "node_end", step=0)
    run = db.get_run("live-1")
    assert run is not None and run["status"] == "running" and run["steps"] == 1
    assert 0 <= run["duration_s"] < 60


def test_a_run_knows_who_resumed_it_and_whether_one_completed(tmp_path: Path) -> None:
    db = WorkflowDB(tmp_path / "runs.db")
    db.create_run("first", "f", status="failed")
    db.create_run("again-1", "f", status="failed", resumed_from="first",
                  started_at="2026-01-01T00:00:01.000000+00:00")  # fmt: skip
    db.create_run("again-2", "f", status="completed", resumed_from="first",
                  started_at="2026-01-01T00:00:02.000000+00:00")  # fmt: skip
    run = db.get_run("first")
    assert run is not None
    assert run["resumed_by"] == ["again-2", "again-1"] and run["resumed_ok"] is True
    assert db.get_run("again-1")["resumed_ok"] is False


def test_the_stale_threshold_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from pocketflow_ext.runstore.runs import derive_status, iso

    now = 1_800_000_000.0
    row = {"status": "running", "pid": 1, "hostname": "elsewhere", "heartbeat_at": iso(now - 30)}
    assert derive_status(row, now) == "running"  # 30 s < the default 60 s
    monkeypatch.setenv("POCKETFLOW_EXT_STALE_AFTER", "20")
    assert derive_status(row, now) == "interrupted"


@pytest.mark.parametrize("value", ["5", "2", "soon", "nan", "-1"])
def test_a_stale_threshold_not_above_the_heartbeat_interval_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    from pocketflow_ext.errors import ConfigurationError
    from pocketflow_ext.runstore.runs import stale_after

    monkeypatch.setenv("POCKETFLOW_EXT_STALE_AFTER", value)
    with pytest.raises(ConfigurationError, match="POCKETFLOW_EXT_STALE_AFTER.*greater than"):
        stale_after()
