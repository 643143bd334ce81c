"""The console trace of a run with parallel branches: one whole line per event, each branch
node under its own path, whatever the threads interleave."""

from __future__ import annotations

import io
import time
from typing import Any

import pocketflow_ext as pf
from pocketflow_ext import ConsoleTrace


class Nap(pf.Node):
    def exec(self, prep_res: Any) -> Any:
        time.sleep(0.001)


def test_plain_trace_has_one_line_per_event_with_each_branch_path() -> None:
    out = io.StringIO()
    group = pf.Parallel(*(Nap(name=f"n{i}") for i in range(8)))
    flow = pf.Flow(start=group, flow_name="F").subscribe(ConsoleTrace("plain", out))
    flow.run({})
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 + 2 + 8 * 2  # flow start/end, group start/end, each branch
    for i in range(8):
        assert sum(f"node_start F/Parallel/n{i} " in line for line in lines) == 1
        assert sum(f"node_end F/Parallel/n{i} " in line for line in lines) == 1
    assert all(line.count("run=") == 1 for line in lines)  # no two events on one line
