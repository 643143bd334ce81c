"""DOT text for the Graph tab: recorded graph, path taken, visit counts, safe quoting."""

from __future__ import annotations

import json

import pytest

from pocketflow_ext.ui.graph_dot import graph_from_json, path_from_events, to_dot


def events(*names: tuple[str, str]) -> list[dict[str, str]]:
    out = []
    for path, action in names:
        out += [
            {"event": "node_start", "path": path},
            {"event": "node_end", "path": path, "action": action},
        ]
    return out


def test_visits_and_taken_edges_follow_the_events() -> None:
    run = path_from_events(events(("f/A", "go"), ("f/B", "back"), ("f/A", "go"), ("f/B", "end")))
    assert run.visits == {"f/A": 2, "f/B": 2}
    assert run.taken == {("f/A", "go", "f/B"): 2, ("f/B", "back", "f/A"): 1}


def test_untaken_edges_of_the_recorded_graph_are_drawn_plain() -> None:
    graph = graph_from_json(
        json.dumps(
            {
                "start": "A",
                "nodes": [{"name": "A"}, {"name": "B"}, {"name": "C"}],
                "edges": [
                    {"from": "A", "to": "B", "action": "go"},
                    {"from": "A", "to": "C", "action": "skip"},
                ],
            }
        ),
        "f",
    )
    dot = to_dot(graph, path_from_events(events(("f/A", "go"), ("f/B", "x"))))
    assert '"f/A" -> "f/B" [label="go ×1", color="#2e7d32", penwidth=2];' in dot
    assert '"f/A" -> "f/C" [label="skip"];' in dot
    assert '"f/C" [label="C", fillcolor="#f2f2f2"];' in dot


def test_node_names_cannot_break_out_of_their_dot_string() -> None:
    dot = to_dot(*_single('evil" ]; x [label=<<b>hi</b>>'))
    assert '"f/evil\\" ]; x [label=<<b>hi</b>>"' in dot
    assert dot.count("->") == 0


def _single(name: str):  # noqa: ANN202 - a (Graph, RunPath) pair
    graph = graph_from_json(
        json.dumps({"start": name, "nodes": [{"name": name}], "edges": []}), "f"
    )
    return graph, path_from_events([])


def chain_graph(count: int) -> str:
    names = [f"N{i}" for i in range(count)]
    return json.dumps(
        {
            "start": names[0],
            "nodes": [{"name": n} for n in names],
            "edges": [
                {"from": a, "to": b, "action": "default"}
                for a, b in zip(names, names[1:], strict=False)
            ],
        }
    )


@pytest.mark.parametrize("count", [1, 4])
def test_a_short_graph_reads_left_to_right_with_counts_under_names(count: int) -> None:
    dot = to_dot(graph_from_json(chain_graph(count), "f"), path_from_events(events(("f/N0", "x"))))
    assert "rankdir=LR;" in dot
    assert '"f/N0" [label="N0\\n×1"' in dot


def test_a_chain_longer_than_fits_across_the_page_grows_down_it() -> None:
    dot = to_dot(graph_from_json(chain_graph(5), "f"), path_from_events([]))
    assert "rankdir=TB;" in dot and "ranksep" not in dot  # five nodes: full-size labels


def test_a_wide_but_short_graph_stays_left_to_right() -> None:
    graph = graph_from_json(
        json.dumps(
            {
                "start": "A",
                "nodes": [{"name": n} for n in ["A", *"BCDEFGHIJ"]],
                "edges": [{"from": "A", "to": b, "action": b} for b in "BCDEFGHIJ"],
            }
        ),
        "f",
    )
    assert "rankdir=LR;" in to_dot(graph, path_from_events([]))


def test_a_hundred_node_graph_grows_down_the_page_compactly() -> None:
    run = path_from_events(events(*[(f"f/N{i}", "default") for i in range(100)]))
    dot = to_dot(graph_from_json(chain_graph(100), "f"), run)
    assert "rankdir=TB;" in dot and "ranksep=0.25" in dot
    assert '"f/N99" [label="N99 ×1"' in dot
