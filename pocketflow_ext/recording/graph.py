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
