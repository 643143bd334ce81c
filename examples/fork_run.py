"""What if the topic had been different? Fork a finished run from its first checkpoint
with one store value changed; the original run stays exactly as it was.

Run it: ``python examples/fork_run.py`` (offline).
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from pocketflow_ext import Flow, Node, WorkflowDB


class Research(Node):
    def post(self, shared: Any, prep_res: Any, exec_res: Any) -> None:
        shared["calls"] = shared.get("calls", 0) + 1
        shared["topic"] = shared["question"].split()[-1].rstrip("?")


class Write(Node):
    def post(self, shared: Any, prep_res: Any, exec_res: Any) -> None:
        shared["calls"] += 1
        shared["article"] = f"All about {shared['topic']}, in a {shared['tone']} tone."


def build_flow(db_path: str) -> Flow:
    research = Research()
    research >> Write()
    return Flow(start=research, db_path=db_path, flow_name="writer")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "runs.db")
        flow = build_flow(db)
        flow.run({"question": "What about otters?", "tone": "dry"})
        with WorkflowDB(db, readonly=True) as runs:
            first = runs.list_runs()[0]
        print("original:", flow.db.load_checkpoint(first["run_id"], step=1)["article"])

        # From the checkpoint after step 0 (Research), with the tone changed: Write runs again.
        store = build_flow(db).fork(first["run_id"], step=0, overrides={"tone": "playful"})
        print("fork:", store["article"], "| calls:", store["calls"])

        with WorkflowDB(db, readonly=True) as runs:
            fork = runs.list_runs()[0]
            again = runs.get_run(first["run_id"])
        print("forked from the original:", fork["forked_from"] == first["run_id"])
        print("at step:", fork["forked_at_step"])
        print("original forked by the fork:", again["forked_by"] == [fork["run_id"]])
        print("original still says:", flow.db.load_checkpoint(first["run_id"], 1)["article"])
