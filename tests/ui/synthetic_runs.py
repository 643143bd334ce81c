"""Runs with chosen node durations (1 ms to 1 h) and sizes (1 to 100 nodes), written through
``WorkflowDB``'s public methods with the timestamps such runs would have: the chart and graph
are checked at scales no test could wait for.

    python tests/ui/synthetic_runs.py runs.db
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

from pocketflow_ext import WorkflowDB
from pocketflow_ext.runstore.runs import iso

T0 = 1_790_000_000.0  # a fixed start time, so runs sort the same every time


def write_run(db: WorkflowDB, run_id: str, durations_s: Sequence[float], start: float) -> None:
    """A completed chain ``N1 >> N2 >> ...`` whose node ``i`` took ``durations_s[i]``."""
    names = [f"Node{i + 1:03d}" for i in range(len(durations_s))]
    graph = {
        "start": names[0],
        "nodes": [{"name": n} for n in names],
        "edges": [
            {"from": a, "action": "default", "to": b}
            for a, b in zip(names, names[1:], strict=False)
        ],
    }
    db.create_run(run_id, "chain", graph=json.dumps(graph), started_at=iso(start))
    db.save_event(run_id, "flow_start", node_name="chain", path="chain", ts=start)
    t = start
    for step, (name, seconds) in enumerate(zip(names, durations_s, strict=True)):
        path = f"chain/{name}"
        db.save_event(run_id, "node_start", step=step, node_name=name, path=path, ts=t)
        t += seconds
        db.save_event(
            run_id,
            "node_end",
            step=step,
            node_name=name,
            path=path,
            action="default",
            elapsed_ms=seconds * 1000,
            ts=t,
        )
    db.save_event(run_id, "flow_end", node_name="chain", path="chain", ts=t)
    db.update_run(
        run_id,
        status="completed",
        completed_at=iso(t),
        total_steps=len(names),
        current_node=names[-1],
    )


SCALES = {
    "one-1ms": [0.001],
    "one-1h": [3600.0],
    "hundred-1ms": [0.001] * 100,
    "hundred-mixed": [0.0005 * (1 + i % 7) for i in range(100)],
    "five-1ms-to-1h": [0.001, 0.02, 1.5, 90.0, 3600.0],
    "three-fast": [0.0004, 0.0011, 0.0007],
}


def write_all(path: Path) -> Path:
    with WorkflowDB(path) as db:
        for offset, (run_id, durations) in enumerate(SCALES.items()):
            write_run(db, run_id, durations, T0 + offset * 10_000)
    return path


if __name__ == "__main__":
    write_all(Path(sys.argv[1]))
