"""Where the runs of a ``pocketflow-ext run`` script went: each run recorded in ``--db`` gets
the command that recorded it (so the monitor can print a ready resume command), runs that a
flow's own ``db_path`` sent elsewhere are counted, and a ``--db`` file this command created
but nothing was recorded in is removed again at exit.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from ..runstore.workflow_db import WorkflowDB
from ..stream import events as ev
from ..stream.events import Event
from ..stream.scope import current_frame
from ..ui.run_facts import COMMAND_PARAM

_SIDE_FILES = ("", "-wal", "-shm", "-journal")


class RunDestinations:
    """A process-wide subscriber, registered after ``instrument()``'s recorder, so a run it
    records already has its row when the run's ``flow_start`` reaches this one."""

    def __init__(self, db: WorkflowDB, command: dict[str, Any], created: bool) -> None:
        self.db = db
        self.command = command
        self.created = created  # the --db file did not exist before this command
        self.here = 0
        self.elsewhere: Counter[str] = Counter()

    def __call__(self, event: Event) -> None:
        # The top flow of a run is the one whose path is the flow name (nested flows' are longer).
        if event.kind != ev.FLOW_START or event.path != event.flow_name:
            return
        frame = current_frame()
        own = getattr(frame.level.flow, "db_path", None) if frame is not None else None
        if own is not None and not _same_file(own, self.db.db_path):
            self.elsewhere[os.fspath(own)] += 1
            return
        self.here += 1
        self._record_command(event.run_id)

    def _record_command(self, run_id: str) -> None:
        run = self.db.get_run(run_id)
        if run is None:  # a flow recording the same file itself may not have written it yet
            return
        params = json.loads(run["params"]) if run.get("params") else {}
        if not isinstance(params, dict):
            return
        params[COMMAND_PARAM] = self.command
        self.db.update_run(run_id, params=json.dumps(params, ensure_ascii=False))

    def report(self, db_arg: str) -> None:
        """One note on stderr for runs recorded elsewhere; the empty file this command
        created is removed."""
        for path, count in sorted(self.elsewhere.items()):
            sys.stderr.write(
                f"pocketflow-ext run: note: {count} run{'s' if count != 1 else ''} recorded in "
                f"{path} (the flow's own db_path), not in {db_arg}; list them with: "
                f"pocketflow-ext runs {path}\n"
            )
        if self.created and self.here == 0 and self._holds_no_run():
            self.db.close()
            for suffix in _SIDE_FILES:
                try:
                    os.unlink(f"{self.db.db_path}{suffix}")
                except FileNotFoundError:
                    pass
            if self.elsewhere:
                sys.stderr.write(
                    f"pocketflow-ext run: note: nothing was recorded in {db_arg}, so it was "
                    "not kept\n"
                )

    def _holds_no_run(self) -> bool:
        try:
            return self.db.count_runs() == 0
        except Exception:  # unreadable now: leave the file alone
            return False


def _same_file(a: Any, b: Any) -> bool:
    try:
        return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()
    except (OSError, TypeError, ValueError):
        return False


def script_command(script: str | None, module: str | None, args: list[str]) -> dict[str, Any]:
    """What ``pocketflow-ext run`` ran, in the form the monitor turns into a command line."""
    if script is not None:
        return {"script": os.path.abspath(script), "args": list(args), "cwd": os.getcwd()}
    return {"module": module, "args": list(args), "cwd": os.getcwd()}
