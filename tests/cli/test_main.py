"""The command itself: --help everywhere, --version, one-line usage errors, monitor launcher."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from pocketflow_ext import WorkflowDB, __version__
from pocketflow_ext.cli.run import split_run_args

Runner = Callable[..., subprocess.CompletedProcess[str]]
CONSOLE = Path(sys.executable).with_name("pocketflow-ext")


@pytest.mark.parametrize("command", [[], ["run"], ["runs"], ["show"], ["monitor"]])
def test_help_is_available_for_every_command(run_cli: Runner, command: list[str]) -> None:
    done = run_cli(*command, "--help")
    assert done.returncode == 0
    assert done.stdout.startswith("usage: pocketflow-ext")


def test_version(run_cli: Runner) -> None:
    done = run_cli("--version")
    assert (done.returncode, done.stdout) == (0, f"pocketflow-ext {__version__}\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["launch"], "invalid choice: 'launch'"),
        (["runs", "--limit", "0"], "expected a number >= 1, got 0"),
        (["runs", "--status", "done"], "invalid choice: 'done'"),
        (["monitor", "--port", "70000"], "a port is at most 65535"),
        (["show"], "the following arguments are required: DB"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(run_cli: Runner, args: list[str], message: str) -> None:
    done = run_cli(*args)
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1
    assert message in done.stderr


def test_the_script_and_its_own_options_are_split_from_ours() -> None:
    assert split_run_args(["--db", "x.db", "app.py", "--db", "y"]) == (
        ["--db", "x.db", "app.py"],
        ["--db", "y"],
    )
    assert split_run_args(["--no-trace", "-m", "pkg.job", "-v"]) == (
        ["--no-trace", "-m", "pkg.job"],
        ["-v"],
    )
    assert split_run_args(["--", "-odd-name.py", "a"]) == (["-odd-name.py"], ["a"])


def test_monitor_without_streamlit_says_how_to_install_it(tmp_path: Path) -> None:
    (tmp_path / "pocketflow.db").write_bytes(b"")
    code = (
        "import sys; sys.modules['streamlit'] = None\n"  # as if the ui extra were missing
        "from pocketflow_ext.cli.main import main\n"
        "sys.exit(main(['monitor']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert done.stderr == (
        'pocketflow-ext monitor: error: the monitor needs Streamlit: pip install "pocketflow-ext[ui]"\n'
    )


def test_monitor_needs_an_existing_database(run_cli: Runner, tmp_path: Path) -> None:
    done = run_cli("monitor", "missing.db")
    assert done.returncode == 1
    assert len(done.stderr.splitlines()) == 1
    assert not (tmp_path / "missing.db").exists()


@pytest.mark.timeout(90)
def test_monitor_serves_the_streamlit_app_on_the_given_port(tmp_path: Path) -> None:
    pytest.importorskip("streamlit")
    db = tmp_path / "runs.db"
    WorkflowDB(db).close()
    with socket.socket() as probe:  # a free port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [CONSOLE, "monitor", str(db), "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        health = ""
        while server.poll() is None and health != "ok":
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health") as reply:
                    health = reply.read().decode()
            except OSError:
                time.sleep(0.2)
        assert health == "ok", server.stderr.read() if server.stderr else ""
        if sys.platform.startswith("linux"):  # became the Streamlit process: signals reach it
            argv = Path(f"/proc/{server.pid}/cmdline").read_text().split("\0")
            assert "streamlit" in " ".join(argv)
            # store contents are shown: this machine only unless --host says otherwise
            assert argv[argv.index("--server.address") + 1] == "127.0.0.1"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_every_subcommand_module_adds_its_own_parser() -> None:
    from pocketflow_ext.cli import main

    parser = main.build_parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    assert sorted(commands.choices) == [
        "answer", "fork", "graph", "metrics", "monitor", "plugins", "run", "runs", "show"
    ]  # fmt: skip
    for module in main.SUBCOMMANDS:
        name = module.__name__.rsplit(".", 1)[-1]
        assert commands.choices[name].get_default("handler") is not None, name
