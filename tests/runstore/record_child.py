"""Record runs into a database from another process, for the store's multi-process tests.

python record_child.py DB_PATH PREFIX COUNT
"""

from __future__ import annotations

import sys

from pocketflow_ext import Flow, Node


class Step(Node):
    def post(self, shared, prep_res, exec_res):
        shared["n"] = shared.get("n", 0) + 1


def main() -> None:
    db_path, prefix, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    for i in range(count):
        first = Step()
        first >> Step()
        Flow(start=first, db_path=db_path, flow_name="child", run_id=f"{prefix}-{i}").run({})


if __name__ == "__main__":
    main()
