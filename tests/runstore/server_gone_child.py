"""Child process of ``test_postgres_server_gone.py``: records a flow into the URL given,
with the durability mode given, and prints one JSON line: the exception the run raised
(or none) and the nodes that ran.

``A >> Wait >> B`` by default: ``Wait`` commits what is queued, creates the file
``<dir>/waiting`` and waits for ``<dir>/go`` (the test stops the server meanwhile).
With a fourth argument ``parallel``: ``Start >> [B1, B2, B3] >> End``, each branch
creating ``<dir>/waiting-<name>`` and waiting for ``<dir>/go``, so all three end, and
commit, at about the same time on their threads."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

from pocketflow_ext import Flow, Node
from pocketflow_ext.recording.writer import writer_for
from pocketflow_ext.runstore import postgres

url, mode, folder = sys.argv[1], sys.argv[2], Path(sys.argv[3])
parallel = sys.argv[4:] == ["parallel"]
postgres.POOL_TIMEOUT_S = 1.0  # this test's patience: 5 attempts of 1 s, not of 10 s
ran: list[str] = []
ran_lock = threading.Lock()  # branches append from their threads


class Step(Node):
    def exec(self, prep_res):
        with ran_lock:
            ran.append(self.name)


class Wait(Step):
    def exec(self, prep_res):
        super().exec(prep_res)
        writer_for(url).flush()  # async: the rows so far are in before the server goes
        (folder / ("waiting" if self.name == "Wait" else f"waiting-{self.name}")).touch()
        deadline = time.monotonic() + 60
        while not (folder / "go").exists() and time.monotonic() < deadline:
            time.sleep(0.02)


def named(node: Node, name: str) -> Node:
    node.name = name
    return node


if parallel:
    start = named(Step(), "Start")
    start >> [named(Wait(), f"B{n}") for n in (1, 2, 3)] >> named(Step(), "End")
    run_id = f"par-{mode}"
else:
    start = named(Step(), "A")
    start >> named(Wait(), "Wait") >> named(Step(), "B")
    run_id = f"gone-{mode}"
flow = Flow(start=start, db_path=url, flow_name="gone", run_id=run_id, durability=mode)
try:
    flow.run({})
    outcome = {"error": None}
except Exception as exc:
    outcome = {"error": type(exc).__name__, "message": str(exc)}
print(json.dumps({**outcome, "ran": ran}), flush=True)
