"""Database arguments the CLI cannot use are one clear line naming the problem and the fix;
``run --db`` says where the runs went when the script records elsewhere."""

from __future__ import annotations

import json
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

Runner = Callable[..., subprocess.CompletedProcess[str]]

# A script whose flow records to its own database, whatever --db says.
OWN_DB_SCRIPT = """
import pocketflow
from pocketflow_ext import Flow

class A(pocketflow.Node):
    def post(self, shared, prep_res, exec_res):
        shared["a"] = 1

Flow(start=A(), db_path="mine.db", flow_name="own").run({})
print("done")
"""

PLAIN_SCRIPT = """
import sys
import pocketflow

class A(pocketflow.Node):
    pass

pocketflow.Flow(start=A()).run({})
"""


def one_error(result: subprocess.CompletedProcess[str], command: str) -> str:
    assert result.returncode == 1, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"pocketflow-ext {command}: error: ")
    return lines[0]


@pytest.mark.timeout(120)
def test_run_with_db_says_where_a_script_with_its_own_db_path_recorded_and_leaves_no_empty_file(
    run_cli: Runner, tmp_path: Path
) -> None:
    (tmp_path / "own.py").write_text(textwrap.dedent(OWN_DB_SCRIPT))
    result = run_cli("run", "--no-trace", "--db", "other.db", "own.py")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "done\n"
    assert result.stderr.splitlines() == [
        "pocketflow-ext run: note: 1 run recorded in mine.db (the flow's own db_path), not in "
        "other.db; list them with: pocketflow-ext runs mine.db",
        "pocketflow-ext run: note: nothing was recorded in other.db, so it was not kept",
    ]
    assert not list(tmp_path.glob("other.db*"))
    listed = run_cli("runs", "mine.db", "--json")
    assert [r["flow_name"] for r in json.loads(listed.stdout)] == ["own"]


@pytest.mark.timeout(120)
def test_run_keeps_an_existing_db_and_records_the_command_in_each_run(
    run_cli: Runner, tmp_path: Path
) -> None:
    (tmp_path / "plain.py").write_text(textwrap.dedent(PLAIN_SCRIPT))
    result = run_cli("run", "--no-trace", "--db", "runs.db", "plain.py", "--flag", "x y")
    assert result.returncode == 0, result.stderr
    assert "note" not in result.stderr
    (run,) = json.loads(run_cli("runs", "runs.db", "--json").stdout)
    assert json.loads(run["params"])["pocketflow_ext.run"] == {
        "script": str(tmp_path / "plain.py"),
        "args": ["--flag", "x y"],
        "cwd": str(tmp_path),
    }


@pytest.mark.parametrize(
    "args",
    [
        ("run", "--db", "", "script.py"),
        ("runs", ""),
        ("show", "", "Flow-00000000"),
        ("monitor", ""),
    ],
    ids=["run --db", "runs", "show", "monitor"],
)
def test_an_empty_database_path_is_an_error_saying_what_to_pass(
    run_cli: Runner, tmp_path: Path, args: tuple[str, ...]
) -> None:
    (tmp_path / "script.py").write_text("print('never run')\n")
    line = one_error(run_cli(*args), args[0])
    assert "empty" in line and "runs.db" in line, line
    assert not (tmp_path / "pocketflow.db").exists()


@pytest.mark.parametrize("command", ["runs", "monitor"])
def test_a_directory_instead_of_a_database_names_the_databases_inside(
    run_cli: Runner, tmp_path: Path, command: str
) -> None:
    (tmp_path / "archive").mkdir()
    (tmp_path / "archive" / "old.db").write_bytes(b"")
    line = one_error(run_cli(command, "archive"), command)
    assert line.endswith(
        "archive is a directory; pass the database file inside it (it holds: old.db)"
    )


def test_run_db_naming_a_directory_is_an_error_before_the_script_runs(
    run_cli: Runner, tmp_path: Path
) -> None:
    (tmp_path / "script.py").write_text("print('never run')\n")
    (tmp_path / "archive").mkdir()
    line = one_error(run_cli("run", "--db", "archive", "script.py"), "run")
    assert "archive is a directory" in line and "runs.db" in line


@pytest.mark.parametrize("exists", [True, False], ids=["existing file", "no such file"])
def test_show_with_a_database_but_no_run_id_asks_for_the_run_id(
    run_cli: Runner, tmp_path: Path, exists: bool
) -> None:
    if exists:
        (tmp_path / "x.db").write_bytes(b"")
    line = one_error(run_cli("show", "x.db"), "show")
    assert "no run id given" in line
    assert line.endswith(
        "give the run after the database: pocketflow-ext show x.db RUN_ID "
        "(list its runs with: pocketflow-ext runs x.db)"
    )
