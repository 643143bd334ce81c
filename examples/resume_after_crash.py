"""Resume after a crash: a process dies mid-run (SIGKILL), another one resumes the run.

The first process runs the flow and is killed hard in the third node. Nothing is lost:
the checkpoints of the two finished nodes are in the database, the run is reported
``interrupted``, and ``flow.resume(run_id)`` continues with the third node without
calling the (paid, slow) LLM nodes again. POSIX only (it uses SIGKILL).
"""

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from fake_llm import FakeLLM

from pocketflow_ext import Flow, Node, WorkflowDB

llm = FakeLLM()


class Draft(Node):
    def prep(self, shared):
        return shared["topic"]

    def exec(self, topic):
        return llm.complete(f"a first draft about {topic} with many words in it")

    def post(self, shared, prep_res, exec_res):
        shared["draft"] = exec_res


class Polish(Node):
    def prep(self, shared):
        return shared["draft"]

    def exec(self, draft):
        return llm.complete(f"polished: {draft}")

    def post(self, shared, prep_res, exec_res):
        shared["polished"] = exec_res


class Publish(Node):
    def post(self, shared, prep_res, exec_res):
        if os.environ.get("CRASH_IN_PUBLISH"):
            os.kill(os.getpid(), signal.SIGKILL)  # the machine goes down mid-node
        shared["url"] = f"https://example.invalid/{shared['topic']}"


def build(db_path: str) -> Flow:
    draft = Draft()
    draft >> Polish() >> Publish()
    return Flow(start=draft, db_path=db_path, flow_name="article")


if len(sys.argv) == 2:  # the child process: run the flow and die in Publish
    build(sys.argv[1]).run({"topic": "checkpoints"})
    raise SystemExit("not reached: the process is killed in Publish")

db_path = str(Path(tempfile.mkdtemp()) / "runs.db")
child = subprocess.run(
    [sys.executable, __file__, db_path], env={**os.environ, "CRASH_IN_PUBLISH": "1"}
)
print("first process killed by signal:", -child.returncode == signal.SIGKILL)

with WorkflowDB(db_path) as db:
    (run,) = db.list_runs(status="interrupted")
    saved = [c["node_name"] for c in db.get_checkpoints(run["run_id"])]
print("interrupted run:", run["run_id"].startswith("article-"), "checkpoints:", saved)

flow = build(db_path)
store = flow.resume(run["run_id"])
print("resumed store keys:", sorted(store))
print("url:", store["url"])
print("llm calls in this process:", llm.calls)  # Draft and Polish were not run again

with WorkflowDB(db_path) as db:
    (resumed,) = [r for r in db.list_runs() if r["resumed_from"] == run["run_id"]]
    steps = [e["node_name"] for e in db.get_events(resumed["run_id"]) if e["event"] == "node_end"]
print("resumed run:", resumed["status"], "ran", steps)

# PocoFlow's way works too: load a checkpoint and start at a node of your choice.
with WorkflowDB(db_path) as db:
    last = db.get_checkpoints(run["run_id"])[-1]
    again = db.load_checkpoint(run["run_id"], step=last["step"])
flow.run(again, resume_from="Publish")
print("resume_from after", last["node_name"] + ":", again["url"])
