"""Background runs: run_background() -> RunHandle with run_id, live status, wait and cancel."""

import tempfile
import threading
from pathlib import Path

from fake_llm import FakeLLM

from pocketflow_ext import Flow, Node, RunCancelled, WorkflowDB

llm = FakeLLM()
approved = threading.Event()  # stands in for a person approving a draft


class Research(Node):
    def prep(self, shared):
        return shared["topic"]

    def exec(self, topic):
        return llm.complete(f"notes about {topic} from many sources and long documents")

    def post(self, shared, prep_res, exec_res):
        shared["notes"] = exec_res


class WaitForApproval(Node):
    def exec(self, prep_res):
        approved.wait()  # a long wait: the caller's thread stays free meanwhile


class Publish(Node):
    def post(self, shared, prep_res, exec_res):
        shared["published"] = f"[{shared['topic']}] {shared['notes']}"


def build(db_path: Path) -> Flow:
    research = Research()
    research >> WaitForApproval() >> Publish()
    return Flow(start=research, db_path=db_path, flow_name="research")


db_path = Path(tempfile.mkdtemp()) / "runs.db"
flow = build(db_path)

# One run in the background: the run id is known at once, the status is read live.
handle = flow.run_background({"topic": "pocketflow"})
print("run id looks like research-<8 hex>:", handle.run_id.startswith("research-"))
print("status while waiting:", handle.status)
try:
    handle.wait(timeout=0.05)
except TimeoutError:
    print("still running after 0.05 s")
approved.set()
store = handle.wait(timeout=30)
print("status:", handle.status)
print("published:", store["published"])

# Cancel is cooperative: the run stops before its next node.
approved.clear()
second = flow.run_background({"topic": "cancelled topic"})
second.cancel()
approved.set()
try:
    second.wait(timeout=30)
except RunCancelled as exc:
    print("cancelled:", type(exc).__name__)
print("second status:", second.status)

# Many runs of the same flow at once: each has its own run id and cancel flag.
handles = [flow.run_background({"topic": f"topic {i}"}) for i in range(3)]
for h in handles:
    h.wait(timeout=30)
print("distinct run ids:", len({h.run_id for h in handles}))

with WorkflowDB(db_path) as db:
    statuses = sorted(r["status"] for r in db.list_runs())
print("recorded:", statuses)
