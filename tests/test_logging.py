"""Logging: silent by default; setup_logging writes text, jsonl or both under pocketflow_ext.*."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import pocketflow_ext

# A run that makes pocketflow_ext log errors: a raising hook and a raising store observer.
NOISY_RUN = """
from pocketflow_ext import Flow, Node, Store
class Work(Node):
    def post(self, shared, prep_res, exec_res):
        shared["k"] = 1
def broken_hook(*args): raise RuntimeError("hook bug")
def broken_observer(*args): raise RuntimeError("observer bug")
store = Store({})
store.add_observer(broken_observer)
Flow(start=Work()).on("node_end", broken_hook).run(store)
"""


def run_python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_nothing_is_printed_by_default_even_when_hooks_fail(tmp_path: Path) -> None:
    done = run_python(NOISY_RUN, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""
    assert list(tmp_path.iterdir()) == []  # and no log files appear


@pytest.mark.parametrize(
    "fmt, suffixes", [("text", [".log"]), ("jsonl", [".jsonl"]), ("both", [".jsonl", ".log"])]
)
def test_setup_logging_writes_files_in_the_chosen_format(
    tmp_path: Path, fmt: str, suffixes: list[str]
) -> None:
    code = f"""
    import pocketflow_ext
    path = pocketflow_ext.setup_logging("demo", log_dir={str(tmp_path / "logs")!r}, log_format={fmt!r})
    {NOISY_RUN.strip().replace(chr(10), chr(10) + "    ")}
    print(path)
    """
    done = run_python(code, tmp_path)
    assert done.returncode == 0, done.stderr
    files = sorted((tmp_path / "logs").iterdir())
    assert [f.suffix for f in files] == suffixes
    assert all(f.name.startswith("demo-") for f in files)
    assert Path(done.stdout.strip()) in files and done.stderr == ""
    for f in files:
        text = f.read_text()
        assert "hook bug" in text and "observer bug" in text
        assert "pocketflow_ext.hooks" in text and "pocketflow_ext.store" in text
        if f.suffix == ".jsonl":
            records = [json.loads(line) for line in text.splitlines()]
            assert any(r.get("logger", r.get("name")) == "pocketflow_ext.hooks" for r in records)


def test_get_logger_uses_the_pocketflow_ext_namespace() -> None:
    assert pocketflow_ext.get_logger("db").name == "pocketflow_ext.db"
    assert pocketflow_ext.get_logger().name == "pocketflow_ext"


@pytest.mark.parametrize("kwargs", [{"log_level": "LOUD"}, {"log_format": "xml"}])
def test_setup_logging_rejects_unknown_levels_and_formats(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        pocketflow_ext.setup_logging("bad", log_dir=tmp_path, **kwargs)
    assert list(tmp_path.iterdir()) == []  # nothing half set up
