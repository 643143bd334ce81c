"""The ``pocketflow-ext`` command (and ``python -m pocketflow_ext``): assembles the
subcommands, each of which owns its parser and its run function."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .. import __version__
from . import answer, fork, graph, metrics, monitor, plugins, run, runs, show
from .output import PROG, Parser

SUBCOMMANDS = (run, answer, fork, runs, show, monitor, graph, metrics, plugins)
# Commands running a script, and how many positionals of their own come before it.
_SCRIPT_COMMANDS = {"run": 0, "answer": 2, "fork": 1}


def build_parser() -> Parser:
    parser = Parser(
        prog=PROG,
        description="Record, trace and inspect runs of unmodified PocketFlow scripts.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True
    for subcommand in SUBCOMMANDS:
        subcommand.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pocketflow-ext`` console script; returns the exit status."""
    args_in = list(sys.argv[1:] if argv is None else argv)
    script_args: list[str] = []
    if args_in and args_in[0] in _SCRIPT_COMMANDS:
        # The script's own arguments may look like ours: split them off before parsing.
        own, script_args = run.split_run_args(args_in[1:], _SCRIPT_COMMANDS[args_in[0]])
        args_in = [args_in[0], *own]
    args = build_parser().parse_args(args_in)
    args.script_args = script_args
    status: int = args.handler(args)
    return status
