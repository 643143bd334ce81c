"""Record runs in SQLite and JSON checkpoints, then query them like the monitor does.

A small summarising flow (a batch of documents through a nested "polish" flow) is run
with ``db_path=`` and ``checkpoint_dir=``. Afterwards ``WorkflowDB`` lists the runs,
shows the event log with paths and batch params, and restores the store as it was
after any node. A value JSON cannot hold (a lock) is saved as an explicit marker.
Everything is written to a temporary directory (or the one given as argument).
"""

import json
import sys
import tempfile
import threading
import warnings
from pathlib import Path

from fake_llm import FakeLLM

from pocketflow_ext import BatchFlow, Flow, Node, Store, WorkflowDB

llm = FakeLLM()


class Summarise(Node):
    def prep(self, shared):
        return shared["docs"][self.params["doc"]]

    def exec(self, text):
        return llm.complete(text)

    def post(self, shared, prep_res, exec_res):
        shared.setdefault("summaries", {})[self.params["doc"]] = exec_res


class Polish(Node):
    def post(self, shared, prep_res, exec_res):
        doc = self.params["doc"]
        shared["summaries"][doc] = shared["summaries"][doc].capitalize()


class EachDoc(BatchFlow):
    def prep(self, shared):
        return [{"doc": name} for name in sorted(shared["docs"])]


class Publish(Node):
    def post(self, shared, prep_res, exec_res):
        shared["published"] = len(shared["summaries"])
        shared["client_lock"] = threading.Lock()  # not JSON: recorded as a marker


def build(db_path: Path, checkpoint_dir: Path) -> Flow:
    summarise = Summarise()
    summarise >> Polish()
    polish = Flow(start=summarise, flow_name="polish")
    each = EachDoc(start=polish, flow_name="each_doc")
    each >> Publish()
    return Flow(start=each, db_path=db_path, checkpoint_dir=checkpoint_dir, flow_name="digest")


def main(workdir: Path) -> None:
    db_path, checkpoint_dir = workdir / "runs" / "digest.db", workdir / "checkpoints"
    flow = build(db_path, checkpoint_dir)
    store = Store(
        {"docs": {"a": "otters hold hands while they sleep in the water", "b": "bees dance"}}
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        flow.run(store)
    print("warning:", str(caught[0].message).split(";")[0])

    db = WorkflowDB(db_path, readonly=True)  # what a monitor does: read only
    run = db.list_runs(limit=10)[0]
    print(f"run {run['flow_name']}: {run['status']}, {run['total_steps']} steps")
    for event in db.get_events(run["run_id"]):
        if event["event"] == "node_end":
            params = json.loads(event["params"]) if event["params"] else {}
            print(f"  step {event['step']:>2} {event['path']:<32} {params}")
    last = db.last_checkpoint(run["run_id"])
    restored = db.load_checkpoint(run["run_id"], last["step"])
    print("restored summaries:", restored["summaries"])
    print("marker for the lock:", restored["client_lock"])
    run_dir = checkpoint_dir / run["run_id"]  # one folder per run
    files = sorted(p.name for p in run_dir.iterdir())
    print(f"{len(files)} checkpoint files, first {files[0]}, last {files[-1]}")
    print("snapshot file restores:", Store.restore(run_dir / files[0])["docs"]["b"])
    graph = json.loads(run["graph"])
    print("graph:", " -> ".join(n["name"] for n in graph["nodes"]))


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
