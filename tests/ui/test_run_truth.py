"""The monitor and the CLI tell the same truth about a run: runs recorded by real
``pocketflow-ext run`` processes (one killed with SIGKILL), read by ``runs``, ``show`` and
the monitor."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from monitor_app import monitor, open_run, tab

from pocketflow_ext.runstore.runs import parse_iso
from pocketflow_ext.ui.display import duration

pytestmark = pytest.mark.timeout(180)

# Five quick nodes, then Hang, which waits forever while the file "hang" exists; Inner/Y
# (a node of a nested flow) fails while the file "fail" exists.
SCRIPT = """
import os, time
import pocketflow

class Quick(pocketflow.Node):
    def post(self, shared, prep_res, exec_res):
        shared["done"] = shared.get("done", 0) + 1

class Hang(pocketflow.Node):
    def post(self, shared, prep_res, exec_res):
        if os.path.exists("hang"):
            open("ready", "w").close()
            time.sleep(600)
        shared["hang"] = "passed"

class Y(pocketflow.Node):
    def post(self, shared, prep_res, exec_res):
        if os.path.exists("fail"):
            raise RuntimeError("node Y is broken")

class Inner(pocketflow.Flow): pass

def chain(*nodes):
    for a, b in zip(nodes, nodes[1:]):
        a >> b
    return nodes[0]

quick = [type(f"N{i}", (Quick,), {})() for i in range(1, 6)]
inner = Inner(start=chain(type("X", (Quick,), {})(), Y()))
pocketflow.Flow(start=chain(*quick, inner, Hang())).run({})
print("finished", flush=True)
"""
NODE_STARTS = 9  # until Hang hangs: N1-N5, the nested flow Inner, X, Y, Hang


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POCKETFLOW_EXT_")}
    return subprocess.run(
        [sys.executable, "-m", "pocketflow_ext", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def listed(cwd: Path) -> dict[str, dict[str, Any]]:
    result = cli(cwd, "runs", "runs.db", "--json")
    assert result.returncode == 0, result.stderr
    return {r["run_id"]: r for r in json.loads(result.stdout)}


def shown(cwd: Path, run_id: str) -> tuple[str, dict[str, Any]]:
    text, data = cli(cwd, "show", "runs.db", run_id), cli(cwd, "show", "runs.db", run_id, "--json")
    assert text.returncode == 0 and data.returncode == 0, text.stderr + data.stderr
    return text.stdout, json.loads(data.stdout)


def monitor_row(db: Path, run_id: str) -> Any:
    return monitor(db).dataframe[0].value.set_index("Run id").loc[run_id]


@pytest.fixture
def interrupted(tmp_path: Path) -> str:
    """A run whose process was killed (SIGKILL) while its sixth node ran."""
    (tmp_path / "script.py").write_text(textwrap.dedent(SCRIPT))
    (tmp_path / "hang").touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith("POCKETFLOW_EXT_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "pocketflow_ext", "run", "--no-trace", "--db", "runs.db"]
        + ["script.py"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        while not (tmp_path / "ready").exists():
            assert process.poll() is None, "the script ended before its node hung"
            assert time.monotonic() < deadline, "the script never reached its hanging node"
            time.sleep(0.05)
        # While it runs: no total yet, so the steps come from the events recorded so far.
        # Hang's own node_start may be committed a moment after it started: wait for all
        # nine (N1-N5, Inner, X, Y, Hang), after which nothing more is recorded.
        while (live := next(iter(listed(tmp_path).values())))["steps"] < NODE_STARTS:
            assert time.monotonic() < deadline, f"only {live['steps']} node starts recorded"
            time.sleep(0.1)
        assert live["status"] == "running" and live["total_steps"] is None
        assert live["steps"] == NODE_STARTS
        assert monitor_row(tmp_path / "runs.db", live["run_id"])["Steps"] == str(NODE_STARTS)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    (run_id,) = listed(tmp_path)
    return run_id


def test_interrupted_run_has_one_duration_and_step_count_in_every_reader(
    tmp_path: Path, interrupted: str
) -> None:
    run = listed(tmp_path)[interrupted]
    text, detail = shown(tmp_path, interrupted)
    node_starts = [e for e in detail["events"] if e["event"] == "node_start"]
    assert run["status"] == detail["run"]["status"] == "interrupted"
    # Steps recorded so far, as the timeline lists them (the five quick nodes at least).
    assert run["steps"] == detail["run"]["steps"] == len(node_starts) >= 5
    # Duration up to the last recorded activity, not to the reader's clock.
    last = max(e["ts"] for e in detail["events"])
    assert run["last_activity_at"] == max(last, run["heartbeat_at"])
    assert run["duration_s"] == pytest.approx(
        parse_iso(run["last_activity_at"]) - parse_iso(run["started_at"])
    )
    assert listed(tmp_path)[interrupted]["duration_s"] == run["duration_s"]  # not counting on
    header = text.splitlines()[0]
    assert f"· {len(node_starts)} steps · {duration(run['duration_s'])}" in header
    row = monitor_row(tmp_path / "runs.db", interrupted)
    assert row["Steps"] == str(len(node_starts))
    assert row["Duration"] == duration(run["duration_s"])
    assert row["Current node"] == node_starts[-1]["path"].split("/", 1)[1]


def test_resume_tab_of_an_interrupted_run_gives_code_and_the_recorded_command_that_resumes_it(
    tmp_path: Path, interrupted: str
) -> None:
    db = tmp_path / "runs.db"
    app = open_run(monitor(db), interrupted)
    resume = tab(app, "Resume")
    assert f"flow.resume({interrupted!r}, db_path={str(db)!r})" in resume.code[0].value
    command = resume.code[1].value
    assert command == (
        f"cd {tmp_path} && pocketflow-ext run --db {db} --resume {interrupted} "
        f"{tmp_path / 'script.py'}"
    )
    # The command, pasted into a shell, continues the run (the hang is fixed first).
    (tmp_path / "hang").unlink()
    cwd, line = command.split(" && ")
    args = shlex.split(line)
    assert args[0] == "pocketflow-ext"
    result = cli(Path(shlex.split(cwd)[1]), *args[1:])
    assert result.returncode == 0, result.stderr
    assert "finished" in result.stdout
    runs = listed(tmp_path)
    (resumed,) = (r for r in runs.values() if r.get("resumed_from") == interrupted)
    assert resumed["status"] == "completed"


def test_failed_run_names_its_leaf_node_and_shows_its_resumes_everywhere(tmp_path: Path) -> None:
    (tmp_path / "script.py").write_text(textwrap.dedent(SCRIPT))
    (tmp_path / "fail").touch()
    assert cli(tmp_path, "run", "--no-trace", "--db", "runs.db", "script.py").returncode == 1
    (failed,) = listed(tmp_path)
    assert listed(tmp_path)[failed]["current_node"] == "Inner/Y"
    assert "failed at Inner/Y" in shown(tmp_path, failed)[0]
    assert monitor_row(tmp_path / "runs.db", failed)["Current node"] == "Inner/Y"

    (tmp_path / "fail").unlink()
    first = cli(tmp_path, "run", "--no-trace", "--db", "runs.db", "--resume", failed, "script.py")
    assert first.returncode == 0, first.stderr
    assert "warning" not in first.stderr
    (resumer,) = (r for r in listed(tmp_path) if r != failed)
    marked = f"failed → resumed by {resumer} (completed)"
    assert listed(tmp_path)[failed]["resumed_by"] == [resumer]
    assert marked in cli(tmp_path, "runs", "runs.db").stdout
    assert monitor_row(tmp_path / "runs.db", failed)["Status"] == f"✖ {marked}"
    assert f"resumed by {resumer} (completed)" in shown(tmp_path, failed)[0]

    again = cli(tmp_path, "run", "--no-trace", "--db", "runs.db", "--resume", failed, "script.py")
    assert again.returncode == 0, again.stderr
    warning = [line for line in again.stderr.splitlines() if "warning" in line]
    assert warning == [
        f"pocketflow-ext run: warning: run {failed!r} was already resumed and completed "
        f"(resumed by {resumer!r}); resuming it again runs its remaining nodes a second time"
    ]
    latest = max(
        (r for r in listed(tmp_path).values() if r.get("resumed_from") == failed),
        key=lambda r: r["started_at"],
    )
    twice = f"failed → resumed 2× (latest {latest['run_id']}; one completed)"
    assert twice in cli(tmp_path, "runs", "runs.db").stdout
    app = open_run(monitor(tmp_path / "runs.db"), failed)
    assert "already resumed and completed" in tab(app, "Resume").warning[0].value
