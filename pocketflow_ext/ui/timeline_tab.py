"""Timeline tab: the run's events in order, a Gantt chart of node durations, and errors with
their full traceback on demand."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

from ..runstore.runs import parse_iso
from .display import clock_time, plain
from .graph_dot import node_key


def event_rows(events: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    rows = []
    for e in events:
        error = str(e.get("error_msg") or "")
        rows.append(
            {
                "Step": "" if e.get("step") is None else str(e["step"]),
                "Time (UTC)": clock_time(e.get("ts")),
                "Event": str(e.get("event") or ""),
                "Node": node_key(e) if e.get("node_name") or e.get("path") else "",
                "Action": str(e.get("action") or ""),
                "Latency": "" if e.get("elapsed_ms") is None else f"{e['elapsed_ms']:.1f} ms",
                "Attempt": "" if e.get("attempt") is None else str(e["attempt"]),
                "Retry in": "" if e.get("delay_ms") is None else f"{e['delay_ms']:.0f} ms",
                "Error": error.splitlines()[0] if error else "",
            }
        )
    return rows


def node_spans(events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One bar per node execution: start and end time, duration, outcome."""
    started: dict[tuple[Any, str], Mapping[str, Any]] = {}
    spans = []
    for e in events:
        kind = e.get("event")
        ident = (e.get("step"), node_key(e))
        if kind == "node_start":
            started[ident] = e
        elif kind in ("node_end", "node_error") and ident in started:
            begin = started.pop(ident)
            t0, t1 = parse_iso(begin.get("ts")), parse_iso(e.get("ts"))
            ms = e.get("elapsed_ms")
            if ms is None and t0 is not None and t1 is not None:
                ms = (t1 - t0) * 1000
            spans.append(
                {
                    "node": f"{e.get('step')} · {node_key(e)}",
                    "start": begin.get("ts"),
                    "end": e.get("ts"),
                    "ms": round(float(ms or 0.0), 3),
                    "outcome": "error" if kind == "node_error" else str(e.get("action") or ""),
                }
            )
    return spans


def gantt_spec() -> dict[str, Any]:
    return {
        "mark": {"type": "bar", "tooltip": True},
        "encoding": {
            "y": {"field": "node", "type": "nominal", "sort": None, "title": "step · node"},
            "x": {"field": "start", "type": "temporal", "title": "time (UTC)"},
            "x2": {"field": "end"},
            "color": {"field": "outcome", "type": "nominal", "title": "action"},
            "tooltip": [
                {"field": "node", "type": "nominal"},
                {"field": "ms", "type": "quantitative", "title": "ms"},
                {"field": "outcome", "type": "nominal"},
            ],
        },
    }


def render_timeline(run: Mapping[str, Any], events: Sequence[Mapping[str, Any]], key: str) -> None:
    if not events:
        st.info("No events recorded for this run.")
        return
    st.dataframe(event_rows(events), hide_index=True, width="stretch")
    spans = node_spans(events)
    if spans:
        st.text("Node durations")
        st.vega_lite_chart(spans, gantt_spec(), width="stretch")
    render_errors(run, events, key)


def render_errors(run: Mapping[str, Any], events: Sequence[Mapping[str, Any]], key: str) -> None:
    failures = [e for e in events if e.get("event") in ("node_error", "node_retry")]
    for e in failures:
        what = "failed" if e.get("event") == "node_error" else f"attempt {e.get('attempt')} failed"
        with st.expander(
            plain(f"Step {e.get('step')} · {node_key(e)} {what}: {e.get('error_msg')}")
        ):
            st.code(
                str(e.get("traceback") or e.get("error_msg") or "")
                + ("" if e.get("traceback") else "\n(no traceback recorded for this event)"),
                language=None,
            )
    if run.get("traceback") and not any(e.get("traceback") for e in failures):
        with st.expander(plain(f"Run traceback: {run.get('error_msg')}")):
            st.code(str(run["traceback"]), language=None)
