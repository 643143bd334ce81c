"""The Timeline's duration chart reads at every scale: rows in step order, a time unit and
round ticks chosen for the run's length, every bar visible, no label cut."""

from __future__ import annotations

import math
from typing import Any

import pytest

from pocketflow_ext.runstore.runs import iso
from pocketflow_ext.ui.timeline_tab import (
    LABEL_CHARS,
    MIN_BAR,
    NO_END,
    axis_ticks,
    duration_chart,
    node_spans,
    time_unit,
)

T0 = 1_790_000_000.0


def chain(*seconds: float, top: str = "flow") -> list[dict[str, Any]]:
    """Events of nodes run one after the other for ``seconds`` each."""
    events, t = [], T0
    for step, took in enumerate(seconds, start=1):
        path = f"{top}/N{step}"
        events.append({"event": "node_start", "step": step, "path": path, "ts": iso(t)})
        t += took
        events.append(
            {
                "event": "node_end",
                "step": step,
                "path": path,
                "ts": iso(t),
                "elapsed_ms": took * 1000,
                "action": "default",
            }
        )
    return events


def chart(*seconds: float) -> dict[str, Any]:
    return duration_chart(node_spans(chain(*seconds)), "flow")


def rows(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return list(spec["data"]["values"])


def x_axis(spec: dict[str, Any]) -> dict[str, Any]:
    return dict(spec["encoding"]["x"])


def test_rows_are_in_step_order_even_when_nodes_ended_out_of_order() -> None:
    # Parallel branches: step 2 ends before step 1.
    events = [
        {"event": "node_start", "step": 1, "path": "f/A", "ts": iso(T0)},
        {"event": "node_start", "step": 2, "path": "f/B", "ts": iso(T0 + 0.001)},
        {"event": "node_end", "step": 2, "path": "f/B", "ts": iso(T0 + 0.002)},
        {"event": "node_end", "step": 1, "path": "f/A", "ts": iso(T0 + 0.003)},
    ]
    spec = duration_chart(node_spans(events), "f")
    assert [r["row"] for r in rows(spec)] == ["1 · A", "2 · B"]
    assert spec["encoding"]["y"]["sort"] == ["1 · A", "2 · B"]  # drawn in this order


@pytest.mark.parametrize(
    ("seconds", "unit"),
    [
        (0.001, "ms"),
        (0.5, "ms"),
        (1.9, "ms"),
        (2.5, "s"),
        (90, "s"),
        (3600, "min"),
        (3 * 3600, "h"),
    ],
)
def test_the_time_unit_suits_the_runs_length(seconds: float, unit: str) -> None:
    assert time_unit(seconds)[0] == unit
    spec = chart(seconds)
    assert x_axis(spec)["title"] == f"time since the run started ({unit})"
    assert rows(spec)[0]["to"] == pytest.approx(seconds / time_unit(seconds)[1], rel=1e-3)


@pytest.mark.parametrize("length", [0.0011, 0.0022, 0.197, 1, 1.9, 7.5, 60, 61, 99, 1999, 12345])
def test_ticks_are_round_numbers_from_zero_three_to_six_of_them(length: float) -> None:
    ticks = axis_ticks(length)
    assert 3 <= len(ticks) <= 6, ticks
    assert ticks[0] == 0 and ticks[-1] <= length
    step = ticks[1]
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert round(mantissa, 9) in (1, 2, 5)


def test_the_chart_uses_the_computed_ticks_and_leaves_room_for_the_last_label() -> None:
    spec = chart(0.0004, 0.0011, 0.0007)
    axis = x_axis(spec)
    assert axis["axis"]["values"] == axis_ticks(2.2)
    assert axis["scale"]["domain"][1] > 2.2  # the last bar's duration label fits


def test_a_one_millisecond_node_in_a_one_hour_run_still_shows_a_bar() -> None:
    spec = chart(0.001, 3600)
    fast = rows(spec)[0]
    assert fast["to"] - fast["from"] >= 60 * MIN_BAR - 1e-9  # 60 min axis
    assert fast["took"] == "1.0 ms"  # the label tells the real duration
    assert rows(spec)[1]["took"] == "1 h 00 m"


def test_every_one_of_a_hundred_rows_is_kept_and_labelled() -> None:
    spec = chart(*[0.001] * 100)
    assert len(rows(spec)) == 100
    assert spec["encoding"]["y"]["axis"]["labelOverlap"] is False
    assert spec["height"] == {"step": 18}  # a fixed row height: the chart grows, rows stay readable


def test_labels_are_shortened_from_the_left_never_cut_by_the_chart() -> None:
    deep = "Outer/" + "/".join(f"Level{i}" for i in range(12)) + "/Review"
    events = [
        {"event": "node_start", "step": 7, "path": f"flow/{deep}", "ts": iso(T0)},
        {"event": "node_end", "step": 7, "path": f"flow/{deep}", "ts": iso(T0 + 0.01)},
    ]
    spec = duration_chart(node_spans(events), "flow")
    label = rows(spec)[0]["row"]
    assert label.startswith("7 · …") and label.endswith("/Level11/Review")
    assert len(label) == len("7 · ") + LABEL_CHARS
    assert spec["encoding"]["y"]["axis"]["labelLimit"] == 0  # Vega never truncates it


def test_failed_nodes_are_red_and_other_actions_get_distinct_colours() -> None:
    events = chain(0.01, 0.02)
    events[3]["action"] = "retry"
    events.append({"event": "node_start", "step": 3, "path": "flow/N3", "ts": iso(T0 + 0.03)})
    events.append({"event": "node_error", "step": 3, "path": "flow/N3", "ts": iso(T0 + 0.04)})
    colour = duration_chart(node_spans(events), "flow")["layer"][0]["encoding"]["color"]["scale"]
    assert colour["domain"] == ["default", "retry", "error"]
    assert colour["range"][2] == "#c62828" and len(set(colour["range"])) == 3


def test_a_node_without_an_end_is_drawn_grey_up_to_the_last_event() -> None:
    events = chain(0.01, 0.02)
    events.append({"event": "node_start", "step": 3, "path": "flow/N3", "ts": iso(T0 + 0.03)})
    events.append({"event": "node_retry", "step": 3, "path": "flow/N3", "ts": iso(T0 + 0.05)})
    spec = duration_chart(node_spans(events), "flow")
    last = rows(spec)[-1]
    assert last["row"] == "3 · N3" and last["outcome"] == NO_END
    assert last["took"] == "20 ms so far"
    colour = spec["layer"][0]["encoding"]["color"]["scale"]
    assert colour["range"][colour["domain"].index(NO_END)] == "#9e9e9e"


def test_an_unfinished_node_runs_to_the_runs_last_activity_when_later_than_its_events() -> None:
    events = [{"event": "node_start", "step": 1, "path": "flow/Hang", "ts": iso(T0)}]
    (span,) = node_spans(events, last_activity=iso(T0 + 5))
    assert span["ms"] == pytest.approx(5000)


def test_a_node_that_returned_no_action_shows_default_as_upstream_follows_it() -> None:
    events = chain(0.01)
    events[1]["action"] = None
    assert rows(duration_chart(node_spans(events), "flow"))[0]["outcome"] == "default"
