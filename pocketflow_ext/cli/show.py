"""``pocketflow-ext show``: one run's timeline, node by node, with nested paths and times."""

from __future__ import annotations

import argparse
import json
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import PocketFlowExtError
from ..ui.display import duration
from ..ui.run_facts import current_node, resumed_note, run_duration, run_steps
from .database import local_time, open_recorded
from .options import db_help
from .output import PROG, fail, report


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    show = commands.add_parser(
        "show",
        help="show one run's timeline",
        description="Show one run: its nodes in order with nested paths, times, retries and errors.",
        usage=f"{PROG} show [-h] [--json] [DB] RUN_ID",
    )
    show.add_argument("first", metavar="DB", help=db_help())
    show.add_argument("run_id", nargs="?", metavar="RUN_ID", help="the run to show")
    show.add_argument("--json", action="store_true", help="print JSON instead of a timeline")
    show.set_defaults(handler=report(show_command))


def show_command(args: argparse.Namespace) -> int:
    db_arg, run_id = (args.first, args.run_id) if args.run_id else (None, args.first)
    if db_arg is None and _looks_like_database(run_id):
        what = "is a database" if Path(run_id).exists() else "names a database file (none exists)"
        fail(
            "show",
            f"no run id given: {run_id} {what}, not a run; give the run after the database: "
            f"pocketflow-ext show {run_id} RUN_ID (list its runs with: pocketflow-ext runs {run_id})",
        )
    db, db_path = open_recorded("show", db_arg)
    try:
        run = db.get_run(run_id)
        events = db.get_events(run_id) if run is not None else []
    except (PocketFlowExtError, sqlite3.Error) as exc:
        fail("show", str(exc))
    finally:
        db.close()
    if run is None:
        fail(
            "show", f"no run {run_id!r} in {db_path}; list them with: pocketflow-ext runs {db_path}"
        )
    if args.json:
        print(json.dumps({"run": run, "events": events}, indent=2))
        return 0
    for line in timeline(run, events):
        print(line)
    return 0


def _looks_like_database(text: str) -> bool:
    # Run ids never hold "/", but a file name may also be a valid run id: trust the disk.
    return Path(text).is_file() or Path(text).is_dir() or text.endswith(_DB_SUFFIXES)


_DB_SUFFIXES = (".db", ".sqlite", ".sqlite3")


def timeline(run: Mapping[str, Any], events: list[dict[str, Any]]) -> list[str]:
    """The run's header, one line per node execution (in start order, indented by nesting,
    with its retries below it) and the run's error."""
    count = run_steps(run) or 0
    lines = [
        f"run {run['run_id']} · flow {run.get('flow_name') or '?'} · {run.get('status')}"
        f" · {count} step{'' if count == 1 else 's'} · {duration(run_duration(run))}",
        f"started {local_time(run.get('started_at'))}"
        + (
            f" · {'paused' if run.get('status') == 'waiting' else 'finished'} "
            f"{local_time(run['completed_at'])}"
            if run.get("completed_at")
            else ""
        ),
    ]
    for key, label in (("resumed_from", "resumed from"), ("parent_run_id", "inside run")):
        if run.get(key):
            lines.append(f"{label} {run[key]}")
    if resumed_note(run):
        lines.append(resumed_note(run).lstrip("→ "))
    if current_node(run) and run.get("status") != "completed":
        lines.append(
            f"{'failed at' if run.get('status') == 'failed' else 'at'} {current_node(run)}"
        )
    lines += lineage_lines(run)
    steps = _steps(events, str(run.get("flow_name") or ""))
    if steps:
        width = max(len(s["label"]) for s in steps)
        lines.append("")
        lines.append(f"{'step':>5}  {'node'.ljust(width)}  {'ms':>9}  result")
        for step in steps:
            lines.append(
                f"{step['step']:>5}  {step['label'].ljust(width)}  {step['ms']:>9}  {step['result']}"
            )
            lines.extend(f"{'':>5}  {'':{width}}  {'':>9}  {retry}" for retry in step["retries"])
    if run.get("error_msg"):
        lines += ["", f"error: {run['error_msg']}"]
    if run.get("traceback"):
        lines += ["", *str(run["traceback"]).rstrip().splitlines()]
    return lines


def lineage_lines(run: Mapping[str, Any]) -> list[str]:
    """Forks both ways (resumes are in ``resumed_note``), what a waiting run asks and what
    an answering run was told."""
    lines = []
    if run.get("forked_from"):
        lines.append(f"forked from {run['forked_from']} at step {run.get('forked_at_step')}")
    if run.get("forked_by"):
        lines.append(f"forked by {', '.join(run['forked_by'])}")
    if run.get("question") is not None:
        lines.append(f"question: {run['question']}")
        if run.get("status") == "waiting":
            lines.append(
                f"answer with: flow.resume({run['run_id']!r}, answer=...)  or  "
                f"{PROG} answer {run['run_id']} '<JSON>' --db DB SCRIPT.py"
            )
    if run.get("answer") is not None:
        lines.append(f"answered: {run['answer']}")
    return lines


def _steps(events: list[dict[str, Any]], flow_name: str) -> list[dict[str, Any]]:
    by_step: dict[Any, dict[str, Any]] = {}
    for event in events:
        kind, step = event.get("event"), event.get("step")
        if step is None or kind not in (
            "node_start",
            "node_retry",
            "node_end",
            "node_error",
            "run_waiting",
        ):
            continue
        entry = by_step.setdefault(
            step,
            {
                "step": step,
                "label": _label(event, flow_name),
                "ms": "",
                "result": "(no end recorded)",
                "retries": [],
            },
        )
        if kind == "node_end":
            entry["ms"] = _ms(event.get("elapsed_ms"))
            action = event.get("action")
            entry["result"] = f"-> {action}" if action is not None else "done"
        elif kind == "node_error":
            entry["ms"] = _ms(event.get("elapsed_ms"))
            entry["result"] = f"FAILED {event.get('error_msg') or ''}".rstrip()
        elif kind == "run_waiting":
            entry["result"] = "WAITING for an answer (interrupt)"
        elif kind == "node_retry":
            delay = event.get("delay_ms")
            wait = f", retried after {delay:.0f} ms" if delay else ", retried"
            entry["retries"].append(
                f"attempt {event.get('attempt') or '?'} failed: {event.get('error_msg')}{wait}"
            )
    return [by_step[key] for key in sorted(by_step, key=_order)]


def _label(event: Mapping[str, Any], flow_name: str) -> str:
    """The node's path below the run's flow, indented two spaces per nesting level."""
    path = event.get("path") or event.get("node_name") or "?"
    if flow_name and path.startswith(flow_name + "/"):
        path = path[len(flow_name) + 1 :]
    return "  " * path.count("/") + path


def _ms(value: Any) -> str:
    return "" if value is None else f"{float(value):.1f}"


def _order(step: Any) -> tuple[int, Any]:
    return (0, step) if isinstance(step, int) else (1, str(step))
