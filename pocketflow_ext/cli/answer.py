"""``pocketflow-ext answer RUN_ID JSON SCRIPT.py``: answer a waiting run by running its
script again; the script's first run of that flow continues the run with the answer."""

from __future__ import annotations

import argparse
import json

from . import run
from .options import db_help, default_db
from .output import PROG, fail


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    answer = commands.add_parser(
        "answer",
        help="answer a waiting run (paused by interrupt() or --halt-before) and continue it",
        description="Run the script again; its first run of the waiting run's flow continues "
        "that run: the node that paused runs again and interrupt() returns the answer. For a "
        'halted run, {"store": {...}} puts values into the store.',
        usage=f"{PROG} answer RUN_ID JSON [options] (SCRIPT.py | -m MODULE) [ARGS ...]",
    )
    answer.add_argument("run_id", metavar="RUN_ID", help="the waiting run")
    answer.add_argument(
        "answer",
        metavar="JSON",
        help='the answer as JSON (e.g. true, "yes", {"approved": true}); a JSON list with '
        "--many answers several interrupt() calls in order",
    )
    answer.add_argument(
        "--many", action="store_true", help="JSON is a list: one answer per interrupt() call"
    )
    answer.add_argument("--db", metavar="PATH", help=db_help())
    run.add_script_options(answer)
    answer.set_defaults(handler=_answer)


def parse_json(text: str, what: str, command: str) -> object:
    try:
        return json.loads(text)
    except ValueError as exc:
        fail(
            command,
            f"{what} is not JSON ({exc}): quote strings as JSON, e.g. '\"yes\"', or pass "
            'true, 42, {"key": "value"}',
        )


def _answer(args: argparse.Namespace) -> int:
    run.check_script(args, "answer")
    value = parse_json(args.answer, "the answer", "answer")
    if args.many and not isinstance(value, list):
        fail("answer", f"--many needs a JSON list of answers, got {args.answer}")
    answers = list(value) if args.many and isinstance(value, list) else [value]
    pending = run.pending_run("answer", args.db or default_db(), args.run_id, answers=answers)
    args.resume = None
    return run.run_command(args, args.script_args, pending)
