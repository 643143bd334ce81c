"""The flow every writer of the many-writers test records, and its child-process entry point.

    python many_writers_flow.py DB_PATH WRITER RUNS DURABILITY GO_FILE

waits for GO_FILE to exist (so every writer starts at once), then records RUNS runs.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from pocketflow_ext import Flow, Node

NODES = ("Load", "Clean", "Score", "Rank", "Save")


class Step(Node):
    def __init__(self, label: str) -> None:
        super().__init__()
        self.name = label

    def post(self, shared, prep_res, exec_res):
        shared.setdefault("done", []).append(self.name)


def build(db_path: str, durability: str) -> Flow:
    steps = [Step(n) for n in NODES]
    for a, b in zip(steps, steps[1:], strict=False):
        a >> b
    return Flow(start=steps[0], db_path=db_path, flow_name="writer", durability=durability)


def record_runs(db_path: str, writer: str, runs: int, durability: str) -> None:
    flow = build(db_path, durability)
    for i in range(runs):
        flow.run({"writer": writer, "run": i})


def wait_for(go_file: Path) -> None:
    while not go_file.exists():  # the parent's test timeout bounds this
        time.sleep(0.005)


if __name__ == "__main__":
    db, writer, runs, durability, go = sys.argv[1:6]
    wait_for(Path(go))
    record_runs(db, writer, int(runs), durability)
