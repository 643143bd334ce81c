"""``pocketflow-ext run``: an unmodified script behaves exactly as under ``python``, recorded."""

from __future__ import annotations

import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from pocketflow_ext import WorkflowDB

Runner = Callable[..., subprocess.CompletedProcess[str]]

# What the example's default questions make the report flow run: AnswerAll, then per
# question AnswerOne, Classify and Calculate or Lookup (4 x 3), Draft 4 times, Publish.
REPORT_NODE_EXECUTIONS = 1 + 4 * 3 + 4 + 1

FAILING_SCRIPT = """
import sys
import pocketflow

class Fetch(pocketflow.Node):
    def exec(self, prep_res):
        raise ConnectionError("model endpoint unreachable")

print("before the flow")
sys.stdout.flush()
pocketflow.Flow(start=Fetch()).run({})
print("never printed")
"""

FIDELITY_SCRIPT = """
import os, sys
print("name:", __name__)
print("argv:", sys.argv)
print("path0 is script dir:", sys.path[0] == os.path.dirname(os.path.realpath(__file__)))
print("stdin:", sys.stdin.read().strip())
sys.exit(int(os.environ.get("EXIT_CODE", "0")))
"""


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(exist_ok=True)
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return path


def recorded_runs(db_path: Path) -> list[dict]:
    db = WorkflowDB(db_path, readonly=True)
    try:
        return [dict(run, events=db.get_events(run["run_id"])) for run in db.list_runs()]
    finally:
        db.close()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("module", [False, True], ids=["console-script", "python-m"])
def test_example_output_and_exit_code_match_a_plain_run_and_every_node_is_recorded(
    example: Path, run_cli: Runner, run_python: Runner, tmp_path: Path, module: bool
) -> None:
    plain = run_python(example)
    assert plain.returncode == 0, plain.stderr
    recorded = run_cli("run", example, module=module)
    assert recorded.stdout == plain.stdout
    assert recorded.returncode == plain.returncode == 0
    runs = {run["flow_name"]: run for run in recorded_runs(tmp_path / "pocketflow.db")}
    assert set(runs) == {"Flow", "AsyncFlow"}
    assert {run["status"] for run in runs.values()} == {"completed"}
    report = runs["Flow"]["events"]
    ends = [e for e in report if e["event"] == "node_end"]
    assert len(ends) == REPORT_NODE_EXECUTIONS == runs["Flow"]["total_steps"]
    assert sorted(e["step"] for e in ends) == list(range(REPORT_NODE_EXECUTIONS))
    assert len([e for e in report if e["event"] == "node_start"]) == REPORT_NODE_EXECUTIONS
    assert "Flow/AnswerAll/AnswerOne/Classify" in {e["path"] for e in ends}
    citation = runs["AsyncFlow"]["events"]
    assert [e["event"] for e in citation if e["event"].startswith("node_")] == [
        "node_start",
        "node_retry",
        "node_end",
    ]


def test_trace_goes_to_stderr_and_can_be_switched_off(example: Path, run_cli: Runner) -> None:
    traced = run_cli("run", example)
    assert " flow_start Flow run=Flow-" in traced.stderr  # plain: stderr is a pipe here
    assert " node_retry AsyncFlow/FetchCitation " in traced.stderr
    quiet = run_cli("run", "--no-trace", example)
    assert quiet.stderr == ""
    assert quiet.stdout == traced.stdout
    by_env = run_cli("run", example, env={"POCKETFLOW_EXT_TRACE": "off"})
    assert by_env.stderr == ""


def test_friendly_trace_mode_is_chosen_by_flag(example: Path, run_cli: Runner) -> None:
    friendly = run_cli("run", "--trace-mode", "friendly", "--no-trace", example)
    assert friendly.stderr == ""
    friendly = run_cli("run", "--trace-mode", "friendly", example)
    assert "▶ Flow  (run Flow-" in friendly.stderr
    assert "↻ AsyncFlow/FetchCitation attempt 1 failed: TimeoutError" in friendly.stderr


def test_arguments_and_stdin_reach_the_example(
    example: Path, run_cli: Runner, run_python: Runner
) -> None:
    args = ("-",)
    questions = "author of hamlet\n7 - 10\n"
    plain = run_python(example, *args, stdin=questions)
    recorded = run_cli("run", example, *args, stdin=questions)
    assert recorded.stdout == plain.stdout
    assert "author of hamlet -> William Shakespeare" in recorded.stdout
    assert "7 - 10 -> -3" in recorded.stdout


def test_the_script_sees_main_its_argv_path_and_stdin_as_under_python(
    run_cli: Runner, run_python: Runner, tmp_path: Path
) -> None:
    script = write(tmp_path / "app", "show_env.py", FIDELITY_SCRIPT)
    args = ("--db", "not-ours.db", "-v", "x y")  # options after the script are the script's
    plain = run_python(script, *args, stdin="hello\n")
    recorded = run_cli("run", script, *args, stdin="hello\n")
    assert recorded.stdout == plain.stdout
    assert "name: __main__" in plain.stdout
    assert "'--db', 'not-ours.db', '-v', 'x y']" in plain.stdout
    assert "path0 is script dir: True" in plain.stdout
    assert "stdin: hello" in plain.stdout
    assert not (tmp_path / "not-ours.db").exists()


@pytest.mark.parametrize("code", ["0", "3", "255"])
def test_sys_exit_codes_pass_through(
    run_cli: Runner, run_python: Runner, tmp_path: Path, code: str
) -> None:
    script = write(tmp_path, "exits.py", FIDELITY_SCRIPT)
    env = {"EXIT_CODE": code}
    assert run_cli("run", script, env=env).returncode == run_python(script, env=env).returncode
    assert run_cli("run", script, env=env).returncode == int(code)


def test_sys_exit_with_a_message_prints_it_and_exits_1(
    run_cli: Runner, run_python: Runner, tmp_path: Path
) -> None:
    script = write(tmp_path, "quits.py", "import sys\nsys.exit('giving up: no input')\n")
    plain, recorded = run_python(script), run_cli("run", "--no-trace", script)
    assert recorded.returncode == plain.returncode == 1
    assert recorded.stderr == plain.stderr == "giving up: no input\n"


def test_a_failing_script_exits_like_python_and_leaves_a_failed_run(
    run_cli: Runner, run_python: Runner, tmp_path: Path
) -> None:
    script = write(tmp_path, "fails.py", FAILING_SCRIPT)
    plain = run_python(script)
    recorded = run_cli("run", "--no-trace", script)
    assert recorded.returncode == plain.returncode == 1
    assert recorded.stdout == plain.stdout == "before the flow\n"
    # The traceback starts at the script's own frame, as under python, and ends the same.
    lines = recorded.stderr.splitlines()
    assert lines[:3] == plain.stderr.splitlines()[:3]
    assert lines[-1] == plain.stderr.splitlines()[-1]
    assert lines[-1] == "ConnectionError: model endpoint unreachable"
    assert "runpy" not in recorded.stderr and "cli/run.py" not in recorded.stderr
    (run,) = recorded_runs(tmp_path / "pocketflow.db")
    assert run["status"] == "failed"
    assert run["error_msg"] == "ConnectionError: model endpoint unreachable"
    assert [e["event"] for e in run["events"]][-2:] == ["node_error", "flow_end"]


def test_module_mode_runs_like_python_m(
    run_cli: Runner, run_python: Runner, tmp_path: Path
) -> None:
    package = tmp_path / "jobs"
    package.mkdir()
    (package / "__init__.py").write_text("")
    write(
        package,
        "nightly.py",
        FIDELITY_SCRIPT.replace("os.path.dirname(os.path.realpath(__file__))", "os.getcwd()"),
    )
    plain = run_python("-m", "jobs.nightly", "-x", stdin="in")
    recorded = run_cli("run", "-m", "jobs.nightly", "-x", stdin="in")
    assert recorded.returncode == plain.returncode == 0
    assert recorded.stdout == plain.stdout
    assert "argv: [" in recorded.stdout and "'-x']" in recorded.stdout


def test_db_option_and_environment_variable_choose_the_database(
    example: Path, run_cli: Runner, tmp_path: Path
) -> None:
    run_cli("run", "--db", "by-flag.db", example, "1 + 1")
    run_cli("run", example, "1 + 1", env={"POCKETFLOW_EXT_DB": str(tmp_path / "by-env.db")})
    assert len(recorded_runs(tmp_path / "by-flag.db")) == 2
    assert len(recorded_runs(tmp_path / "by-env.db")) == 2
    assert not (tmp_path / "pocketflow.db").exists()


def test_log_options_write_one_json_object_per_event(
    example: Path, run_cli: Runner, tmp_path: Path
) -> None:
    run_cli("run", "--no-trace", "--log-dir", "logs", "--log-format", "jsonl", example, "2 + 2")
    (log_file,) = (tmp_path / "logs").glob("plain_pocketflow_script-*.jsonl")
    import json

    records = [json.loads(line) for line in log_file.read_text().splitlines()]
    events = [r for r in records if r.get("event") == "node_end"]
    assert {r["logger"] for r in events} == {"pocketflow_ext.node"}
    assert {"run_id", "step", "node", "action", "elapsed_s"} <= set(events[0])


def test_missing_script_is_one_line_and_nonzero(run_cli: Runner) -> None:
    done = run_cli("run", "no_such_script.py")
    assert done.returncode != 0
    assert done.stderr == "pocketflow-ext run: error: script not found: no_such_script.py\n"


def test_missing_module_and_missing_target_are_one_line_errors(run_cli: Runner) -> None:
    no_module = run_cli("run", "-m", "no_such_module_here")
    assert no_module.returncode != 0
    assert len(no_module.stderr.splitlines()) == 1
    assert "no module named 'no_such_module_here'" in no_module.stderr
    nothing = run_cli("run")
    assert nothing.returncode == 2
    assert len(nothing.stderr.splitlines()) == 1
    assert "give the script to run" in nothing.stderr


def test_an_unusable_database_path_is_one_line_before_the_script_runs(
    example: Path, run_cli: Runner, tmp_path: Path
) -> None:
    (tmp_path / "adir").mkdir()
    done = run_cli("run", "--db", "adir", example)
    assert done.returncode == 1
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and "directory" in done.stderr


def test_an_interrupted_script_exits_like_python_and_leaves_a_cancelled_run(
    run_cli: Runner, run_python: Runner, tmp_path: Path
) -> None:
    script = write(
        tmp_path,
        "interrupted.py",
        """
        import pocketflow

        class Wait(pocketflow.Node):
            def exec(self, prep_res):
                raise KeyboardInterrupt  # what Ctrl+C raises

        pocketflow.Flow(start=Wait()).run({})
        """,
    )
    plain, recorded = run_python(script), run_cli("run", "--no-trace", script)
    assert recorded.returncode == plain.returncode != 0
    (run,) = recorded_runs(tmp_path / "pocketflow.db")
    assert run["status"] == "cancelled"
