"""Graph tab: the flow's recorded graph with the path this run took and visits per node."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

from .graph_dot import (
    graph_from_json,
    graph_of_path,
    path_from_events,
    to_dot,
    top_path,
    visit_rows,
)


def render_graph(run: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> None:
    graph = None
    if run.get("graph"):
        try:
            graph = graph_from_json(str(run["graph"]), top_path(run, events))
        except (ValueError, KeyError, TypeError) as exc:
            st.warning(
                f"The recorded graph could not be read ({type(exc).__name__}); "
                "showing the nodes this run visited instead."
            )
    path = path_from_events(events, graph.joins if graph is not None else None)
    if graph is None:
        if not run.get("graph"):
            st.text(
                "No graph was recorded for this run (PocoFlow databases have none): "
                "showing the nodes and actions this run went through."
            )
        graph = graph_of_path(path)
    if not graph.nodes:
        st.info("This run has not run any node yet.")
        return
    # Drawn at its own size: a one-node flow stays a small box instead of filling the page.
    st.graphviz_chart(to_dot(graph, path), width="content")
    st.dataframe(visit_rows(graph, path), hide_index=True, width="stretch")
