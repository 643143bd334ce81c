"""A pocketflow-ext subscriber plugin: one stderr line per node slower than a threshold."""

import os
import sys


class SlowNodes:
    """Built with no arguments by pocketflow-ext (the entry point names this class)."""

    def __init__(self):
        self.threshold = float(os.environ.get("SLOW_NODE_SECONDS", "1.0"))

    def wants(self, kind):
        return kind == "node_end"  # records of other kinds are not even built for it

    def __call__(self, event):
        if event.kind == "node_end" and (event.elapsed_s or 0) >= self.threshold:
            print(
                f"slow node: {event.path} took {event.elapsed_s:.2f} s (run {event.run_id})",
                file=sys.stderr,
            )
