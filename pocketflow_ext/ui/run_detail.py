"""One run's page: a summary line and the Timeline, Store, Graph and Resume tabs."""

from __future__ import annotations

import sqlite3

import streamlit as st

from .database import Schema
from .display import plain
from .graph_tab import render_graph
from .interim_run_keys import add_interim_run_keys
from .queries import child_run_ids, get_checkpoints, get_events, get_run
from .resume_tab import render_resume
from .runs_table import table_rows
from .store_tab import render_store
from .timeline_tab import render_timeline

TABS = ("Timeline", "Store", "Graph", "Resume")


def render_run(
    conn: sqlite3.Connection, schema: Schema, db_path: str, run_id: str, key: str
) -> None:
    found = get_run(conn, schema, run_id)
    if found is None:
        st.warning(plain(f"Run {run_id!r} is not in this database (it may have been deleted)."))
        return
    # INTERIM until the runstore merge, whose run dicts carry these keys.
    run = add_interim_run_keys(conn, [found])[0]
    st.subheader(plain(f"Run {run_id}"))
    summary = table_rows([run])[0]
    del summary["Run id"]  # already the heading
    if run.get("resumed_from"):
        summary["Resumed from"] = str(run["resumed_from"])
    if run.get("resumed_by"):
        summary["Resumed by"] = ", ".join(run["resumed_by"])
    if run.get("parent_run_id"):
        summary["Parent run"] = str(run["parent_run_id"])
    if run.get("error_msg"):
        summary["Error"] = str(run["error_msg"])
    st.dataframe([summary], hide_index=True, width="stretch")
    events = get_events(conn, schema, [run_id, *child_run_ids(conn, schema, run_id)])
    checkpoints = get_checkpoints(conn, schema, run_id)
    timeline, store, graph, resume = st.tabs(list(TABS))
    with timeline:
        render_timeline(run, events, key)
    with store:
        render_store(conn, run_id, checkpoints, key)
    with graph:
        render_graph(run, events)
    with resume:
        render_resume(
            run, events, checkpoints, db_path, ours=schema.has("pf_runs", "heartbeat_at"), key=key
        )
