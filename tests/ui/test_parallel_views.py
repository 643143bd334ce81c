"""The monitor on a recorded run with a Parallel group: the Graph tab draws the fan-out and
the join, the Timeline's bars of branches that ran at the same time overlap."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pocketflow_ext as pf
from pocketflow_ext.ui.graph_dot import (
    graph_from_json,
    join_key,
    path_from_events,
    to_dot,
    top_path,
)
from pocketflow_ext.ui.timeline_tab import node_spans


class Meet(pf.Node):
    """Ends only once both branches are inside their exec at the same time."""

    barrier = threading.Barrier(2)

    def exec(self, prep_res: Any) -> Any:
        Meet.barrier.wait(timeout=20)

    def post(self, shared: Any, prep_res: Any, exec_res: Any) -> Any:
        shared[self.name] = True


def recorded_parallel_run(tmp_path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    Meet.barrier = threading.Barrier(2)
    inner_a = Meet(name="Fetch")
    inner_a >> pf.Node(name="Parse")
    start = pf.Node(name="Start")
    start >> [Meet(name="a"), pf.Flow(start=inner_a, flow_name="b")] >> pf.Node(name="Merge")
    flow = pf.Flow(start=start, flow_name="F", db_path=tmp_path / "runs.db")
    flow.run({})
    with pf.WorkflowDB(tmp_path / "runs.db") as db:
        run = db.list_runs()[0]
        return run, db.get_events(run["run_id"])


def test_the_graph_fans_out_to_the_branches_and_joins_before_the_next_node(
    tmp_path: Path,
) -> None:
    run, events = recorded_parallel_run(tmp_path)
    graph = graph_from_json(run["graph"], top_path(run, events))
    join = join_key("F/Parallel")
    assert graph.joins == {"F/Parallel": join}
    assert ("F/Parallel", "branch", "F/Parallel/a") in graph.edges
    assert ("F/Parallel/b", "joins", join) in graph.edges
    assert (join, "default", "F/Merge") in graph.edges
    path = path_from_events(events, graph.joins)
    assert path.taken == {
        ("F/Start", "default", "F/Parallel"): 1,
        ("F/Parallel", "branch", "F/Parallel/a"): 1,
        ("F/Parallel", "branch", "F/Parallel/b"): 1,
        ("F/Parallel/b/Fetch", "default", "F/Parallel/b/Parse"): 1,
        ("F/Parallel/a", "joins", join): 1,
        ("F/Parallel/b", "joins", join): 1,
        (join, "default", "F/Merge"): 1,
    }  # no edge between the branches, whichever order their events came in
    dot = to_dot(graph, path)
    assert f'"{join}" [label="join", shape=diamond' in dot
    assert '"F/Parallel" -> "F/Parallel/a" [label="branch ×1"' in dot


def test_the_timeline_bars_of_branches_that_ran_together_overlap(tmp_path: Path) -> None:
    run, events = recorded_parallel_run(tmp_path)
    spans = {s["node"]: s for s in node_spans(events, run.get("last_activity_at"))}
    a, fetch, group = spans["F/Parallel/a"], spans["F/Parallel/b/Fetch"], spans["F/Parallel"]
    assert a["start"] < fetch["end"] and fetch["start"] < a["end"]  # both met at the barrier
    assert group["start"] <= min(a["start"], fetch["start"])
    assert group["end"] >= max(a["end"], fetch["end"])
    assert len({s["step"] for s in spans.values()}) == len(spans)  # one row per execution
