"""Child process of ``test_postgres_server_gone.py``: records a flow into the URL given,
with the durability mode given, and prints one JSON line: the exception the run raised
(or none) and the nodes that ran.

``A >> Wait >> B`` by default: ``Wait`` commits what is queued, creates the file
``<dir>/waiting`` and waits for ``<dir>/go`` (the test stops the server meanwhile).
With a fourth argument, ``Start >> [B1, B2, B3] >> End``: each ``B`` creates
``<dir>/waiting-<name>`` and waits for ``<dir>/go``, so all three end, and commit, at about
the same time. ``parallel``: three sync nodes, on threads; ``parallel-async``: three
async nodes, on the event loop; ``parallel-flows``: ``B1`` a node, ``B2`` and ``B3``
flows ``B >> After`` whose ``B`` ends a little later (so ``B1`` meets the gone store
first: its branch must stop the others before their ``After``). A fifth argument is the
group's ``on_error``."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from pathlib import Path

import pocketflow

from pocketflow_ext import Flow, Node, Parallel
from pocketflow_ext.recording.writer import writer_for
from pocketflow_ext.runstore import postgres

url, mode, folder = sys.argv[1], sys.argv[2], Path(sys.argv[3])
shape = sys.argv[4] if len(sys.argv) > 4 else None
on_error = sys.argv[5] if len(sys.argv) > 5 else "cancel"
postgres.POOL_TIMEOUT_S = 1.0  # this test's patience: 5 attempts of 1 s, not of 10 s
ran: list[str] = []
ran_lock = threading.Lock()  # branches append from their threads


class Step(Node):
    def exec(self, prep_res):
        with ran_lock:
            ran.append(self.name)


def wait(name: str, late: float = 0.0) -> None:
    with ran_lock:
        ran.append(name)
    writer_for(url).flush()  # async: the rows so far are in before the server goes
    (folder / ("waiting" if name == "Wait" else f"waiting-{name}")).touch()
    deadline = time.monotonic() + 60
    while not (folder / "go").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(late)


class Wait(Node):
    late = 0.0

    def exec(self, prep_res):
        wait(self.name, self.late)


class AsyncWait(pocketflow.AsyncNode):
    async def exec_async(self, prep_res):
        await asyncio.to_thread(wait, self.name)


def named(node, name: str, late: float = 0.0):
    node.name, node.late = name, late
    return node


def branch(number: int):
    name = f"B{number}"
    if shape == "parallel-async":
        return named(AsyncWait(), name)
    if shape == "parallel-flows" and number > 1:
        first = named(Wait(), name, late=0.5)
        first >> named(Step(), f"After{number}")
        return named(Flow(start=first), f"F{number}")
    return named(Wait(), name)


if shape is not None:
    start = named(Step(), "Start")
    group = Parallel(*(branch(n) for n in (1, 2, 3)), on_error=on_error)
    start >> group >> named(Step(), "End")
    run_id = f"{shape}-{mode}"
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
