"""The Graph tab's picture as DOT text: the flow's nodes and edges, the path a run took, and
how many times each node ran. DOT is rendered by the browser (``st.graphviz_chart``), so no
graphviz package is needed.
"""

from __future__ import annotations

import json
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Graph:
    """Nodes keyed by their path in the run, ``(source, action, target)`` edges, and the
    nodes of each nested flow (drawn as a box around them)."""

    nodes: list[str] = field(default_factory=list)
    edges: list[tuple[str, str, str]] = field(default_factory=list)
    start: str | None = None
    clusters: dict[str, list[str]] = field(default_factory=dict)


def graph_from_json(text: str, prefix: str) -> Graph:
    """The recorder's graph JSON (``pocketflow_ext/graph.py``) with node keys ``prefix/name``,
    matching the ``path`` of the run's events; raises ``ValueError`` if it is malformed."""
    graph = Graph()
    _add_level(graph, json.loads(text), prefix)
    graph.start = graph.nodes[0] if graph.nodes and graph.start is None else graph.start
    return graph


def _add_level(graph: Graph, level: Mapping[str, Any], prefix: str) -> str | None:
    if not isinstance(level, Mapping) or not isinstance(level.get("nodes"), list):
        raise ValueError("graph JSON has no 'nodes' list")
    start = f"{prefix}/{level['start']}" if level.get("start") else None
    if graph.start is None:
        graph.start = start
    for node in level["nodes"]:
        key = f"{prefix}/{node['name']}"
        graph.nodes.append(key)
        inner = node.get("graph")
        if isinstance(inner, Mapping):
            graph.clusters[key] = []
            before = len(graph.nodes)
            inner_start = _add_level(graph, inner, key)
            graph.clusters[key] = graph.nodes[before:]
            if inner_start:
                graph.edges.append((key, "enters", inner_start))
    for edge in level.get("edges") or []:
        graph.edges.append(
            (f"{prefix}/{edge['from']}", str(edge["action"]), f"{prefix}/{edge['to']}")
        )
    return start


@dataclass
class RunPath:
    """What a run did on the graph: visits per node and traversals per edge."""

    visits: Counter[str] = field(default_factory=Counter)
    taken: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    failed: set[str] = field(default_factory=set)


def node_key(event: Mapping[str, Any]) -> str:
    """A node's place in the run: its path when recorded (nested flows), else its name."""
    return str(event.get("path") or event.get("node_name") or "?")


def path_from_events(events: Iterable[Mapping[str, Any]]) -> RunPath:
    """Visits and edges in the order nodes finished; an edge joins a node that ended with
    an action to the next node that started after it."""
    run = RunPath()
    last: tuple[str, str] | None = None
    for event in events:
        kind = event.get("event")
        if kind == "node_start":
            node = node_key(event)
            run.visits[node] += 1
            if last is not None:
                run.taken[(last[0], last[1], node)] += 1
            last = None
        elif kind == "node_end":
            last = (node_key(event), str(event.get("action") or "default"))
        elif kind == "node_error":
            run.failed.add(node_key(event))
    return run


def graph_of_path(run: RunPath) -> Graph:
    """The part of the graph a run visited, for databases that recorded no graph."""
    nodes = list(run.visits)
    edges = list(run.taken)
    return Graph(nodes=nodes, edges=edges, start=nodes[0] if nodes else None)


def top_path(run: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> str:
    """The run's own level path (event paths of its nodes start with it)."""
    for e in events:
        if e.get("event") == "flow_start" and e.get("path"):
            return str(e["path"]).split("/", 1)[0]
    return str(run.get("flow_name") or "")


def _quote(text: str) -> str:
    # A DOT quoted string: only backslash and double quote need escaping. Never an HTML label.
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(graph: Graph, run: RunPath) -> str:
    """DOT text: visited nodes filled (red when they failed) and labelled with their visit
    count; edges the run took drawn bold with their traversal count."""
    names = list(dict.fromkeys([*graph.nodes, *run.visits]))
    compact = len(names) > COMPACT_FROM
    lines = [
        "digraph flow {",
        f"  rankdir={direction(graph, run)}; pad=0.1;",
        # A big graph grows down the page: half the usual gaps keep it scrollable.
        *(["  ranksep=0.25; nodesep=0.2;"] if compact else []),
        '  node [shape=box, style="rounded,filled", fillcolor="#f2f2f2", fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10, color="#999999"];',
    ]
    for name in names:
        lines.append("  " + _node_line(graph, run, name, " " if compact else "\n"))
    for index, (flow, members) in enumerate(graph.clusters.items()):
        lines.append(f"  subgraph cluster_{index} {{")
        lines.append(f'    label={_quote(_short(flow))}; style="dashed"; color="#888888";')
        lines.extend(f"    {_quote(m)};" for m in members)
        lines.append("  }")
    edges = list(dict.fromkeys([*graph.edges, *run.taken]))
    for source, action, target in edges:
        count = run.taken.get((source, action, target), 0)
        label = f"{action} ×{count}" if count else action
        style = ', color="#2e7d32", penwidth=2' if count else ""
        lines.append(f"  {_quote(source)} -> {_quote(target)} [label={_quote(label)}{style}];")
    lines.append("}")
    return "\n".join(lines)


LEFT_TO_RIGHT_UP_TO = 4
"""Ranks (nodes one after the other) that fit across the page at their own size; a longer
graph is drawn top to bottom, so it grows down the page, where it scrolls, instead of being
shrunk to the page's width."""
COMPACT_FROM = 12
"""Nodes from which labels take one line and the gaps are halved."""


def direction(graph: Graph, run: RunPath) -> str:
    return "LR" if ranks(graph, run) <= LEFT_TO_RIGHT_UP_TO else "TB"


def ranks(graph: Graph, run: RunPath) -> int:
    """How many nodes the longest shortest path from the start passes (a chain of n: n)."""
    following: dict[str, list[str]] = {}
    for source, _action, target in [*graph.edges, *run.taken]:
        following.setdefault(source, []).append(target)
    start = graph.start or (graph.nodes[0] if graph.nodes else next(iter(run.visits), None))
    if start is None:
        return 0
    depth = {start: 1}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for target in following.get(node, ()):
            if target not in depth:
                depth[target] = depth[node] + 1
                queue.append(target)
    return max(depth.values())


def _short(key: str) -> str:
    return key.rsplit("/", 1)[-1]


def _node_line(graph: Graph, run: RunPath, name: str, gap: str = "\n") -> str:
    count = run.visits.get(name, 0)
    label = f"{_short(name)}{gap}×{count}" if count else _short(name)
    fill = "#f8d0d0" if name in run.failed else ("#cfe8cf" if count else "#f2f2f2")
    extra = ", penwidth=2" if name == graph.start else ""
    return f'{_quote(name)} [label={_quote(label)}, fillcolor="{fill}"{extra}];'


def visit_rows(graph: Graph, run: RunPath) -> list[dict[str, str]]:
    names = list(dict.fromkeys([*graph.nodes, *run.visits]))
    return [
        {
            "Node": name,
            "Visits": str(run.visits.get(name, 0)),
            "Failed": "yes" if name in run.failed else "",
        }
        for name in names
    ]
