"""Argument parsing and dispatch for ``pocketflow-ext`` (and ``python -m pocketflow_ext``).

Every error is one line on stderr and a non-zero exit: 2 for bad usage, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from .. import __version__
from ..subscribers.trace import ENV_VAR as TRACE_ENV_VAR

PROG = "pocketflow-ext"
DB_ENV_VAR = "POCKETFLOW_EXT_DB"
DEFAULT_DB = "pocketflow.db"
STATUSES = ("queued", "running", "completed", "failed", "cancelled", "interrupted")
# Options of `run` that take a value, so the script name is found without guessing.
_RUN_VALUE_OPTIONS = ("--db", "--resume", "--trace-mode", "--log-dir", "--log-format")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def default_db() -> str:
    return os.environ.get(DB_ENV_VAR) or DEFAULT_DB


def _db_help() -> str:
    return f"the recording database (default: ${DB_ENV_VAR} or ./{DEFAULT_DB})"


def build_parser() -> _Parser:
    parser = _Parser(
        prog=PROG,
        description="Record, trace and inspect runs of unmodified PocketFlow scripts.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    run = commands.add_parser(
        "run",
        help="run a PocketFlow script recorded (and traced to stderr)",
        description="Run an unmodified PocketFlow script with every flow run recorded to the "
        "database and traced to stderr. The script's stdout, stdin, arguments and exit code "
        "are its own.",
        usage=f"{PROG} run [options] [--resume RUN_ID] (SCRIPT.py | -m MODULE) [ARGS ...]",
    )
    run.add_argument("--db", metavar="PATH", help=_db_help())
    run.add_argument(
        "--resume",
        metavar="RUN_ID",
        help="continue this failed, cancelled or interrupted run of the database: the "
        "script's first run of that flow restores the run's last checkpoint and starts "
        "after its last completed node",
    )
    trace = run.add_mutually_exclusive_group()
    trace.add_argument(
        "--trace", dest="trace", action="store_true", default=None, help="print the trace (default)"
    )
    trace.add_argument("--no-trace", dest="trace", action="store_false", help="no trace")
    run.add_argument(
        "--trace-mode",
        choices=("friendly", "plain"),
        help=f"trace style (default: ${TRACE_ENV_VAR}, else friendly on a terminal, plain otherwise)",
    )
    run.add_argument("--log-dir", metavar="DIR", help="also log every event to a file in DIR")
    run.add_argument(
        "--log-format",
        choices=("text", "jsonl", "both"),
        help="log file format (default: text; implies logging to ./logs without --log-dir)",
    )
    run.add_argument("-m", dest="module", metavar="MODULE", help="run a module, like python -m")
    run.add_argument("script", nargs="?", metavar="SCRIPT.py", help="the script to run")
    run.add_argument(
        "args", nargs=argparse.REMAINDER, metavar="ARGS", help="the script's arguments"
    )

    runs = commands.add_parser(
        "runs", help="list recent runs", description="List recent runs, newest first."
    )
    runs.add_argument("db", nargs="?", metavar="DB", help=_db_help())
    runs.add_argument("--status", choices=STATUSES, help="only runs with this status")
    runs.add_argument("--flow", metavar="NAME", help="only runs of this flow")
    runs.add_argument(
        "--limit", type=_positive_int, default=20, metavar="N", help="at most N runs (default 20)"
    )
    runs.add_argument("--json", action="store_true", help="print JSON instead of a table")

    show = commands.add_parser(
        "show",
        help="show one run's timeline",
        description="Show one run: its nodes in order with nested paths, times, retries and errors.",
        usage=f"{PROG} show [-h] [--json] [DB] RUN_ID",
    )
    show.add_argument("first", metavar="DB", help=_db_help())
    show.add_argument("run_id", nargs="?", metavar="RUN_ID", help="the run to show")
    show.add_argument("--json", action="store_true", help="print JSON instead of a timeline")

    monitor = commands.add_parser(
        "monitor",
        help="open the Streamlit monitor on a database",
        description='Start the Streamlit monitor (needs: pip install "pocketflow-ext[ui]").',
    )
    monitor.add_argument("db", nargs="?", metavar="DB", help=_db_help())
    monitor.add_argument("--port", type=_port, metavar="N", help="port to serve on (default 8501)")
    monitor.add_argument(
        "--host",
        default="127.0.0.1",
        metavar="ADDR",
        help="address to listen on (default 127.0.0.1: this machine only; the monitor shows "
        "store contents, so use 0.0.0.0 only on a network you trust)",
    )
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _port(text: str) -> int:
    value = _positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"a port is at most 65535, got {value}")
    return value


def split_run_args(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split ``run``'s arguments into ours (options and the script or ``-m MODULE``) and the
    script's own, which may look like options too (``run app.py -v`` passes ``-v`` on)."""
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            return [*argv[:i], *argv[i + 1 : i + 2]], list(argv[i + 2 :])
        if token == "-m":
            return list(argv[: i + 2]), list(argv[i + 2 :])
        if token.startswith("-m") and not token.startswith("--"):
            return list(argv[: i + 1]), list(argv[i + 1 :])
        if token in _RUN_VALUE_OPTIONS:
            i += 2
        elif token.startswith("-"):
            i += 1
        else:
            return list(argv[: i + 1]), list(argv[i + 1 :])
    return list(argv), []


def fail(command: str, message: str) -> NoReturn:
    """Stop with one clear line on stderr and exit status 1."""
    raise SystemExit(f"{PROG} {command}: error: {message}")


def _usage_error(command: str, message: str) -> NoReturn:
    sys.stderr.write(f"{PROG} {command}: error: {message} (see {PROG} {command} --help)\n")
    raise SystemExit(2)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pocketflow-ext`` console script; returns the exit status."""
    args_in = list(sys.argv[1:] if argv is None else argv)
    script_args: list[str] = []
    if args_in and args_in[0] == "run":
        own, script_args = split_run_args(args_in[1:])
        args_in = ["run", *own]
    parser = build_parser()
    args = parser.parse_args(args_in)
    if args.command == "run":
        from .run import run_command

        if args.module and args.script:
            _usage_error("run", f"give a script or -m MODULE, not both ({args.script!r})")
        if not args.module and not args.script:
            _usage_error("run", "give the script to run: pocketflow-ext run SCRIPT.py [ARGS ...]")
        return run_command(args, script_args)
    if args.command in ("runs", "show"):
        return _print_report(args)
    from .monitor import monitor_command

    return monitor_command(args)


def _print_report(args: argparse.Namespace) -> int:
    """``runs``/``show`` write to stdout, which is often piped into ``head`` or ``less``;
    a reader that closes early ends the command quietly, as for any Unix tool."""
    from .runs import runs_command
    from .show import show_command

    try:
        status = (runs_command if args.command == "runs" else show_command)(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # Point stdout at devnull so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return status
