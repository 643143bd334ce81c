"""Mermaid and DOT pictures of a flow, checked against its graph description: nested flows
as subgraphs, named and wildcard edges, parallel branches, names that cannot break out."""

from __future__ import annotations

import json
import re

from pocketflow_ext import Flow, Node
from pocketflow_ext.graph import describe
from pocketflow_ext.graph_export import (
    flow_graph,
    graph_from_description,
    graph_from_json,
    graph_to_dot,
    graph_to_mermaid,
)


class Draft(Node):
    pass


class Review(Node):
    pass


class Publish(Node):
    pass


class Fallback(Node):
    pass


def editorial() -> Flow:
    draft, review, publish = Draft(), Review(), Publish()
    draft - "review" >> review
    review.then("approve", publish).then("revise", draft).then("*", Fallback())
    inner = Flow(start=draft, flow_name="Editing")
    intake = Node(name="Intake")
    intake >> inner
    return Flow(start=intake, flow_name="Newsroom")


def mermaid_edges(text: str) -> set[tuple[str, str, str, str]]:
    """(source label, arrow, action, target label) for every edge line."""
    labels = dict(re.findall(r'^\s*(\w+)\["([^"]*)"\]', text, flags=re.M))
    edges = set()
    for source, arrow, action, target in re.findall(
        r'^\s*(\w+) (-->|-\.->)(?:\|"([^"]*)"\|)? (\w+)$', text, flags=re.M
    ):
        edges.add(
            (labels.get(source, source), arrow, action or "default", labels.get(target, target))
        )
    return edges


def test_the_mermaid_picture_has_every_node_and_edge_of_the_description() -> None:
    flow = editorial()
    text = flow.to_mermaid()
    assert text.startswith("flowchart LR\n")
    inner = describe(flow)["nodes"][1]["graph"]
    drawn = mermaid_edges(text)
    for edge in inner["edges"]:
        arrow = "-.->" if edge["action"] == "*" else "-->"
        assert (edge["from"], arrow, edge["action"], edge["to"]) in drawn
    # the nested flow is a subgraph, and the edge into it points at the subgraph
    subgraph = re.search(r'^\s*(s\d+)\["Editing"\]', text.replace("subgraph ", ""), flags=re.M)
    assert subgraph is not None
    assert ("Intake", "-->", "default", subgraph.group(1)) in drawn
    assert "class n0 start" in text  # Intake, the start node


def test_the_dot_picture_draws_nested_flows_as_clusters_with_every_edge() -> None:
    text = editorial().to_dot()
    assert text.startswith("digraph flow {") and text.endswith("}")
    assert '"Newsroom/Intake" -> "Newsroom/Editing" [label="default"];' in text
    assert (
        '"Newsroom/Editing" -> "Newsroom/Editing/Draft" [label="enters", style="dashed"];' in text
    )
    assert '"Newsroom/Editing/Review" -> "Newsroom/Editing/Draft" [label="revise"];' in text
    assert (
        '"Newsroom/Editing/Review" -> "Newsroom/Editing/Fallback" [label="*", style="dashed"];'
        in text
    )
    cluster = text[text.index("subgraph cluster_0") :]
    assert 'label="Editing"' in cluster and '"Newsroom/Editing/Publish";' in cluster
    assert '"Newsroom/Intake" [label="Intake", penwidth=2];' in text  # the start node


def test_a_flow_nested_two_deep_is_a_cluster_inside_a_cluster() -> None:
    innermost = Flow(start=Draft(), flow_name="Deep")
    middle = Flow(start=innermost, flow_name="Middle")
    text = Flow(start=middle, flow_name="Top").to_dot()
    outer_at = text.index('label="Middle"')
    inner_at = text.index('label="Deep"')
    assert outer_at < inner_at < text.index("  }\n", inner_at)
    mermaid = Flow(start=middle, flow_name="Top").to_mermaid()
    assert mermaid.index('["Middle"]') < mermaid.index('["Deep"]') < mermaid.index('["Draft"]')
    assert mermaid.count("\n  end") + mermaid.count("\n    end") == 2


def test_parallel_branches_in_a_description_are_drawn_as_their_own_clusters() -> None:
    description = {
        "start": "Fan",
        "nodes": [
            {
                "name": "Fan",
                "kind": "parallel",
                "branches": [
                    {"name": "a", "graph": {"start": "Fetch", "nodes": [{"name": "Fetch"}], "edges": []}},
                    {"name": "b", "graph": {"start": "Fetch", "nodes": [{"name": "Fetch"}], "edges": []}},
                ],
            },
            {"name": "Join"},
        ],
        "edges": [{"from": "Fan", "to": "Join", "action": "default"}],
    }  # fmt: skip
    graph = graph_from_description(description, "Flow")
    assert graph.clusters == {
        "Flow/Fan/a": ["Flow/Fan/a/Fetch"],
        "Flow/Fan/b": ["Flow/Fan/b/Fetch"],
    }
    dot = graph_to_dot(graph)
    # the group fans out to branch a, whose flow it enters; the branches meet at the join
    assert '"Flow/Fan/a" -> "Flow/Fan/a/Fetch" [label="enters", style="dashed"];' in dot
    assert '"Flow/Fan//join" -> "Flow/Join" [label="default"];' in dot
    mermaid = graph_to_mermaid(graph)
    assert mermaid.count("subgraph") == 2 and '["a"]' in mermaid and '["b"]' in mermaid


def test_the_recorded_json_gives_the_same_graph_as_the_live_flow() -> None:
    flow = editorial()
    assert graph_from_json(json.dumps(describe(flow)), "Newsroom") == flow_graph(flow)


def test_node_names_cannot_break_out_of_their_labels() -> None:
    evil = 'x"] --> hacked["'
    flow = Flow(start=Node(name=evil.replace("/", "")), flow_name="f")
    mermaid = flow.to_mermaid()
    # One node, its whole name inside its quoted label; no second node, no edge.
    assert '  n0["x#quot;] --#gt; hacked[#quot;"]' in mermaid.splitlines()
    assert mermaid.count('"]') == 1
    dot = Flow(start=Node(name='a" ]; b [label=<x>'), flow_name="f").to_dot()
    assert '"f/a\\" ]; b [label=<x>"' in dot and dot.count("->") == 0
