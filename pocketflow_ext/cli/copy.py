"""``pocketflow-ext copy SRC DST``: copy recorded runs from one run store into another.

Runs travel whole (run row, events, every checkpoint row as stored, links) through the
run-store interface (``export_run``/``import_run``), so any pair of stores works: a
laptop's SQLite file into the team's PostgreSQL, or back. Copying is idempotent: a run
already in DST is left alone, and one stored there with other content is reported.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..errors import PocketFlowExtError
from ..runstore.base import RunExport, RunFilter, RunStore, export_differences
from ..runstore.location import masked, scrubbed
from ..runstore.open import open_store, store_key
from ..runstore.runs import parse_iso
from .output import PROG, fail, report, usage_error

LIVE = ("running", "queued")
"""Runs still being written: a copy taken now would miss what comes next."""
_RELATIVE = re.compile(r"(\d+)\s*([mhdw])")
_UNIT_S = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    copy = commands.add_parser(
        "copy",
        help="copy runs from one run store into another",
        description=(
            "Copy recorded runs (events, checkpoints, links) from SRC into DST, e.g. an "
            "SQLite file into a shared postgresql:// store. Runs already in DST are skipped, "
            "so running it twice copies nothing twice; a run stored in DST with other "
            "content is reported, never overwritten. Runs linked to a selected one "
            "(resumed from, nested in, or nesting it) come along."
        ),
    )
    copy.add_argument(
        "src", metavar="SRC", help="the store to copy from: a file path or postgresql:// URL"
    )
    copy.add_argument(
        "dst", metavar="DST", help="the store to copy into (created if missing), path or URL"
    )
    copy.add_argument(
        "--run",
        action="append",
        default=[],
        metavar="RUN_ID",
        help="copy this run (repeat for several; default: every run)",
    )
    copy.add_argument(
        "--flow", action="append", default=[], metavar="NAME", help="only runs of this flow"
    )
    copy.add_argument(
        "--since",
        type=since_value,
        metavar="WHEN",
        help="only runs started since WHEN: a date or time (2026-11-01, 2026-11-01T08:00, "
        "UTC unless it names a zone) or an age (30m, 12h, 7d, 2w)",
    )
    copy.add_argument(
        "--include-running",
        action="store_true",
        help="also copy runs still in progress (as far as they got; a later copy reports "
        "them as different)",
    )
    copy.set_defaults(handler=report(copy_command))


def since_value(text: str) -> float:
    """``--since``: an ISO date/time or an age like ``7d``, as a POSIX timestamp."""
    age = _RELATIVE.fullmatch(text.strip().lower())
    if age:
        return dt.datetime.now(dt.timezone.utc).timestamp() - int(age[1]) * _UNIT_S[age[2]]
    moment = parse_iso(text.strip())
    if moment is None:
        raise argparse.ArgumentTypeError(
            f"cannot read {text!r} as a time: give a date such as 2026-11-01, a time such "
            "as 2026-11-01T08:00, or an age such as 12h or 7d"
        )
    return moment


@dataclass
class CopySummary:
    """What one copy did, run by run."""

    copied: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (run id, why)
    different: list[tuple[str, str]] = field(default_factory=list)  # (run id, what differs)
    events: int = 0
    checkpoints: int = 0


def copy_runs(
    src: RunStore, dst: RunStore, run_ids: Iterable[str], *, include_running: bool = False
) -> CopySummary:
    """Copy ``run_ids`` from ``src`` into ``dst`` (see the module docstring)."""
    done = CopySummary()
    for run_id in run_ids:
        view = src.get_run(run_id)
        if view is None:
            done.skipped.append((run_id, f"not recorded in {src.location}"))
            continue
        if view["status"] in LIVE and not include_running:
            done.skipped.append(
                (run_id, f"still {view['status']}; copy it when it ends (or --include-running)")
            )
            continue
        export = src.export_run(run_id)
        if export is None:  # gone between the two reads: nothing to copy
            done.skipped.append((run_id, f"not recorded in {src.location}"))
            continue
        if dst.import_run(export):
            done.copied.append(run_id)
            done.events += len(export.events)
            done.checkpoints += len(export.checkpoints)
            continue
        _compare(export, dst, done)
    return done


def _compare(export: RunExport, dst: RunStore, done: CopySummary) -> None:
    there = dst.export_run(export.run.run_id)
    problems = ["it is gone again"] if there is None else export_differences(export, there)
    if problems:
        done.different.append((export.run.run_id, "; ".join(problems)))
    else:
        done.already.append(export.run.run_id)


def selected_runs(src: RunStore, args: argparse.Namespace) -> list[str]:
    """The run ids the arguments select, oldest first, with the runs they link to."""
    if args.run and (args.flow or args.since is not None):
        usage_error("copy", "--run names runs itself: use it without --flow and --since")
    if args.run:
        chosen = list(dict.fromkeys(args.run))
    else:
        runs = src.list_runs(RunFilter(flows=tuple(args.flow)), limit=None)
        since = args.since
        chosen = [
            r["run_id"]
            for r in reversed(runs)
            if since is None or (parse_iso(r.get("started_at")) or 0.0) >= since
        ]
        if not (args.flow or since is not None):
            return chosen  # every run: nothing can link outside the selection
    return _with_links(src, chosen)


def _with_links(src: RunStore, chosen: list[str]) -> list[str]:
    """``chosen`` plus the runs they resumed, ran inside, or started (transitively), so
    links in DST point at runs DST holds."""
    seen = dict.fromkeys(chosen)
    todo = list(chosen)
    while todo:
        run = src.get_run(todo.pop())
        if run is None:
            continue
        linked = [run.get("resumed_from"), run.get("parent_run_id")]
        linked += src.child_run_ids(run["run_id"])
        for other in linked:
            if other and other not in seen and src.has_run(other):
                seen[other] = None
                todo.append(other)
    return list(seen)


def _shown(text: str, args: argparse.Namespace) -> str:
    """``text`` without the passwords of SRC and DST (the stores mask their own messages;
    this covers everything else the command prints)."""
    return scrubbed(scrubbed(text, args.src), args.dst)


def copy_command(args: argparse.Namespace) -> int:
    try:
        if store_key(args.src) == store_key(args.dst):
            usage_error("copy", f"SRC and DST are the same store ({masked(args.src)})")
        src = open_store(args.src, readonly=True)  # never creates, migrates or writes
    except PocketFlowExtError as exc:
        fail("copy", _shown(str(exc), args))
    try:
        dst = open_store(args.dst)
    except PocketFlowExtError as exc:
        src.close()
        fail("copy", _shown(str(exc), args))
    try:
        done = copy_runs(src, dst, selected_runs(src, args), include_running=args.include_running)
    except PocketFlowExtError as exc:
        fail("copy", _shown(str(exc), args))
    finally:
        src.close()
        dst.close()
    for run_id, why in done.skipped:
        print(_shown(f"skipped {run_id}: {why}", args))
    for run_id, what in done.different:
        print(
            _shown(
                f"different {run_id}: already in {dst.location} with other content ({what}); "
                "left as it is",
                args,
            )
        )
    print(
        _shown(
            f"copied: {len(done.copied)} run(s) ({done.events} events, {done.checkpoints} "
            f"checkpoints) from {src.location} to {dst.location}",
            args,
        )
    )
    print(f"already there: {len(done.already)}")
    print(f"skipped: {len(done.skipped)}")
    if done.different:
        print(f"different, not overwritten: {len(done.different)}")
        print(
            f"{PROG} copy: {len(done.different)} run(s) differ between the stores; compare "
            f"them with `{PROG} show DB RUN_ID` on each side",
        )
        return 1
    if args.run and any(why.startswith("not recorded") for _run_id, why in done.skipped):
        return 1  # a run asked for by id is not there: say so in the exit status too
    return 0
