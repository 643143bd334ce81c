"""One run's page: a summary line and the Timeline, Store, Graph and Resume tabs."""

from __future__ import annotations

import streamlit as st

from ..runstore.base import RunStore
from .display import plain
from .graph_tab import render_graph
from .lineage import render_lineage
from .resume_tab import render_resume
from .run_facts import lineage_facts
from .runs_table import table_rows
from .store_tab import render_store
from .timeline_tab import render_timeline
from .waiting_panel import render_waiting

TABS = ("Timeline", "Store", "Graph", "Resume")


def render_run(runs: RunStore, db_path: str, run_id: str, key: str) -> None:
    run = runs.get_run(run_id)
    if run is None:
        st.warning(plain(f"Run {run_id!r} is not in this database (it may have been deleted)."))
        return
    st.subheader(plain(f"Run {run_id}"))
    summary = table_rows([run])[0]
    del summary["Run id"]  # already the heading
    if run.get("resumed_from"):
        summary["Resumed from"] = str(run["resumed_from"])
    if run.get("resumed_by"):
        summary["Resumed by"] = ", ".join(run["resumed_by"])
    summary.update(lineage_facts(run))
    if run.get("answer") is not None:
        summary["Answer"] = str(run["answer"])
    if run.get("parent_run_id"):
        summary["Parent run"] = str(run["parent_run_id"])
    if run.get("error_msg"):
        summary["Error"] = str(run["error_msg"])
    st.dataframe([summary], hide_index=True, width="stretch")
    render_lineage(run, key)
    if run.get("status") == "waiting":
        render_waiting(run, db_path)
    events = runs.get_events([run_id, *runs.child_run_ids(run_id)])
    checkpoints = runs.get_checkpoints(run_id)
    timeline, store, graph, resume = st.tabs(list(TABS))
    with timeline:
        render_timeline(run, events, key)
    with store:
        render_store(runs, run_id, checkpoints, key)
    with graph:
        render_graph(run, events)
    with resume:
        render_resume(run, events, checkpoints, db_path, ours=runs.schema_version > 0, key=key)
