"""A large store that declares its in-place changes, so each checkpoint costs what the node
changed rather than what the store holds (docs/persistence.md, "Declaring what changed")."""

import sys
import tempfile
from pathlib import Path

from pocketflow_ext import Flow, Node, Store, WorkflowDB


class AddRecord(Node):
    def post(self, shared, prep_res, exec_res):
        shared["records"].append({"id": len(shared["records"]), "text": "a new record"})
        shared.touch("records")  # changed in place: say so (an assignment needs no touch)
        shared["count"] += 1


class Count(Node):
    def post(self, shared, prep_res, exec_res):
        shared["count"] += 1  # the 5,000 records are neither written nor read back here


folder = Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp())
db_path = folder / "large_store.db"
add, count = AddRecord(), Count()
add >> count
flow = Flow(start=add, db_path=db_path, flow_name="large")
records = [{"id": i, "text": "x" * 100} for i in range(5_000)]
store = Store({"records": records, "count": 0}, in_place="declared")
flow.run(store)

with WorkflowDB(db_path) as db:
    run = db.list_runs()[0]
    for checkpoint in db.get_checkpoints(run["run_id"]):
        step = checkpoint["step"]
        saved = db.load_checkpoint(run["run_id"], step)
        print(
            f"step {step} ({checkpoint['node_name']}): {len(saved['records'])} records, "
            f"count {saved['count']}, {checkpoint['kind']} checkpoint"
        )
