"""``run --halt-before``, ``answer`` and ``fork`` on an unmodified PocketFlow script,
each in its own process, with ``runs``/``show`` showing the pause and the lineage."""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from pocketflow_ext import WorkflowDB
from pocketflow_ext.runstore.location import masked

Runner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def db(run_store_url: str) -> str:
    """Every test here on both stores: an SQLite file, then a PostgreSQL database."""
    return run_store_url


def shown(db: str) -> str:
    """``db`` as the commands print it: a URL's password masked, shell-quoted."""
    return shlex.quote(masked(db))


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


def _waiting(tmp_path: Path, db: str, run_cli: Runner) -> str:
    (tmp_path / "pipeline.py").write_text(SCRIPT)
    paused = run_cli("run", "--no-trace", "--db", db, "--halt-before", "Review", "pipeline.py")
    assert paused.returncode == 0, paused.stderr
    assert paused.stdout == ""  # the script stopped at the pause: nothing after flow.run()
    assert "Traceback" not in paused.stderr
    with WorkflowDB(db, readonly=True) as runs:
        (run,) = runs.list_runs(status="waiting")
    assert (
        f"pocketflow-ext answer {run['run_id']} '<JSON answer>' --db {shown(db)}" in paused.stderr
    )
    return str(run["run_id"])


def test_halt_before_pauses_and_answer_continues_in_another_process(
    tmp_path: Path, db: str, run_cli: Runner
) -> None:
    run_id = _waiting(tmp_path, db, run_cli)
    assert (tmp_path / "counts").read_text().split() == ["Draft"]

    answered = run_cli(
        "answer", run_id, '{"store": {"verdict": "ok"}}', "--no-trace", "--db", db,
        "pipeline.py",
    )  # fmt: skip
    assert answered.returncode == 0, answered.stderr
    assert json.loads(answered.stdout) == {"draft": "v1", "reviewed": "ok", "verdict": "ok"}
    assert (tmp_path / "counts").read_text().split() == ["Draft", "Review", "Publish"]


def test_answering_twice_is_refused_naming_the_answering_run(
    tmp_path: Path, db: str, run_cli: Runner
) -> None:
    run_id = _waiting(tmp_path, db, run_cli)
    assert run_cli("answer", run_id, "1", "--no-trace", "--db", db, "pipeline.py").returncode == 0
    again = run_cli("answer", run_id, "1", "--no-trace", "--db", db, "pipeline.py")
    assert again.returncode != 0
    assert "not waiting for an answer" in again.stderr and "answered by run" in again.stderr


def test_an_answer_that_is_not_json_is_refused_with_an_example(
    tmp_path: Path, db: str, run_cli: Runner
) -> None:
    run_id = _waiting(tmp_path, db, run_cli)
    bad = run_cli("answer", run_id, "yes please", "--db", db, "pipeline.py")
    assert bad.returncode != 0 and "is not JSON" in bad.stderr and "'\"yes\"'" in bad.stderr


def test_runs_and_show_print_the_question_and_the_lineage(
    tmp_path: Path, db: str, run_cli: Runner
) -> None:
    run_id = _waiting(tmp_path, db, run_cli)
    listed = run_cli("runs", db, "--status", "waiting")
    assert run_id in listed.stdout and "waiting" in listed.stdout
    showing = run_cli("show", db, run_id)
    assert 'question: {"halted": "before", "node": "Review"}' in showing.stdout
    assert f"pocketflow-ext answer {run_id}" in showing.stdout

    run_cli("answer", run_id, "null", "--no-trace", "--db", db, "pipeline.py")
    with WorkflowDB(db, readonly=True) as runs:
        (answering,) = runs.get_run(run_id)["resumed_by"]
    assert f"resumed by {answering}" in run_cli("show", db, run_id).stdout
    assert f"resumed by {answering}" in run_cli("runs", db).stdout


def test_fork_sets_store_values_and_leaves_the_original_alone(
    tmp_path: Path, db: str, run_cli: Runner
) -> None:
    (tmp_path / "pipeline.py").write_text(SCRIPT)
    assert run_cli("run", "--no-trace", "--db", db, "pipeline.py").returncode == 0
    with WorkflowDB(db, readonly=True) as runs:
        (original,) = runs.list_runs()
    forked = run_cli(
        "fork", original["run_id"], "--step", "0", "--set", 'verdict="forked"', "--no-trace",
        "--db", db, "pipeline.py",
    )  # fmt: skip
    assert forked.returncode == 0, forked.stderr
    assert json.loads(forked.stdout)["reviewed"] == "forked"
    with WorkflowDB(db, readonly=True) as runs:
        after = runs.get_run(original["run_id"])
        (fork_id,) = after["forked_by"]
        fork = runs.get_run(fork_id)
    assert fork["forked_from"] == original["run_id"] and fork["forked_at_step"] == 0
    assert {k: v for k, v in after.items() if k not in ("forked_by", "duration_s")} == {
        k: v for k, v in original.items() if k not in ("forked_by", "duration_s")
    }
    # Lineage both ways, in show and runs.
    assert f"forked from {original['run_id']} at step 0" in run_cli("show", db, fork_id).stdout
    assert f"forked by {fork_id}" in run_cli("show", db, original["run_id"]).stdout
    listed = run_cli("runs", db).stdout
    assert f"=> {fork_id}" in listed and f"<- {original['run_id']}@0" in listed
    # Draft ran in the first run only; the fork started at Review.
    assert (tmp_path / "counts").read_text().split() == [
        "Draft", "Review", "Publish", "Review", "Publish",
    ]  # fmt: skip


def test_fork_set_without_a_key_is_a_usage_error(tmp_path: Path, db: str, run_cli: Runner) -> None:
    (tmp_path / "pipeline.py").write_text(SCRIPT)
    run_cli("run", "--no-trace", "--db", db, "pipeline.py")
    with WorkflowDB(db, readonly=True) as runs:
        (original,) = runs.list_runs()
    bad = run_cli("fork", original["run_id"], "--set", "verdict", "--db", db, "pipeline.py")
    assert bad.returncode != 0 and "--set takes KEY=JSON" in bad.stderr


def test_the_answer_line_repeats_the_scripts_arguments(
    tmp_path: Path, db: str, run_cli: Runner
) -> None:
    (tmp_path / "pipeline.py").write_text(SCRIPT)
    paused = run_cli(
        "run", "--no-trace", "--db", db, "--halt-after", "Draft", "pipeline.py", "two words",
    )  # fmt: skip
    assert paused.returncode == 0, paused.stderr
    assert f"--db {shown(db)} pipeline.py 'two words'" in paused.stderr
    assert '{"halted": "after", "node": "Draft"}' in paused.stderr


def _history(where: str, run_cli: Runner) -> list[tuple[object, ...]]:
    """Record one history at ``where`` (a run, a pause, its answer, a fork of the first run)
    and read back, oldest first, what ``runs`` and ``show`` say of each run, with run ids
    replaced by their place in the history so two stores can be compared."""
    assert run_cli("run", "--no-trace", "--db", where, "pipeline.py").returncode == 0
    paused = run_cli("run", "--no-trace", "--db", where, "--halt-before", "Review", "pipeline.py")
    assert paused.returncode == 0, paused.stderr
    listed = json.loads(run_cli("runs", where, "--json").stdout)
    first, waiting = listed[1]["run_id"], listed[0]["run_id"]
    run_cli("answer", waiting, "null", "--no-trace", "--db", where, "pipeline.py")
    run_cli("fork", first, "--step", "0", "--no-trace", "--db", where, "pipeline.py")
    runs = json.loads(run_cli("runs", where, "--json").stdout)[::-1]
    place = {run["run_id"]: f"#{i}" for i, run in enumerate(runs)}

    def same(text: str) -> str:
        for run_id, name in place.items():
            text = text.replace(run_id, name)
        return text

    header, *rows = run_cli("runs", where).stdout.splitlines()
    # STEPS and LINEAGE of each row (the columns between them are aligned under the header)
    table = {
        row.split()[0]: same(row[header.index("STEPS") : header.index("ERROR")]).split()
        for row in rows
    }
    return [
        (
            run["status"], run["steps"], run["total_steps"],
            same(json.dumps([run[k] for k in ("resumed_from", "resumed_by", "forked_from",
                                                "forked_by", "forked_at_step")])),
            run_cli("show", where, run["run_id"]).stdout.splitlines()[0].split(" · ")[2:4],
            table[run["run_id"]],
        )
        for run in runs
    ]  # fmt: skip


def test_both_stores_show_the_same_steps_and_lineage(
    tmp_path: Path, postgres_url: str, run_cli: Runner
) -> None:
    """The same history on SQLite and on PostgreSQL: ``runs`` and ``show`` count the same
    steps and show the same origins and descendants, both ways."""
    (tmp_path / "pipeline.py").write_text(SCRIPT)
    on_sqlite = _history(str(tmp_path / "runs.db"), run_cli)
    (tmp_path / "counts").unlink()
    on_postgres = _history(postgres_url, run_cli)
    assert [run[:2] for run in on_sqlite] == [
        ("completed", 3),
        ("completed", 1),
        ("completed", 2),
        ("completed", 2),
    ]  # fmt: skip (the answered pause ends completed, its answer continues in a new run)
    assert on_postgres == on_sqlite
