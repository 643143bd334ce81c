"""The runs page: filters, one page of runs as a table, pagination, and picking a run."""

from __future__ import annotations

import zlib
from typing import Any

import pandas as pd  # ships with streamlit
import streamlit as st

from ..runstore.base import RunFilter, RunStore
from .display import STATUSES, badge, badge_colour, duration, short_time
from .run_facts import current_node, resumed_note, run_duration, run_steps

PAGE_SIZES = (25, 50, 100)
COLUMNS = ("Run id", "Flow", "Status", "Started (UTC)", "Duration", "Steps", "Current node")


def render_filters(store: RunStore, key: str) -> RunFilter:
    stored = store.status_names()
    statuses = list(dict.fromkeys([*STATUSES, *stored]))
    col_status, col_flow, col_search = st.columns([3, 3, 2])
    picked = col_status.multiselect(
        "Status", statuses, key=f"{key}-status", format_func=badge, placeholder="all statuses"
    )
    flows = col_flow.multiselect(
        "Flow", store.flow_names(), key=f"{key}-flow", placeholder="all flows"
    )
    search = col_search.text_input("Run id contains", key=f"{key}-search")
    return RunFilter(statuses=tuple(picked), flows=tuple(flows), search=search)


def table_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "Run id": r["run_id"],
            "Flow": r["flow_name"] or "—",
            "Status": " ".join(p for p in (badge(r["status"]), resumed_note(r)) if p),
            "Started (UTC)": short_time(r["started_at"]),
            "Duration": duration(run_duration(r)),
            "Steps": "—" if run_steps(r) is None else str(run_steps(r)),
            "Current node": current_node(r) or "—",
        }
        for r in rows
    ]


def render_runs(store: RunStore, key: str) -> str | None:
    """Filters, the runs table and the run picker; returns the run id to open (or None)."""
    filt = render_filters(store, key)
    state = st.session_state
    # A new filter starts again at page 1: its old page number may not exist any more.
    if state.get(f"{key}-last-filter") != filt:
        state[f"{key}-last-filter"] = filt
        state[f"{key}-page"] = 1
    size = int(state.setdefault(f"{key}-size", PAGE_SIZES[1]))
    page_no = int(state.setdefault(f"{key}-page", 1))
    page = store.runs_page(filt, limit=size, offset=(page_no - 1) * size)
    pages = max(1, -(-page.total // size))
    if page_no > pages:  # rows were deleted or the page size grew
        page_no = state[f"{key}-page"] = pages
        page = store.runs_page(filt, limit=size, offset=(page_no - 1) * size)
    if not page.rows:
        st.info(
            "No runs match these filters."
            if filt != RunFilter()
            else "No runs recorded yet. Run a flow with db_path set to this file, then refresh."
        )
    rows = page.rows
    ids = [r["run_id"] for r in rows]
    table = pd.DataFrame(table_rows(rows), columns=COLUMNS)
    event = st.dataframe(
        table.style.map(badge_colour, subset=["Status"]),
        # A new key when the page's runs change (a refresh brought new ones): a ticked row
        # must not silently point at another run after the rows shifted.
        key=f"{key}-table-{zlib.crc32(chr(0).join(ids).encode()):08x}",
        hide_index=True,
        on_select="rerun",
        selection_mode="single-row",
        width="stretch",
    )
    col_page, col_size, col_total = st.columns([2, 2, 4])
    col_page.number_input("Page", min_value=1, max_value=pages, step=1, key=f"{key}-page")
    col_size.selectbox("Runs per page", PAGE_SIZES, key=f"{key}-size")
    # A large history is counted only so far past this page (runstore/views.py).
    more = "+" if page.more else ""
    col_total.text(f"{page.total:,}{more} runs · page {page_no} of {pages:,}{more}")
    return _picked_run(ids, getattr(event, "selection", None), key)


def _picked_run(ids: list[str], selection: Any, key: str) -> str | None:
    """The open run: the row last clicked in the table, or the run chosen in the picker."""
    state = st.session_state
    chosen = f"{key}-run"
    rows = tuple(selection.rows) if selection is not None else ()
    if rows != state.get(f"{key}-last-rows"):
        state[f"{key}-last-rows"] = rows
        if rows and rows[0] < len(ids):
            state[chosen] = ids[rows[0]]
    current = state.get(chosen)
    options = ids if current is None or current in ids else [current, *ids]
    if current is not None:
        state[f"{key}-pick"] = current

    def picked() -> None:
        state[chosen] = state[f"{key}-pick"]

    st.selectbox(
        "Open run",
        options,
        index=None,
        key=f"{key}-pick",
        placeholder="select a row above, or pick a run id",
        on_change=picked,
    )
    return current
