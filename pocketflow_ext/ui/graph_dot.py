"""The Graph tab's picture as DOT text: the flow's nodes and edges, the path a run took, and
how many times each node ran. DOT is rendered by the browser (``st.graphviz_chart``), so no
graphviz package is needed.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# The graph model, its reading from the recorded JSON and DOT quoting are the graph export's
# (``flow.to_dot()``, ``pocketflow-ext graph``); this module adds what the run did.
from ..graph_export import JOIN as JOIN
from ..graph_export import Graph as Graph
from ..graph_export import dot_quote as _quote
from ..graph_export import graph_from_json as graph_from_json
from ..graph_export import join_key as join_key


@dataclass
class RunPath:
    """What a run did on the graph: visits per node and traversals per edge."""

    visits: Counter[str] = field(default_factory=Counter)
    taken: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    failed: set[str] = field(default_factory=set)


def node_key(event: Mapping[str, Any]) -> str:
    """A node's place in the run: its path when recorded (nested flows), else its name."""
    return str(event.get("path") or event.get("node_name") or "?")


def path_from_events(
    events: Iterable[Mapping[str, Any]], joins: Mapping[str, str] | None = None
) -> RunPath:
    """Visits and edges in the order nodes finished; an edge joins a node that ended with
    an action to the next node that started after it in the same flow level.

    ``joins`` (``Graph.joins``) names the Parallel groups: their branches, which run at the
    same time, are linked to the group (``branch``) and to its join (``joins``), never to
    each other; the group's next node follows its join."""
    joins = joins or {}
    run = RunPath()
    last: dict[str, tuple[str, str]] = {}  # flow level -> (node that ended there last, action)
    for event in events:
        kind = event.get("event")
        if kind not in ("node_start", "node_end", "node_error"):
            continue
        node = node_key(event)
        level = node.rpartition("/")[0]
        if kind == "node_start":
            run.visits[node] += 1
            if level in joins:
                run.taken[(level, "branch", node)] += 1
            else:
                before = last.pop(level, None)
                if before is not None:
                    run.taken[(before[0], before[1], node)] += 1
        elif kind == "node_end":
            source = joins.get(node, node)
            if level in joins:
                run.taken[(source, "joins", joins[level])] += 1
            else:
                if node in joins:
                    run.visits[source] += 1
                last[level] = (source, str(event.get("action") or "default"))
        else:
            run.failed.add(node)
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
    if name.endswith(JOIN):  # where a Parallel group's branches meet again
        fill = "#cfe8cf" if count else "#f2f2f2"
        return f'{_quote(name)} [label="join", shape=diamond, fontsize=9, fillcolor="{fill}"];'
    label = f"{_short(name)}{gap}×{count}" if count else _short(name)
    fill = "#f8d0d0" if name in run.failed else ("#cfe8cf" if count else "#f2f2f2")
    extra = ", penwidth=2" if name == graph.start else ""
    return f'{_quote(name)} [label={_quote(label)}, fillcolor="{fill}"{extra}];'


def visit_rows(graph: Graph, run: RunPath) -> list[dict[str, str]]:
    joins = set(graph.joins.values())
    names = [n for n in dict.fromkeys([*graph.nodes, *run.visits]) if n not in joins]
    return [
        {
            "Node": name,
            "Visits": str(run.visits.get(name, 0)),
            "Failed": "yes" if name in run.failed else "",
        }
        for name in names
    ]
