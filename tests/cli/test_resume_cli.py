"""``pocketflow-ext run --resume RUN_ID``: an unmodified script continues a failed run."""

from __future__ import annotations

import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from pocketflow_ext import WorkflowDB
from pocketflow_ext.runstore.location import masked

Runner = Callable[..., subprocess.CompletedProcess[str]]

# Four nodes; the third fails while the file "fail" exists. Each node prints its name and
# counts itself in the store, so a resumed run shows which nodes ran in which process.
CHAIN_SCRIPT = """
import json, os, sys, threading
import pocketflow

class Step(pocketflow.Node):
    def post(self, shared, prep_res, exec_res):
        print("ran", type(self).__name__, flush=True)
        if type(self).__name__ == "Three" and os.path.exists("fail"):
            raise RuntimeError("node Three is broken")
        shared["count"] += 1
        shared["trail"].append(type(self).__name__)

class One(Step): pass
class Two(Step): pass
class Three(Step): pass
class Four(Step): pass

def build():
    one = One()
    one >> Two() >> Three() >> Four()
    return pocketflow.Flow(start=one)

shared = {"count": 0, "trail": [], "lock": threading.Lock()}
print("before the flow", flush=True)
build().run(shared)
lock = shared.pop("lock")
print("final", json.dumps(shared, sort_keys=True), type(lock).__name__)
if "again" in sys.argv:
    again = {"count": 0, "trail": [], "lock": None}
    build().run(again)
    print("again", again["count"])
"""

# A flow nested as a node: Y (inside Inner) fails while "fail" exists.
NESTED_SCRIPT = """
import asyncio, os, sys
import pocketflow

ASYNC = "async" in sys.argv

def count(label, shared):
    print("ran", label, flush=True)
    if label == "Y" and os.path.exists("fail"):
        raise RuntimeError("node Y is broken")
    shared["count"] = shared.get("count", 0) + 1

class SyncStep(pocketflow.Node):
    def __init__(self, label):
        super().__init__()
        self.label = label

    def post(self, shared, prep_res, exec_res):
        count(self.label, shared)

class AsyncStep(pocketflow.AsyncNode):
    def __init__(self, label):
        super().__init__()
        self.label = label

    async def post_async(self, shared, prep_res, exec_res):
        count(self.label, shared)

Step = AsyncStep if ASYNC else SyncStep
FlowClass = pocketflow.AsyncFlow if ASYNC else pocketflow.Flow

class Inner(FlowClass): pass
class Outer(FlowClass): pass

x = Step("X")
x >> Step("Y") >> Step("Z")
a = Step("A")
a >> Inner(start=x) >> Step("B")
shared = {}
if ASYNC:
    asyncio.run(Outer(start=a).run_async(shared))
else:
    Outer(start=a).run(shared)
print("final", shared["count"])
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return path


def runs(db_path: Path) -> list[dict]:
    with WorkflowDB(db_path, readonly=True) as db:
        return sorted(db.list_runs(), key=lambda run: run["started_at"])


def nodes_run(stdout: str) -> list[str]:
    return [line.split()[1] for line in stdout.splitlines() if line.startswith("ran ")]


def failed_run(
    run_store_url: str, run_cli: Runner, tmp_path: Path, script: Path, *args: str
) -> str:
    """Run ``script`` recorded with the failure switched on; returns the failed run's id."""
    (tmp_path / "fail").touch()
    first = run_cli("run", "--no-trace", "--db", run_store_url, script, *args)
    assert first.returncode == 1, first.stderr
    (tmp_path / "fail").unlink()  # the fix
    (failed,) = runs(run_store_url)
    assert failed["status"] == "failed"
    return str(failed["run_id"])


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("pocketflow-ext run: error: ")
    return lines[0]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("module", [False, True], ids=["script", "-m module"])
def test_resumed_script_runs_only_the_nodes_after_the_failure_on_the_restored_store(
    run_store_url: str, run_cli: Runner, tmp_path: Path, module: bool
) -> None:
    script = write(tmp_path, "chain.py", CHAIN_SCRIPT)
    run_id = failed_run(run_store_url, run_cli, tmp_path, script)
    target = ["-m", "chain"] if module else [script]
    resumed = run_cli("run", "--no-trace", "--db", run_store_url, "--resume", run_id, *target)
    assert resumed.returncode == 0, resumed.stderr
    assert nodes_run(resumed.stdout) == ["Three", "Four"]
    # One and Two's counts and trail come from the checkpoint; the script's lock (not JSON,
    # so not in the checkpoint) is the one the script put in its store.
    assert 'final {"count": 4, "trail": ["One", "Two", "Three", "Four"]} lock' in resumed.stdout
    first, second = runs(run_store_url)
    assert first["run_id"] == run_id
    assert second["status"] == "completed"
    assert second["resumed_from"] == run_id


@pytest.mark.timeout(120)
def test_a_later_run_of_the_same_flow_in_the_script_starts_fresh(
    run_store_url: str, run_cli: Runner, tmp_path: Path
) -> None:
    script = write(tmp_path, "chain.py", CHAIN_SCRIPT)
    run_id = failed_run(run_store_url, run_cli, tmp_path, script)
    resumed = run_cli(
        "run", "--no-trace", "--db", run_store_url, "--resume", run_id, script, "again"
    )
    assert resumed.returncode == 0, resumed.stderr
    assert nodes_run(resumed.stdout) == ["Three", "Four", "One", "Two", "Three", "Four"]
    assert "again 4" in resumed.stdout
    assert [run["resumed_from"] for run in runs(run_store_url)] == [None, run_id, None]


@pytest.mark.timeout(120)
def test_resume_uses_the_database_from_the_environment(
    run_store_url: str, run_cli: Runner, tmp_path: Path
) -> None:
    script = write(tmp_path, "chain.py", CHAIN_SCRIPT)
    run_id = failed_run(run_store_url, run_cli, tmp_path, script)
    env = {"POCKETFLOW_EXT_DB": run_store_url}
    resumed = run_cli("run", "--no-trace", "--resume", run_id, script, env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert nodes_run(resumed.stdout) == ["Three", "Four"]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_resume_enters_an_upstream_nested_flow_where_it_stopped(
    run_store_url: str, run_cli: Runner, tmp_path: Path, mode: str
) -> None:
    script = write(tmp_path, "nested.py", NESTED_SCRIPT)
    run_id = failed_run(run_store_url, run_cli, tmp_path, script, mode)
    resumed = run_cli("run", "--no-trace", "--db", run_store_url, "--resume", run_id, script, mode)
    assert resumed.returncode == 0, resumed.stderr
    assert nodes_run(resumed.stdout) == ["Y", "Z", "B"]
    assert "final 5" in resumed.stdout  # A and X counted in the first process
    second = runs(run_store_url)[1]
    assert (second["status"], second["resumed_from"]) == ("completed", run_id)
    with WorkflowDB(run_store_url, readonly=True) as db:
        ends = [e["path"] for e in db.get_events(second["run_id"]) if e["event"] == "node_end"]
    step = "AsyncStep" if mode == "async" else "SyncStep"
    assert ends == [
        f"Outer/Inner/{step}#2",
        f"Outer/Inner/{step}#3",
        "Outer/Inner",
        f"Outer/{step}#2",
    ]


@pytest.mark.timeout(120)
def test_resuming_a_completed_run_is_one_error_line(
    run_store_url: str, run_cli: Runner, tmp_path: Path
) -> None:
    script = write(tmp_path, "chain.py", CHAIN_SCRIPT)
    assert run_cli("run", "--no-trace", "--db", run_store_url, script).returncode == 0
    (done,) = runs(run_store_url)
    result = run_cli("run", "--db", run_store_url, "--resume", done["run_id"], script)
    assert "completed; only failed, cancelled or interrupted runs" in one_error_line(result)
    assert result.stdout == ""  # refused before the script started
    assert len(runs(run_store_url)) == 1


@pytest.mark.timeout(120)
def test_resuming_an_unknown_run_is_one_error_line(
    run_store_url: str, run_cli: Runner, tmp_path: Path
) -> None:
    script = write(tmp_path, "chain.py", CHAIN_SCRIPT)
    failed_run(run_store_url, run_cli, tmp_path, script)
    result = run_cli("run", "--db", run_store_url, "--resume", "Flow-00000000", script)
    assert f"no run 'Flow-00000000' in {masked(run_store_url)}" in one_error_line(result)


@pytest.mark.timeout(120)
def test_resume_needs_an_existing_database_and_never_creates_one(
    run_cli: Runner, tmp_path: Path
) -> None:
    script = write(tmp_path, "chain.py", CHAIN_SCRIPT)
    result = run_cli("run", "--db", "missing.db", "--resume", "Flow-00000000", script)
    assert "no recording database at missing.db" in one_error_line(result)
    assert not (tmp_path / "missing.db").exists()


@pytest.mark.timeout(120)
def test_a_script_that_never_runs_the_flow_is_one_error_line(
    run_store_url: str, run_cli: Runner, tmp_path: Path
) -> None:
    script = write(tmp_path, "chain.py", CHAIN_SCRIPT)
    run_id = failed_run(run_store_url, run_cli, tmp_path, script)
    other = write(tmp_path, "other.py", "print('no flow here')\n")
    result = run_cli("run", "--db", run_store_url, "--resume", run_id, other)
    assert f"never ran flow 'Flow', so run {run_id!r} was not resumed" in one_error_line(result)
    assert result.stdout == "no flow here\n"


@pytest.mark.timeout(120)
def test_a_changed_graph_is_refused_before_any_node_runs(
    run_store_url: str, run_cli: Runner, tmp_path: Path
) -> None:
    script = write(tmp_path, "chain.py", CHAIN_SCRIPT)
    run_id = failed_run(run_store_url, run_cli, tmp_path, script)
    # The same flow with node Two renamed: the checkpoint after Two has no place in it.
    script.write_text(textwrap.dedent(CHAIN_SCRIPT).replace("Two", "Second"))
    result = run_cli("run", "--db", run_store_url, "--resume", run_id, script)
    assert "no longer has a node named 'Two'" in one_error_line(result)
    assert result.stdout == "before the flow\n"  # the script's own output before flow.run()
    assert len(runs(run_store_url)) == 1


@pytest.mark.timeout(120)
def test_a_nested_batch_flow_stop_is_refused_with_one_error_line(
    run_store_url: str, run_cli: Runner, tmp_path: Path
) -> None:
    script = write(
        tmp_path,
        "batch.py",
        """
        import os
        import pocketflow

        class Work(pocketflow.Node):
            def post(self, shared, prep_res, exec_res):
                print("ran Work", self.params["i"], flush=True)
                if self.params["i"] == 1 and os.path.exists("fail"):
                    raise RuntimeError("item 1 is broken")
                shared["done"] = shared.get("done", 0) + 1
                return "more"

        class Finish(pocketflow.Node):
            pass

        class Items(pocketflow.BatchFlow):
            def prep(self, shared):
                return [{"i": 0}, {"i": 1}]

        work = Work()
        work - "more" >> Finish()
        pocketflow.Flow(start=Items(start=work)).run({})
        """,
    )
    run_id = failed_run(run_store_url, run_cli, tmp_path, script)
    result = run_cli("run", "--db", run_store_url, "--resume", run_id, script)
    assert "stopped inside BatchFlow 'Flow/Items'" in one_error_line(result)
    assert result.stdout == ""


# The same chain on pocketflow-ext's drop-in classes: a sync Flow, and an AsyncFlow run
# with run_async.
EXT_SCRIPTS = {
    "drop-in Flow": CHAIN_SCRIPT.replace(
        "import pocketflow\n", "import pocketflow_ext as pocketflow\n"
    ),
    "drop-in AsyncFlow": CHAIN_SCRIPT.replace(
        "import pocketflow\n", "import asyncio\nimport pocketflow_ext as pocketflow\n"
    )
    .replace("pocketflow.Flow(start=one)", "pocketflow.AsyncFlow(start=one)")
    .replace("build().run(shared)", "asyncio.run(build().run_async(shared))"),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", list(EXT_SCRIPTS))
def test_scripts_on_pocketflow_ext_classes_resume_the_same_way(
    run_store_url: str, run_cli: Runner, tmp_path: Path, kind: str
) -> None:
    script = write(tmp_path, "chain.py", EXT_SCRIPTS[kind])
    run_id = failed_run(run_store_url, run_cli, tmp_path, script)
    resumed = run_cli("run", "--no-trace", "--db", run_store_url, "--resume", run_id, script)
    assert resumed.returncode == 0, resumed.stderr
    assert nodes_run(resumed.stdout) == ["Three", "Four"]
    assert 'final {"count": 4, "trail": ["One", "Two", "Three", "Four"]} lock' in resumed.stdout
    first, second = runs(run_store_url)
    assert (second["status"], second["resumed_from"]) == ("completed", run_id)
