"""Graph pictures as text: Mermaid and DOT from the one graph description (``graph.describe``).

Works on a live flow (``flow.to_mermaid()``, ``pocketflow-ext graph``) and on the JSON a run
recorded (the monitor's Graph tab builds on :class:`Graph` and :func:`graph_from_json`).
Needs only the core install: no graphviz, no Streamlit.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .graph import base_name, describe

ENTERS = "enters"  # the edge from a nested flow (or parallel branch) to its start node


@dataclass
class Graph:
    """Nodes keyed by their path in a run (``Outer/Inner/Summarise``), ``(source, action,
    target)`` edges, the start node, and the nodes of each nested flow or parallel branch
    (``clusters``: drawn as a box around them, nested clusters inside their parent's)."""

    nodes: list[str] = field(default_factory=list)
    edges: list[tuple[str, str, str]] = field(default_factory=list)
    start: str | None = None
    clusters: dict[str, list[str]] = field(default_factory=dict)
    # Parallel groups: the group's key (where its branches fan out) -> its join node's key
    # (where they meet again and the group's own edges leave from).
    joins: dict[str, str] = field(default_factory=dict)


JOIN = "//join"
"""Ends the key of a group's join node: no event path has an empty segment."""


def join_key(group: str) -> str:
    """The key of the join node of the Parallel group at ``group``."""
    return group + JOIN


def graph_from_description(description: Mapping[str, Any], prefix: str) -> Graph:
    """``describe(flow)``'s dict as a :class:`Graph` with node keys ``prefix/name`` (the
    ``path`` of the run's events); raises ``ValueError`` if it is malformed."""
    graph = Graph()
    _add_level(graph, description, prefix)
    if graph.start is None and graph.nodes:
        graph.start = graph.nodes[0]
    return graph


def graph_from_json(text: str, prefix: str) -> Graph:
    """A recorded graph (``pf_runs.graph``, see ``graph.describe``) as a :class:`Graph`;
    raises ``ValueError`` if it is malformed."""
    return graph_from_description(json.loads(text), prefix)


def flow_graph(flow: Any) -> Graph:
    """The graph of a live flow, keyed by the paths its runs' events will carry."""
    return graph_from_description(describe(flow), base_name(flow))


def _add_level(graph: Graph, level: Mapping[str, Any], prefix: str) -> str | None:
    if not isinstance(level, Mapping) or not isinstance(level.get("nodes"), list):
        raise ValueError("graph description has no 'nodes' list")
    start = f"{prefix}/{level['start']}" if level.get("start") else None
    if graph.start is None:
        graph.start = start
    for node in level["nodes"]:
        _add_node(graph, node, prefix)
    for edge in level.get("edges") or []:
        source = f"{prefix}/{edge['from']}"
        graph.edges.append(
            # A group's own edges leave from its join: the flow goes on once all branches end.
            (graph.joins.get(source, source), str(edge["action"]), f"{prefix}/{edge['to']}")
        )
    return start


def _add_node(graph: Graph, node: Mapping[str, Any], prefix: str) -> None:
    key = f"{prefix}/{node['name']}"
    graph.nodes.append(key)
    inner = node.get("graph")
    if isinstance(inner, Mapping):
        _add_cluster(graph, key, key, inner)
    branches = node.get("branches")
    if node.get("kind") == "parallel" and isinstance(branches, list):
        # A parallel group fans out to its branches, which meet again at its join.
        join = graph.joins[key] = join_key(key)
        for branch in branches:
            branch_key = f"{key}/{branch['name']}"
            graph.edges.append((key, "branch", branch_key))
            _add_node(graph, branch, key)
            graph.edges.append((graph.joins.get(branch_key, branch_key), "joins", join))
        graph.nodes.append(join)


def _add_cluster(graph: Graph, key: str, owner: str, inner: Mapping[str, Any]) -> None:
    graph.clusters[key] = []
    before = len(graph.nodes)
    inner_start = _add_level(graph, inner, key)
    graph.clusters[key] = graph.nodes[before:]
    if inner_start:
        graph.edges.append((owner, ENTERS, inner_start))


def short(key: str) -> str:
    """A node's own name: the last part of its path."""
    return key.rsplit("/", 1)[-1]


# ── DOT ──────────────────────────────────────────────────────────────────────
def dot_quote(text: str) -> str:
    """A DOT quoted string: only backslash and double quote need escaping. Never HTML."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def graph_to_dot(graph: Graph) -> str:
    """DOT text of the graph: boxes, nested flows and branches as dashed clusters, the
    start node bold, actions as edge labels (``*`` is the wildcard edge, dashed)."""
    lines = [
        "digraph flow {",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded", fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    for key in graph.nodes:
        bold = ", penwidth=2" if key == graph.start else ""
        lines.append(f"  {dot_quote(key)} [label={dot_quote(short(key))}{bold}];")
    lines.extend(_dot_clusters(graph))
    for source, action, target in graph.edges:
        style = ', style="dashed"' if action in (ENTERS, "*") else ""
        lines.append(
            f"  {dot_quote(source)} -> {dot_quote(target)} [label={dot_quote(action)}{style}];"
        )
    lines.append("}")
    return "\n".join(lines)


def _dot_clusters(graph: Graph) -> list[str]:
    index = {key: i for i, key in enumerate(graph.clusters)}
    return _nested_clusters(
        graph,
        opening=lambda key: [
            f"subgraph cluster_{index[key]} {{",
            f'  label={dot_quote(short(key))}; style="dashed"; color="#888888";',
        ],
        member=lambda key: f"{dot_quote(key)};",
        closing="}",
    )


def _nested_clusters(
    graph: Graph,
    opening: Callable[[str], list[str]],
    member: Callable[[str], str | None],
    closing: str,
) -> list[str]:
    """The clusters' lines, nested as their keys are: each cluster's ``opening`` lines, a
    ``member`` line for each of its nodes no inner cluster holds (None: no line), its inner
    clusters, then ``closing``. Both picture formats draw their boxes with it."""
    keys = list(graph.clusters)

    def parent_of(key: str) -> str | None:
        owners = [k for k in keys if k != key and key.startswith(k + "/")]
        return max(owners, key=len) if owners else None

    children: dict[str | None, list[str]] = {}
    for key in keys:
        children.setdefault(parent_of(key), []).append(key)

    def emit(key: str, depth: int) -> list[str]:
        pad = "  " * depth
        inner = set().union(*(graph.clusters[c] for c in children.get(key, []))) or set()
        out = [pad + line for line in opening(key)]
        for node in graph.clusters[key]:
            line = member(node) if node not in inner else None
            if line is not None:
                out.append(f"{pad}  {line}")
        for child in children.get(key, []):
            out.extend(emit(child, depth + 1))
        out.append(pad + closing)
        return out

    return [line for key in children.get(None, []) for line in emit(key, 1)]


# ── Mermaid ──────────────────────────────────────────────────────────────────
def _mermaid_text(text: str) -> str:
    # Inside "..." Mermaid takes HTML entities; quotes and the few characters that end a
    # label are written as entities, so no name can break out of its label.
    for char, entity in (("&", "#amp;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(char, entity)
    return text


def graph_to_mermaid(graph: Graph) -> str:
    """Mermaid ``flowchart`` text: nested flows and parallel branches as subgraphs (the
    edges into a nested flow point at its subgraph), actions as edge labels, the start
    node marked, ``*`` wildcard edges dotted."""
    ids = {key: f"n{i}" for i, key in enumerate(graph.nodes)}
    sub_ids = {key: f"s{i}" for i, key in enumerate(graph.clusters)}

    def ref(key: str) -> str:
        # A nested flow is drawn as its subgraph; an edge to it points at the subgraph.
        return sub_ids.get(key) or ids[key]

    lines = ["flowchart LR"]
    drawn_as_subgraph = {k for k in graph.clusters if k in ids}
    in_cluster = {m for members in graph.clusters.values() for m in members}
    for key in graph.nodes:
        if key not in in_cluster and key not in drawn_as_subgraph:
            lines.append(f'  {ids[key]}["{_mermaid_text(short(key))}"]')
    lines.extend(_mermaid_clusters(graph, ids, sub_ids, drawn_as_subgraph))
    for source, action, target in graph.edges:
        if action == ENTERS and source in drawn_as_subgraph:
            continue  # the subgraph already holds its nodes
        arrow = "-.->" if action == "*" else "-->"
        label = "" if action == "default" else f'|"{_mermaid_text(action)}"|'
        lines.append(f"  {ref(source)} {arrow}{label} {ref(target)}")
    if graph.start in ids and graph.start not in drawn_as_subgraph:
        lines.append("  classDef start stroke-width:3px")
        lines.append(f"  class {ids[graph.start]} start")
    return "\n".join(lines)


def _mermaid_clusters(
    graph: Graph, ids: dict[str, str], sub_ids: dict[str, str], as_subgraph: set[str]
) -> list[str]:
    def member(key: str) -> str | None:
        if key in as_subgraph:  # a nested flow: drawn as its own subgraph, not a node
            return None
        return f'{ids[key]}["{_mermaid_text(short(key))}"]'

    return _nested_clusters(
        graph,
        opening=lambda key: [f'subgraph {sub_ids[key]}["{_mermaid_text(short(key))}"]'],
        member=member,
        closing="end",
    )


def to_mermaid(flow: Any) -> str:
    """Mermaid text of ``flow``'s graph (see :func:`graph_to_mermaid`)."""
    return graph_to_mermaid(flow_graph(flow))


def to_dot(flow: Any) -> str:
    """DOT text of ``flow``'s graph (see :func:`graph_to_dot`)."""
    return graph_to_dot(flow_graph(flow))


class GraphExportMixin:
    """Adds ``to_mermaid()`` and ``to_dot()`` to a flow: its graph as picture text."""

    def to_mermaid(self) -> str:
        """The flow's graph as a Mermaid ``flowchart`` (paste into Markdown on GitHub).

        >>> print(flow.to_mermaid())  # doctest: +SKIP
        """
        return to_mermaid(self)

    def to_dot(self) -> str:
        """The flow's graph as Graphviz DOT (``dot -Tsvg``)."""
        return to_dot(self)
