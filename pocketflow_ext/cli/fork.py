"""``pocketflow-ext fork RUN_ID --step N --set key=JSON SCRIPT.py``: a new run from a
recorded run's checkpoint, with store values changed, by running the script again."""

from __future__ import annotations

import argparse
from typing import Any

from . import run
from .answer import parse_json
from .options import db_help, default_db
from .output import PROG, fail


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    fork = commands.add_parser(
        "fork",
        help="start a new run from a recorded run's checkpoint, with store values changed",
        description="Run the script again; its first run of that flow starts from the "
        "checkpoint after --step (default: the latest) with --set values in the store, at the "
        "node that followed. The new run records forked_from; the original is only read.",
        usage=f"{PROG} fork RUN_ID [--step N] [--set KEY=JSON ...] [options] SCRIPT.py [ARGS ...]",
    )
    fork.add_argument("run_id", metavar="RUN_ID", help="the run to fork")
    fork.add_argument("--step", type=int, help="the checkpoint's step (default: the latest)")
    fork.add_argument(
        "--set",
        dest="sets",
        metavar="KEY=JSON",
        action="append",
        default=[],
        help="put this value into the store (repeatable), e.g. --set 'topic=\"cats\"'",
    )
    fork.add_argument("--db", metavar="PATH", help=db_help())
    run.add_script_options(fork)
    fork.set_defaults(handler=_fork)


def _overrides(sets: list[str]) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for item in sets:
        key, sep, text = item.partition("=")
        if not sep or not key:
            fail("fork", f"--set takes KEY=JSON (e.g. --set 'topic=\"cats\"'), got {item!r}")
        overrides[key] = parse_json(text, f"the value of --set {key}", "fork")
    return overrides


def _fork(args: argparse.Namespace) -> int:
    run.check_script(args, "fork")
    overrides = _overrides(args.sets)
    pending = run.pending_run(
        "fork", args.db or default_db(), args.run_id, fork=True, step=args.step, overrides=overrides
    )
    args.resume = None
    return run.run_command(args, args.script_args, pending)
