"""A recorded five-node flow run in a child process by the crash and Ctrl+C tests.

    python crash_flow.py run DB_PATH RUN_ID STOP_AT [DURABILITY]   record run RUN_ID; block in STOP_AT
    python crash_flow.py background DB_PATH RUN_ID STOP_AT         same in the background; the
                                                                   program ends while it is blocked
    python crash_flow.py resume DB_PATH RUN_ID                     resume it; print the store as JSON

While blocked it creates ``DB_PATH.blocked`` (or the file ``$CRASH_FLOW_BLOCKED`` names,
for a database URL) so the parent knows every node before STOP_AT has finished and can kill
or interrupt the process.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from pocketflow_ext import Flow, Node

NODES = ("Fetch", "Parse", "Summarise", "Review", "Publish")


class Step(Node):
    def __init__(self, label: str, stop_here: bool, signal_file: Path) -> None:
        super().__init__()
        self.name = label
        self.stop_here = stop_here
        self.signal_file = signal_file

    def post(self, shared, prep_res, exec_res):
        if self.stop_here:
            self.signal_file.touch()
            while True:  # until the parent kills or interrupts this process
                time.sleep(0.05)
        shared.setdefault("done", []).append(self.name)
        shared[self.name.lower()] = f"{self.name} output"


def blocked_file(db_path: str) -> Path:
    return Path(os.environ.get("CRASH_FLOW_BLOCKED") or db_path + ".blocked")


def build(db_path: str, stop_at: str | None, **recording: str) -> Flow:
    signal_file = blocked_file(db_path)
    steps = [Step(n, n == stop_at, signal_file) for n in NODES]
    for a, b in zip(steps, steps[1:], strict=False):
        a >> b
    return Flow(start=steps[0], db_path=db_path, flow_name="crashy", **recording)


def main(argv: list[str]) -> None:
    command, db_path = argv[0], argv[1]
    if command == "run":
        run_id, stop_at = argv[2], argv[3]
        durability = argv[4] if len(argv) > 4 else "sync"
        build(db_path, stop_at, run_id=run_id, durability=durability).run({})
    elif command == "background":
        run_id, stop_at = argv[2], argv[3]
        build(db_path, stop_at).run_background({}, run_id=run_id)
        blocked = blocked_file(db_path)
        while not blocked.exists():
            time.sleep(0.01)
        # returning ends the program, and the daemon thread of the run with it
    elif command == "resume":
        store = build(db_path, None).resume(argv[2])
        print(json.dumps(dict(store)))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
