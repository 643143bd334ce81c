"""Timeline tab: the run's events in order, a Gantt chart of node durations, and errors with
their full traceback on demand."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

from ..runstore.runs import parse_iso
from .display import clock_time, duration, plain
from .graph_dot import node_key, top_path


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
                "Latency": "" if e.get("elapsed_ms") is None else duration(e["elapsed_ms"] / 1000),
                "Attempt": "" if e.get("attempt") is None else str(e["attempt"]),
                "Retry in": "" if e.get("delay_ms") is None else f"{e['delay_ms']:.0f} ms",
                "Error": error.splitlines()[0] if error else "",
            }
        )
    return rows


def node_spans(
    events: Sequence[Mapping[str, Any]], last_activity: str | None = None
) -> list[dict[str, Any]]:
    """One bar per node execution: step, node path, start and end (epoch seconds),
    milliseconds and outcome (``NO_END`` for one that had not ended, drawn up to the run's
    ``last_activity``: its last event or heartbeat); in step order."""
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
            if t0 is None or t1 is None:
                continue
            ms = e.get("elapsed_ms")
            spans.append(
                {
                    "step": e.get("step"),
                    "node": node_key(e),
                    "start": t0,
                    "end": max(t1, t0),
                    "ms": float(ms) if ms is not None else (t1 - t0) * 1000,
                    # No action (None) is what upstream follows as "default".
                    "outcome": "error"
                    if kind == "node_error"
                    else str(e.get("action") or "default"),
                }
            )
    # Nodes still running, or running when their process died: up to the last event.
    stamps = [t for t in (parse_iso(e.get("ts")) for e in events) if t is not None]
    stamps += [t for t in (parse_iso(last_activity),) if t is not None]
    for (step, node), begin in started.items():
        t0 = parse_iso(begin.get("ts"))
        if t0 is not None and stamps:
            t1 = max(max(stamps), t0)
            spans.append(
                {
                    "step": step,
                    "node": node,
                    "start": t0,
                    "end": t1,
                    "ms": (t1 - t0) * 1000,
                    "outcome": NO_END,
                }
            )
    return sorted(spans, key=_step_order)


NO_END = "(no end recorded)"
"""The outcome of a node that had not ended when the run's last event was recorded."""


def _step_order(span: Mapping[str, Any]) -> tuple[int, float]:
    step = span.get("step")
    return (step if isinstance(step, int) else 1 << 62, span["start"])


# (unit, seconds per unit, longest run shown in it): the axis counts in the unit that
# keeps its numbers between about 1 and 2,000.
TIME_UNITS = (("ms", 0.001, 2.0), ("s", 1.0, 120.0), ("min", 60.0, 7200.0), ("h", 3600.0, None))
LABEL_CHARS = 48
MIN_BAR = 0.004  # of the axis: a 1 ms node in a 1 h run still shows as a thin bar
OUTCOME_COLOURS = ("#1565c0", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f", "#5d4037", "#ad1457")


def time_unit(seconds: float) -> tuple[str, float]:
    """The unit to count a run of ``seconds`` in, and its length in seconds."""
    for name, size, up_to in TIME_UNITS:
        if up_to is None or seconds < up_to:
            return name, size
    raise AssertionError("unreachable: the last unit has no limit")


def axis_ticks(length: float) -> list[float]:
    """Round tick values from 0 to ``length``: 3 to 6 of them, steps of 1, 2 or 5 x 10^k."""
    raw = length / 5
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return [round(k * step, 12) for k in range(int(length / step + 1e-9) + 1)]


def row_label(step: Any, path: str, top: str) -> str:
    """``3 · Inner/Review``: the step and the node's path below the run's flow, shortened
    from the left (the leaf name matters most) so no label is cut by the chart."""
    below = path[len(top) + 1 :] if top and path.startswith(top + "/") else path
    if len(below) > LABEL_CHARS:
        below = "…" + below[-(LABEL_CHARS - 1) :]
    return f"{'' if step is None else step} · {below}"


def duration_chart(spans: Sequence[Mapping[str, Any]], top: str = "") -> dict[str, Any]:
    """A Vega-Lite Gantt chart of ``spans``: one row per node execution in step order,
    time since the run started on the x axis in a unit chosen for the run's length, each
    bar labelled with its duration."""
    origin = min(s["start"] for s in spans)
    length = max(max(s["end"] for s in spans) - origin, 1e-6)
    unit, size = time_unit(length)
    extent = length / size
    ticks = axis_ticks(extent)
    outcomes = list(dict.fromkeys(str(s["outcome"]) for s in spans))
    palette = iter(OUTCOME_COLOURS * (len(outcomes) // len(OUTCOME_COLOURS) + 1))
    special = {"error": "#c62828", NO_END: "#9e9e9e"}
    colours = [special.get(o) or next(palette) for o in outcomes]
    rows = []
    for span in spans:
        begin = (span["start"] - origin) / size
        rows.append(
            {
                "row": row_label(span.get("step"), str(span["node"]), top),
                "node": str(span["node"]),
                "from": begin,
                # Drawn at least MIN_BAR wide; the label and tooltip give the real duration.
                "to": max((span["end"] - origin) / size, begin + extent * MIN_BAR),
                "took": duration(span["ms"] / 1000)
                + (" so far" if span["outcome"] == NO_END else ""),
                "outcome": str(span["outcome"]),
            }
        )
    x_title = f"time since the run started ({unit})"
    return {
        "data": {"values": rows},
        # One fixed row height, so 1 and 100 rows both read; the page scrolls for many.
        "height": {"step": 22 if len(rows) <= 30 else 18},
        "encoding": {
            "y": {
                "field": "row",
                "type": "nominal",
                "sort": [r["row"] for r in rows],
                "title": None,
                # Every row keeps its label (Vega would drop some that it thinks overlap).
                "axis": {"labelLimit": 0, "labelFontSize": 11, "labelOverlap": False},
            },
            "x": {
                "field": "from",
                "type": "quantitative",
                "title": x_title,
                # Room right of the last bar for its duration label.
                "scale": {"domain": [0, max(extent * 1.18, ticks[-1])], "nice": False},
                # On top: by the legend, and in view above a long chart.
                "axis": {"values": ticks, "format": ",~f", "grid": True, "orient": "top"},
            },
        },
        "layer": [
            {
                "mark": {"type": "bar", "tooltip": True, "cornerRadius": 1},
                "encoding": {
                    "x2": {"field": "to"},
                    "color": {
                        "field": "outcome",
                        "type": "nominal",
                        "title": "action",
                        "scale": {"domain": outcomes, "range": colours},
                        "legend": {"orient": "top"},
                    },
                    "tooltip": [
                        {"field": "node", "type": "nominal", "title": "node"},
                        {"field": "took", "type": "nominal", "title": "took"},
                        {"field": "outcome", "type": "nominal", "title": "action"},
                        {
                            "field": "from",
                            "type": "quantitative",
                            "title": f"started at ({unit})",
                            "format": ",.4~g",
                        },
                    ],
                },
            },
            {
                "mark": {"type": "text", "align": "left", "dx": 4, "fontSize": 10},
                "encoding": {
                    "x": {"field": "to", "type": "quantitative"},
                    "text": {"field": "took"},
                },
            },
        ],
    }


def render_timeline(run: Mapping[str, Any], events: Sequence[Mapping[str, Any]], key: str) -> None:
    if not events:
        st.info("No events recorded for this run.")
        return
    st.dataframe(event_rows(events), hide_index=True, width="stretch")
    spans = node_spans(events, run.get("last_activity_at"))
    if spans:
        st.text("Node durations")
        st.vega_lite_chart(spec=duration_chart(spans, top_path(run, events)), width="stretch")
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
