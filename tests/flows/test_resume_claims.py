"""Two processes resuming one run at once: exactly one continues it, the other is refused
with a ResumeError naming the run and who holds it (on both stores)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from pocketflow_ext import WorkflowDB

RACER = Path(__file__).with_name("resume_racer.py")


def racer(db: str, directory: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(RACER), db, *args[:1], str(directory), *args[1:]],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.timeout(120)
def test_two_processes_resuming_one_run_at_once_only_one_continues(
    run_store_url: str, tmp_path: Path
) -> None:
    recorded = racer(run_store_url, tmp_path, "record")
    out, err = recorded.communicate(timeout=60)
    assert recorded.returncode == 0, err
    run_id = out.strip()
    both = [racer(run_store_url, tmp_path, "resume", run_id) for _ in range(2)]
    (tmp_path / "go").touch()  # both start resuming now
    # The winner holds in its node until released; the loser is refused meanwhile.
    while all(p.poll() is None for p in both):
        time.sleep(0.05)
    (tmp_path / "release").touch()
    results = [(p.wait(timeout=60), *p.communicate(timeout=60)) for p in both]
    codes = sorted(code for code, _out, _err in results)
    assert codes == [0, 3], results
    (refusal,) = [err for code, _out, err in results if code == 3]
    (winner,) = [out for code, out, _err in results if code == 0]
    assert f"run {run_id!r} is already being resumed as run 'race-" in refusal
    assert "'worked': True" in winner
    with WorkflowDB(run_store_url, readonly=True) as db:
        runs = db.list_runs()
    resumed = [r for r in runs if r["resumed_from"] == run_id]
    assert [r["status"] for r in resumed] == ["completed"]
    assert resumed[0]["run_id"] in refusal  # the refusal names the run that holds the claim


def test_a_claim_lapses_when_its_run_ends_so_the_run_can_be_resumed_again(
    run_store_url: str, tmp_path: Path
) -> None:
    recorded = racer(run_store_url, tmp_path, "record")
    out, err = recorded.communicate(timeout=60)
    run_id = out.strip()
    (tmp_path / "go").touch()
    (tmp_path / "release").touch()
    for _ in range(2):  # the first resume completed: its claim no longer holds
        again = racer(run_store_url, tmp_path, "resume", run_id)
        assert again.wait(timeout=60) == 0, again.communicate()
    with WorkflowDB(run_store_url, readonly=True) as db:
        assert len(db.get_run(run_id)["resumed_by"]) == 2
