"""Node names: class name by default, settable, unique and deterministic within a graph.

Names come from a breadth-first walk from the start node following successors in edge
order, so the same graph built twice gets the same names (``Summarise``, ``Summarise#2``)
in every process, which is what lets checkpoints and resume refer to nodes by name.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from ..errors import ConfigurationError


def check_label(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{what} must be a non-empty string, got {value!r}")
    if "/" in value:
        raise ConfigurationError(
            f"{what} {value!r} contains '/', which separates nested flows in paths; "
            "use another character such as '-' or '.'"
        )
    return value


def base_name(node: Any) -> str:
    """The name a node asks for: an explicit ``name`` (or a flow's ``flow_name``), else its class."""
    for attr in ("name", "flow_name"):
        value = getattr(node, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(node).__name__


def graph_nodes(start: Any) -> list[Any]:
    """Every node reachable from ``start``, in the fixed breadth-first order."""
    seen: set[int] = set()
    order: list[Any] = []
    queue = deque([start] if start is not None else [])
    while queue:
        node = queue.popleft()
        if id(node) in seen:
            continue
        seen.add(id(node))
        order.append(node)
        successors = getattr(node, "successors", None) or {}
        queue.extend(successors.values())
    return order


def assign_names(start: Any) -> dict[int, str]:
    """Map ``id(node)`` to its unique name for the graph rooted at ``start``."""
    names: dict[int, str] = {}
    used: set[str] = set()
    for node in graph_nodes(start):
        base = base_name(node)
        name, n = base, 1
        while name in used:
            n += 1
            name = f"{base}#{n}"
        used.add(name)
        names[id(node)] = name
    return names


class GraphNames:
    """Cached names for a flow's graph; rebuilt when the graph gains a node it has not seen.

    Holds the nodes strongly so an ``id`` can never be reused by a new object while cached.
    """

    __slots__ = ("start", "nodes", "names")

    def __init__(self) -> None:
        self.start: Any = None
        self.nodes: list[Any] = []
        self.names: dict[int, str] = {}

    def for_start(self, start: Any) -> dict[int, str]:
        if start is not self.start:
            self.rebuild(start)
        return self.names

    def rebuild(self, start: Any) -> dict[int, str]:
        self.start = start
        self.nodes = graph_nodes(start)
        self.names = assign_names(start)
        return self.names


def name_of(names: dict[int, str], node: Any, flow: Any) -> str:
    name = names.get(id(node))
    if name is None:  # edge added after the names were computed
        cache = getattr(flow, "_graph_names", None)
        root = getattr(flow, "naming_root", None) or flow.start_node
        names.update(cache.rebuild(root) if cache else assign_names(root))
        name = names.get(id(node)) or base_name(node)
    return name
