"""Child process of ``test_postgres_server_gone.py``: records ``A >> Wait >> B`` into the
URL given, with the durability mode given. ``Wait`` commits what is queued, creates the
file ``<dir>/waiting`` and waits for ``<dir>/go`` (the test stops the server meanwhile).
Prints one JSON line: the exception the run raised (or none) and the nodes that ran."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from pocketflow_ext import Flow, Node
from pocketflow_ext.recording.writer import writer_for
from pocketflow_ext.runstore import postgres

url, mode, folder = sys.argv[1], sys.argv[2], Path(sys.argv[3])
postgres.POOL_TIMEOUT_S = 1.0  # this test's patience: 5 attempts of 1 s, not of 10 s
ran: list[str] = []


class Step(Node):
    def exec(self, prep_res):
        ran.append(self.name)


class Wait(Node):
    def exec(self, prep_res):
        ran.append("Wait")
        writer_for(url).flush()  # async: A's rows are in before the server goes
        (folder / "waiting").touch()
        deadline = time.monotonic() + 60
        while not (folder / "go").exists() and time.monotonic() < deadline:
            time.sleep(0.05)


a, wait, b = Step(), Wait(), Step()
a.name, b.name = "A", "B"
a >> wait >> b
flow = Flow(start=a, db_path=url, flow_name="gone", run_id=f"gone-{mode}", durability=mode)
try:
    flow.run({})
    outcome = {"error": None}
except Exception as exc:
    outcome = {"error": type(exc).__name__, "message": str(exc)}
print(json.dumps({**outcome, "ran": ran}), flush=True)
