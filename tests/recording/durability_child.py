"""A recorded five-node run in a child process, for the durability tests.

    python durability_child.py DB_PATH RUN_ID DURABILITY STOP_AT [exit] [spill]

Node STOP_AT (1-5) creates the file ``$DURABILITY_BLOCKED`` names and then blocks. Without ``exit`` the
run happens in the main thread (the parent SIGKILLs the process); with ``exit`` it runs
in a daemon thread and the main thread returns as soon as STOP_AT is reached, so the
interpreter exits normally with the run still in progress. With ``spill``, ``exit`` mode
moves every node's rows to its temporary file at once.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

from pocketflow_ext import Flow, Node
from pocketflow_ext.recording import writer
from pocketflow_ext.stream.scope import RunOptions, run_options


class Step(Node):
    def __init__(self, index: int, stop_at: int, signal_file: Path) -> None:
        super().__init__()
        self.name = f"N{index}"
        self.index, self.stop_at, self.signal_file = index, stop_at, signal_file

    def post(self, shared, prep_res, exec_res):
        if self.index == self.stop_at:
            self.signal_file.write_text("blocked")
            while True:
                time.sleep(1)
        shared[self.name] = self.index


def main() -> None:
    db_path, run_id, durability, stop_at = sys.argv[1:5]
    at_exit = "exit" in sys.argv[5:]
    if "spill" in sys.argv[5:]:
        writer.EXIT_SPILL_BYTES = 0
    signal_file = Path(os.environ["DURABILITY_BLOCKED"])
    nodes = [Step(i, int(stop_at), signal_file) for i in range(1, 6)]
    for a, b in zip(nodes, nodes[1:], strict=False):
        a >> b
    flow = Flow(start=nodes[0], db_path=db_path, flow_name="child", durability=durability)

    def run() -> None:
        with run_options(RunOptions(run_id=run_id)):
            flow.run({})

    if not at_exit:
        run()
        return
    threading.Thread(target=run, daemon=True).start()
    while not signal_file.exists():
        time.sleep(0.01)


if __name__ == "__main__":
    main()
