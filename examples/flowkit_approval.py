"""Flowkit's approval workflow in pocketflow-ext: conditional tasks with when=.

Flowkit's ``when=lambda x: x > 2000`` receives the upstream result; here a predicate's
parameters are read from the store by name, through the task's ``reads=`` mapping, so
the same lambda works. A skipped task is reported as ``node_skip`` and the flow goes on.
"""

import sys

from pocketflow_ext import Flow, task


def fetch_data_size():
    return int(sys.argv[1]) if len(sys.argv) > 1 else 1500


@task()
def extract():
    return fetch_data_size()


@task(reads={"data_size": "extract"})
def transform(data_size):
    return data_size * 2


@task(reads={"size": "transform"}, when=lambda size: size > 2000)
def require_manual_approval(size):
    """Large datasets need approval."""
    print(f"Large dataset ({size}) - manual approval required")
    return "MANUAL_APPROVAL"


@task(reads={"size": "transform"}, when=lambda size: size <= 2000)
def auto_approve(size):
    """Small datasets auto-approved."""
    print(f"Small dataset ({size}) - auto-approved")
    return "AUTO_APPROVED"


@task(
    reads={
        "transform_result": "transform",
        "manual": "require_manual_approval",
        "auto": "auto_approve",
    }
)
def load(transform_result, manual=None, auto=None):
    approval = manual or auto
    print(f"Loading {transform_result} with {approval}")
    return f"LOADED_{approval}"


# Flowkit fans out to both approvals and merges; one of them always skips, so a chain
# expresses the same workflow.
extract >> transform >> require_manual_approval >> auto_approve >> load
flow = Flow(start=extract, flow_name="approval_workflow")
flow.on("node_skip", lambda name, store: print(f"skipped {name}"))

if __name__ == "__main__":
    results = {}
    flow.run(results)
    print("result:", results["load"])
