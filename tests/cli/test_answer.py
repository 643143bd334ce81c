"""``run --halt-before``, ``answer`` and ``fork`` on an unmodified PocketFlow script,
each in its own process, with ``runs``/``show`` showing the pause and the lineage."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from pocketflow_ext import WorkflowDB

Runner = Callable[..., subprocess.CompletedProcess[str]]

# Plain pocketflow: no pocketflow_ext import. Each node logs itself to the file "counts".
SCRIPT = """
import json
import pocketflow

def ran(name):
    with open("counts", "a") as f:
        f.write(name + "\\n")

class Draft(pocketflow.Node):
    def post(self, shared, prep_res, exec_res):
        ran("Draft")
        shared["draft"] = "v1"

class Review(pocketflow.Node):
    def post(self, shared, prep_res, exec_res):
        ran("Review")
        shared["reviewed"] = shared.get("verdict", "none")

class Publish(pocketflow.Node):
    def post(self, shared, prep_res, exec_res):
        ran("Publish")

draft = Draft()
draft >> Review() >> Publish()
shared = {}
pocketflow.Flow(start=draft).run(shared)
print(json.dumps(shared, sort_keys=True))
"""


def _waiting(tmp_path: Path, run_cli: Runner) -> str:
    (tmp_path / "pipeline.py").write_text(SCRIPT)
    paused = run_cli(
        "run", "--no-trace", "--db", "runs.db", "--halt-before", "Review", "pipeline.py"
    )
    assert paused.returncode == 0, paused.stderr
    assert paused.stdout == ""  # the script stopped at the pause: nothing after flow.run()
    assert "Traceback" not in paused.stderr
    with WorkflowDB(tmp_path / "runs.db", readonly=True) as db:
        (run,) = db.list_runs(status="waiting")
    assert f"pocketflow-ext answer {run['run_id']} '<JSON answer>' --db runs.db" in paused.stderr
    return str(run["run_id"])


def test_halt_before_pauses_and_answer_continues_in_another_process(
    tmp_path: Path, run_cli: Runner
) -> None:
    run_id = _waiting(tmp_path, run_cli)
    assert (tmp_path / "counts").read_text().split() == ["Draft"]

    answered = run_cli(
        "answer", run_id, '{"store": {"verdict": "ok"}}', "--no-trace", "--db", "runs.db",
        "pipeline.py",
    )  # fmt: skip
    assert answered.returncode == 0, answered.stderr
    assert json.loads(answered.stdout) == {"draft": "v1", "reviewed": "ok", "verdict": "ok"}
    assert (tmp_path / "counts").read_text().split() == ["Draft", "Review", "Publish"]


def test_answering_twice_is_refused_naming_the_answering_run(
    tmp_path: Path, run_cli: Runner
) -> None:
    run_id = _waiting(tmp_path, run_cli)
    assert (
        run_cli("answer", run_id, "1", "--no-trace", "--db", "runs.db", "pipeline.py").returncode
        == 0
    )
    again = run_cli("answer", run_id, "1", "--no-trace", "--db", "runs.db", "pipeline.py")
    assert again.returncode != 0
    assert "not waiting for an answer" in again.stderr and "answered by run" in again.stderr


def test_an_answer_that_is_not_json_is_refused_with_an_example(
    tmp_path: Path, run_cli: Runner
) -> None:
    run_id = _waiting(tmp_path, run_cli)
    bad = run_cli("answer", run_id, "yes please", "--db", "runs.db", "pipeline.py")
    assert bad.returncode != 0 and "is not JSON" in bad.stderr and "'\"yes\"'" in bad.stderr


def test_runs_and_show_print_the_question_and_the_lineage(tmp_path: Path, run_cli: Runner) -> None:
    run_id = _waiting(tmp_path, run_cli)
    listed = run_cli("runs", "runs.db", "--status", "waiting")
    assert run_id in listed.stdout and "waiting" in listed.stdout
    shown = run_cli("show", "runs.db", run_id)
    assert 'question: {"halted": "before", "node": "Review"}' in shown.stdout
    assert f"pocketflow-ext answer {run_id}" in shown.stdout

    run_cli("answer", run_id, "null", "--no-trace", "--db", "runs.db", "pipeline.py")
    with WorkflowDB(tmp_path / "runs.db", readonly=True) as db:
        (answering,) = db.get_run(run_id)["resumed_by"]
    assert f"resumed by {answering}" in run_cli("show", "runs.db", run_id).stdout
    assert f"resumed by {answering}" in run_cli("runs", "runs.db").stdout


def test_fork_sets_store_values_and_leaves_the_original_alone(
    tmp_path: Path, run_cli: Runner
) -> None:
    (tmp_path / "pipeline.py").write_text(SCRIPT)
    assert run_cli("run", "--no-trace", "--db", "runs.db", "pipeline.py").returncode == 0
    with WorkflowDB(tmp_path / "runs.db", readonly=True) as db:
        (original,) = db.list_runs()
    forked = run_cli(
        "fork", original["run_id"], "--step", "0", "--set", 'verdict="forked"', "--no-trace",
        "--db", "runs.db", "pipeline.py",
    )  # fmt: skip
    assert forked.returncode == 0, forked.stderr
    assert json.loads(forked.stdout)["reviewed"] == "forked"
    with WorkflowDB(tmp_path / "runs.db", readonly=True) as db:
        after = db.get_run(original["run_id"])
        (fork_id,) = after["forked_by"]
        fork = db.get_run(fork_id)
    assert fork["forked_from"] == original["run_id"] and fork["forked_at_step"] == 0
    assert {k: v for k, v in after.items() if k not in ("forked_by", "duration_s")} == {
        k: v for k, v in original.items() if k not in ("forked_by", "duration_s")
    }
    assert (
        f"forked from {original['run_id']} at step 0" in run_cli("show", "runs.db", fork_id).stdout
    )
    # Draft ran in the first run only; the fork started at Review.
    assert (tmp_path / "counts").read_text().split() == [
        "Draft", "Review", "Publish", "Review", "Publish",
    ]  # fmt: skip


def test_fork_set_without_a_key_is_a_usage_error(tmp_path: Path, run_cli: Runner) -> None:
    (tmp_path / "pipeline.py").write_text(SCRIPT)
    run_cli("run", "--no-trace", "--db", "runs.db", "pipeline.py")
    with WorkflowDB(tmp_path / "runs.db", readonly=True) as db:
        (original,) = db.list_runs()
    bad = run_cli("fork", original["run_id"], "--set", "verdict", "--db", "runs.db", "pipeline.py")
    assert bad.returncode != 0 and "--set takes KEY=JSON" in bad.stderr


def test_the_answer_line_repeats_the_scripts_arguments(tmp_path: Path, run_cli: Runner) -> None:
    (tmp_path / "pipeline.py").write_text(SCRIPT)
    paused = run_cli(
        "run", "--no-trace", "--db", "runs.db", "--halt-after", "Draft", "pipeline.py", "two words",
    )  # fmt: skip
    assert paused.returncode == 0, paused.stderr
    assert "--db runs.db pipeline.py 'two words'" in paused.stderr
    assert '{"halted": "after", "node": "Draft"}' in paused.stderr
