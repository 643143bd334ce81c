"""A run's origin and descendants (resumed from/by, forked from/by) as links that open
that run in the monitor (navigation only: nothing is written)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st


def lineage_links(run: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(label, run_id)`` for each run this one came from or led to, origin first."""
    links = []
    if run.get("resumed_from"):
        links.append(("← resumed from", str(run["resumed_from"])))
    if run.get("forked_from"):
        links.append(
            (f"← forked at step {run.get('forked_at_step')} from", str(run["forked_from"]))
        )
    links += [("→ resumed by", str(r)) for r in run.get("resumed_by") or ()]
    links += [("⑂ forked by", str(r)) for r in run.get("forked_by") or ()]
    return links


def render_lineage(run: Mapping[str, Any], key: str) -> None:
    links = lineage_links(run)
    if not links:
        return
    columns = st.columns(min(len(links), 4))
    for i, (label, run_id) in enumerate(links):
        columns[i % len(columns)].button(
            f"{label} {run_id}",
            key=f"{key}-lineage-{i}",
            on_click=_open,
            args=(key, run_id),
            help=f"open run {run_id}",
        )


def _open(key: str, run_id: str) -> None:
    # The runs page's own "open run" state (runs_table._picked_run): the linked run opens
    # even when it is not on the page shown.
    st.session_state[f"{key}-run"] = run_id
