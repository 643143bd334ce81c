"""The flow graph as JSON for ``pf_runs.graph``: nodes (names, classes) and edges (actions).

Names are the run's node names (``flows/naming.py``); a nested flow's node carries its
own graph under ``"graph"``, so the monitor can draw the whole run.
"""

from __future__ import annotations

import json
from typing import Any

from ..flows.naming import assign_names, graph_nodes

GRAPH_FORMAT = 1
_MAX_DEPTH = 20  # a flow nested in itself would otherwise recurse forever


def _class_name(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def describe(flow: Any, _depth: int = 0) -> dict[str, Any]:
    """``{"format", "start", "nodes": [{"name", "class", "kind", "graph"?}], "edges": [...]}``."""
    root = getattr(flow, "naming_root", None) or getattr(flow, "start_node", None)
    names = assign_names(root)
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    for node in graph_nodes(root):
        entry: dict[str, Any] = {
            "name": names[id(node)],
            "class": _class_name(node),
            "kind": "flow" if hasattr(node, "start_node") else "node",
        }
        if entry["kind"] == "flow" and _depth < _MAX_DEPTH:
            entry["graph"] = describe(node, _depth + 1)
        nodes.append(entry)
        for action, target in (getattr(node, "successors", None) or {}).items():
            edges.append({"from": names[id(node)], "to": names[id(target)], "action": str(action)})
    start = getattr(flow, "start_node", None)
    return {
        "format": GRAPH_FORMAT,
        "start": names.get(id(start)) if start is not None else None,
        "nodes": nodes,
        "edges": edges,
    }


def graph_json(flow: Any) -> str | None:
    try:
        return json.dumps(describe(flow), ensure_ascii=False)
    except Exception:  # an exotic graph must never stop a run from being recorded
        return None


def _signature(flow: Any, _depth: int = 0) -> tuple[Any, ...]:
    """Everything ``describe`` reads, as identities: equal signatures give equal graphs."""
    root = getattr(flow, "naming_root", None) or getattr(flow, "start_node", None)
    parts: list[Any] = [id(root), id(getattr(flow, "start_node", None))]
    for node in graph_nodes(root):
        successors = getattr(node, "successors", None) or {}
        parts.append(
            (id(node), type(node), getattr(node, "name", None), getattr(node, "flow_name", None))
        )
        parts.extend((action, id(target)) for action, target in successors.items())
        if hasattr(node, "start_node") and _depth < _MAX_DEPTH:
            parts.append(_signature(node, _depth + 1))
    return tuple(parts)


def cached_graph_json(flow: Any) -> str | None:
    """``graph_json``, recomputed only when the graph changed since the flow's last run."""
    try:
        signature = _signature(flow)
    except Exception:
        return None
    cached = getattr(flow, "_recorded_graph", None)
    if cached is not None and cached[0] == signature:
        return cached[1]
    text = graph_json(flow)
    # Kept on the flow: upstream's copies of a nested flow share it, and it dies with it.
    flow._recorded_graph = (signature, text)
    return text
