"""Skips and cache hits as readers show them: `pocketflow-ext show` and the monitor's Timeline."""

from __future__ import annotations

from cached_nodes import Summarise

from pocketflow_ext import Flow, Node, WorkflowDB
from pocketflow_ext.cli.main import main


def record_twice(db: str) -> str:
    for _ in range(2):
        first = Summarise()
        first >> Node(when=lambda shared: False, name="Gate")
        Flow(start=first, db_path=db, flow_name="demo").run({"text": "x"})
    with WorkflowDB(db, readonly=True) as reader:
        return str(reader.list_runs()[0]["run_id"])


def test_show_marks_cached_and_skipped_steps(tmp_path, capsys) -> None:
    db = str(tmp_path / "runs.db")
    run_id = record_twice(db)
    assert main(["show", db, run_id]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any("Summarise" in line and line.endswith("(cached)") for line in lines)
    assert any("Gate" in line and "skipped" in line for line in lines)


def test_the_timeline_marks_cached_nodes_and_shows_skips(tmp_path) -> None:
    from pocketflow_ext.ui.timeline_tab import event_rows, node_spans

    db = str(tmp_path / "runs.db")
    run_id = record_twice(db)
    with WorkflowDB(db, readonly=True) as reader:
        events = reader.get_events(run_id)
    outcomes = {(span["step"], span["node"]): span["outcome"] for span in node_spans(events)}
    assert outcomes[(0, "demo/Summarise")] == "default (cached)"
    assert outcomes[(1, "demo/Gate")] == "skipped (when=)"
    assert {"node_skip", "cache_hit"} <= {row["Event"] for row in event_rows(events)}
