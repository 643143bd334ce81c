"""``pocketflow-ext runs`` and ``show``: read recorded runs as tables, timelines or JSON."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

Runner = Callable[..., subprocess.CompletedProcess[str]]

FAILING = """
import pocketflow

class Flaky(pocketflow.Node):
    def __init__(self):
        super().__init__(max_retries=2)

    def exec(self, prep_res):
        raise ConnectionError("model endpoint unreachable")

class Pipeline(pocketflow.Flow):
    pass

Pipeline(start=Flaky()).run({})
"""


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with the example's two runs and one failed run, made by the real CLI."""
    directory = tmp_path_factory.mktemp("recorded")
    (directory / "failing.py").write_text(FAILING)
    example = Path(__file__).resolve().parents[2] / "examples" / "plain_pocketflow_script.py"
    command = [sys.executable, "-m", "pocketflow_ext", "run", "--no-trace"]
    subprocess.run([*command, example, "2 + 3", "largest planet"], cwd=directory, check=True)
    subprocess.run([*command, "failing.py"], cwd=directory, capture_output=True)
    return directory / "pocketflow.db"


@pytest.fixture
def db(recorded: Path, tmp_path: Path) -> Path:
    """A copy in this test's working directory, as ./pocketflow.db (with its WAL file)."""
    for part in recorded.parent.glob("pocketflow.db*"):
        shutil.copy(part, tmp_path / part.name)
    return tmp_path / "pocketflow.db"


def run_ids(run_cli: Runner, *args: str) -> dict[str, str]:
    listed = json.loads(run_cli("runs", "--json", *args).stdout)
    return {run["flow_name"]: run["run_id"] for run in listed}


def test_runs_lists_newest_first_as_a_table(run_cli: Runner, db: Path) -> None:
    done = run_cli("runs")
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert header.split() == [
        "RUN",
        "ID",
        "FLOW",
        "STATUS",
        "STARTED",
        "DURATION",
        "STEPS",
        "LINEAGE",
        "ERROR",
    ]
    assert [row.split()[1:3] for row in rows] == [
        ["Pipeline", "failed"],
        ["AsyncFlow", "completed"],
        ["Flow", "completed"],
    ]
    assert rows[0].endswith("ConnectionError: model endpoint unreachable")


def test_runs_filters_by_status_and_flow_and_limits(run_cli: Runner, db: Path) -> None:
    assert list(run_ids(run_cli, "--status", "failed")) == ["Pipeline"]
    assert list(run_ids(run_cli, "--flow", "Flow")) == ["Flow"]
    assert list(run_ids(run_cli, "--limit", "2")) == ["Pipeline", "AsyncFlow"]
    assert run_cli("runs", "--flow", "Nope").stdout == "no runs match in pocketflow.db\n"


def test_runs_json_has_the_run_columns_for_scripts(run_cli: Runner, db: Path) -> None:
    listed = json.loads(run_cli("runs", "--json", str(db)).stdout)
    flow = next(run for run in listed if run["flow_name"] == "Flow")
    assert flow["status"] == "completed"
    assert flow["total_steps"] == 1 + 2 * 3 + 2 + 1
    assert "graph" not in flow


def test_show_prints_the_timeline_with_nested_paths_retries_and_errors(
    run_cli: Runner, db: Path
) -> None:
    ids = run_ids(run_cli)
    report = run_cli("show", ids["Flow"])
    assert report.returncode == 0, report.stderr
    lines = report.stdout.splitlines()
    assert lines[0].startswith(f"run {ids['Flow']} · flow Flow · completed · 10 steps · ")
    rows = [line.split() for line in lines[lines.index("") + 2 :]]
    assert [row[0] for row in rows] == [str(step) for step in range(10)]
    assert rows[2][1:2] == ["AnswerAll/AnswerOne/Classify"] and rows[2][-2:] == ["->", "math"]
    assert "    AnswerAll/AnswerOne/Classify" in lines[lines.index("") + 4]  # indented twice
    failed = run_cli("show", str(db), ids["Pipeline"]).stdout
    assert "attempt 1 failed: ConnectionError: model endpoint unreachable" in failed
    assert "FAILED ConnectionError: model endpoint unreachable" in failed
    assert "error: ConnectionError: model endpoint unreachable" in failed
    assert 'raise ConnectionError("model endpoint unreachable")' in failed


def test_show_json_has_the_run_and_its_events(run_cli: Runner, db: Path) -> None:
    ids = run_ids(run_cli)
    shown = json.loads(run_cli("show", "--json", ids["AsyncFlow"]).stdout)
    assert shown["run"]["run_id"] == ids["AsyncFlow"]
    assert [e["event"] for e in shown["events"]] == [
        "flow_start",
        "node_start",
        "node_retry",
        "node_end",
        "flow_end",
    ]


def test_unknown_run_id_is_one_line_and_nonzero(run_cli: Runner, db: Path) -> None:
    done = run_cli("show", "Flow-00000000")
    assert done.returncode == 1
    assert done.stderr == (
        "pocketflow-ext show: error: no run 'Flow-00000000' in pocketflow.db; "
        "list them with: pocketflow-ext runs pocketflow.db\n"
    )


@pytest.mark.parametrize("command", [["runs"], ["show", "Flow-1"], ["runs", "elsewhere.db"]])
def test_missing_database_is_one_line_and_never_created(
    run_cli: Runner, tmp_path: Path, command: list[str]
) -> None:
    done = run_cli(*command)
    assert done.returncode == 1
    assert len(done.stderr.splitlines()) == 1
    assert "no recording database at" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_default_database_comes_from_the_environment(run_cli: Runner, recorded: Path) -> None:
    done = run_cli("runs", env={"POCKETFLOW_EXT_DB": str(recorded)})
    assert done.returncode == 0 and "Pipeline" in done.stdout


def test_runs_piped_into_a_reader_that_stops_early_exits_quietly(tmp_path: Path) -> None:
    import pocketflow_ext as pe

    class Step(pe.Node):
        pass

    db_path = tmp_path / "many.db"
    for _ in range(400):  # well over a pipe buffer of table rows
        pe.Flow(start=Step(), flow_name="many", db_path=db_path).run({})
    reader = subprocess.Popen(
        [sys.executable, "-m", "pocketflow_ext", "runs", str(db_path), "--limit", "400"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert reader.stdout is not None and reader.stderr is not None
    assert reader.stdout.readline().startswith(b"RUN ID")
    reader.stdout.close()  # like `| head -1`
    assert reader.wait(timeout=60) == 0
    assert reader.stderr.read() == b""
