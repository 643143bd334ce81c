"""A human approves a draft before it is published, and the process that asked is gone by
the time the answer comes: ``interrupt()`` pauses the run durably, another process answers.

Run it: ``python examples/approval_interrupt.py`` (offline; it starts the second process
itself, so you see both halves).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Any

from pocketflow_ext import Flow, Node, WaitingForAnswer, WorkflowDB, interrupt


class Draft(Node):
    def post(self, shared: Any, prep_res: Any, exec_res: Any) -> str:
        print(f"[{os.getpid()}] drafting (an expensive LLM call, done once)")
        shared["draft"] = f"Five facts about {shared['topic']}."
        return "default"


class Approve(Node):
    def prep(self, shared: Any) -> Any:
        # The first time, the run pauses here; once answered, this node runs again from
        # its start and interrupt() returns the answer.
        return interrupt({"question": "Publish this draft?", "draft": shared["draft"]})

    def post(self, shared: Any, prep_res: Any, exec_res: Any) -> str:
        shared["approved"] = prep_res["approved"]
        shared["note"] = prep_res.get("note", "")
        return "publish" if prep_res["approved"] else "drop"


class Publish(Node):
    def post(self, shared: Any, prep_res: Any, exec_res: Any) -> None:
        print(f"[{os.getpid()}] published: {shared['draft']} ({shared['note']})")


class Drop(Node):
    def post(self, shared: Any, prep_res: Any, exec_res: Any) -> None:
        print(f"[{os.getpid()}] dropped")


def build_flow(db_path: str) -> Flow:
    draft, approve = Draft(), Approve()
    draft >> approve
    approve - "publish" >> Publish()
    approve - "drop" >> Drop()
    return Flow(start=draft, db_path=db_path, flow_name="article")


def ask(db_path: str) -> str:
    try:
        build_flow(db_path).run({"topic": "otters"})
    except WaitingForAnswer as waiting:
        print(f"[{os.getpid()}] paused: run {waiting.run_id} asks {json.dumps(waiting.payload)}")
        return str(waiting.run_id)
    raise SystemExit("the flow did not pause")


def answer(db_path: str, run_id: str) -> None:
    with WorkflowDB(db_path, readonly=True) as db:
        run = db.get_run(run_id)
    print(f"[{os.getpid()}] status: {run['status']}, question: {run['question']}")
    store = build_flow(db_path).resume(run_id, answer={"approved": True, "note": "lgtm"})
    print(f"[{os.getpid()}] approved: {store['approved']}")


if __name__ == "__main__":
    if len(sys.argv) == 3:  # the second process: answer the waiting run
        answer(sys.argv[1], sys.argv[2])
    else:
        with tempfile.TemporaryDirectory() as tmp:
            db = os.path.join(tmp, "runs.db")
            waiting = ask(db)  # this process could exit now: the pause is in the database
            subprocess.run([sys.executable, __file__, db, waiting], check=True)
