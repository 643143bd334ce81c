"""A flow's graph: the names of its nodes and its description as JSON.

A node's name is its explicit ``name`` (a flow's ``flow_name``), else its class name.
Names are unique within a graph: a breadth-first walk from the start node, following
successors in edge order, gives duplicates ``#2``, ``#3``... so the same graph built twice
gets the same names in every process (``Summarise``, ``Summarise#2``). Events,
checkpoints, resume and the recorded graph all use these names.

Both sides use this module: nodes (``name=``), flows (naming each execution) and
recording (the graph stored with a run). It imports nothing else from the package
except errors.
"""

from __future__ import annotations

import json
import weakref
from collections import deque
from collections.abc import Iterable
from operator import attrgetter
from typing import Any

from .errors import ConfigurationError

GRAPH_FORMAT = 1
_MAX_DEPTH = 20  # a flow nested in itself would otherwise recurse forever


def check_label(value: Any, what: str) -> str:
    """``value`` as a node name or flow name, or a ConfigurationError saying what is wrong."""
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


def naming_root(flow: Any) -> Any:
    """Where naming starts: the flow's start node, or for a run resumed mid-graph the
    original start (``naming_root``), so nodes keep the names of the run it continues."""
    return getattr(flow, "naming_root", None) or getattr(flow, "start_node", None)


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
        queue.extend((getattr(node, "successors", None) or {}).values())
    return order


def unique_names(nodes: Iterable[Any]) -> dict[int, str]:
    """Map ``id(node)`` to a name unique among ``nodes``, suffixing repeats in order.

    Linear: each base name remembers the next suffix to try, so a thousand nodes of one
    class cost a thousand steps, not half a million.
    """
    names: dict[int, str] = {}
    used: set[str] = set()
    next_suffix: dict[str, int] = {}
    for node in nodes:
        name = base = base_name(node)
        if name in used:
            # Every smaller suffix was taken when it was last tried, and taken names
            # stay taken, so resuming from next_suffix finds the same name as counting
            # from 2 would.
            n = next_suffix.get(base, 2)
            name = f"{base}#{n}"
            while name in used:  # an explicit name like "Summarise#3" may sit in the way
                n += 1
                name = f"{base}#{n}"
            next_suffix[base] = n + 1
        used.add(name)
        names[id(node)] = name
    return names


def assign_names(start: Any) -> dict[int, str]:
    """Map ``id(node)`` to its unique name for the graph rooted at ``start``."""
    return unique_names(graph_nodes(start))


_successors = attrgetter("successors")


class GraphNames:
    """The names of one flow's graph, kept between runs.

    ``names(root)`` walks the graph again only when the root changed or an edge changed
    since last time (successor dicts compared with copies taken then: one C-level dict
    comparison per node instead of a walk). Holds the nodes strongly, so an ``id`` cannot
    be reused by a new object while it is cached. Renaming a node after a run (setting
    ``name``) is not noticed; set names before the first run.
    """

    __slots__ = ("_state", "_paths", "conditional")

    def __init__(self) -> None:
        # (root, nodes, copies of their successor dicts, names), replaced as a whole so
        # threads running the same flow never see half of an update.
        self._state: tuple[Any, list[Any], list[dict[Any, Any]], dict[int, str]] | None = None
        self._paths: dict[str, dict[str, str]] = {}
        # Whether a node of the graph has a ``when=`` predicate (as of the last walk):
        # only then do its flows hand each node's start over to the node (nodes/when.py).
        self.conditional = False

    def names(self, root: Any) -> dict[int, str]:
        """``{id(node): name}`` for the graph rooted at ``root``; do not modify it."""
        state = self._state
        if state is not None and state[0] is root:
            try:
                if list(map(_successors, state[1])) == state[2]:
                    return state[3]
            except AttributeError:  # a node without successors: not cacheable
                pass
        return self.rebuild(root)

    def paths(self, prefix: str) -> dict[str, str]:
        """``{name: f"{prefix}/{name}"}`` for the graph run at ``prefix``, filled in by the
        caller as nodes first run there and kept for the next run (one string per node and
        place, not one per node and run)."""
        try:
            return self._paths[prefix]
        except KeyError:
            return self._paths.setdefault(prefix, {})

    def rebuild(self, root: Any) -> dict[int, str]:
        nodes = graph_nodes(root)
        edges = [dict(getattr(node, "successors", None) or {}) for node in nodes]
        names = unique_names(nodes)
        self.conditional = any(getattr(node, "when", None) is not None for node in nodes)
        self._state = (root, nodes, edges, names)
        return names

    def __reduce__(self) -> tuple[type[GraphNames], tuple[()]]:
        # Names are keyed by id(), which means nothing in another process or a deep copy:
        # those get an empty cache and name the graph on their first run.
        return (GraphNames, ())


# Flows without a cache of their own (upstream flows under instrument()) get one here,
# held only as long as the flow lives.
_caches: weakref.WeakKeyDictionary[Any, GraphNames] = weakref.WeakKeyDictionary()


def names_cache(flow: Any) -> GraphNames:
    """The flow's own cache (drop-in flows carry one, shared by upstream's per-step copies
    of a nested flow), else one kept beside the flow for as long as it lives."""
    cache = getattr(flow, "_graph_names", None)
    if isinstance(cache, GraphNames):
        return cache
    try:
        cache = _caches.get(flow)
        if cache is None:
            cache = _caches.setdefault(flow, GraphNames())
    except TypeError:  # unhashable or not weak-referenceable: name it afresh each run
        return GraphNames()
    return cache


def node_names(flow: Any) -> dict[int, str]:
    """``{id(node): name}`` for every node of ``flow``'s graph (cached, see GraphNames)."""
    return names_cache(flow).names(naming_root(flow))


def renamed(flow: Any) -> dict[int, str]:
    """Names recomputed now: a node turned up that the cached names do not know."""
    return names_cache(flow).rebuild(naming_root(flow))


def _class_name(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def describe(flow: Any, _depth: int = 0) -> dict[str, Any]:
    """``{"format", "start", "nodes": [{"name", "class", "kind", "graph"?, "branches"?}],
    "edges": [...]}``.

    A nested flow's node carries its own graph under ``"graph"``, so the monitor can draw
    the whole run; a ``Parallel`` group's node has kind ``"parallel"`` and its branches
    under ``"branches"`` (node entries; a branch flow with its ``"graph"``). This is what
    ``pf_runs.graph`` stores.
    """
    nodes = graph_nodes(naming_root(flow))
    names = unique_names(nodes)
    described: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    for node in nodes:
        entry: dict[str, Any] = {
            "name": names[id(node)],
            "class": _class_name(node),
            "kind": "flow" if hasattr(node, "start_node") else "node",
        }
        if entry["kind"] == "flow" and _depth < _MAX_DEPTH:
            entry["graph"] = describe(node, _depth + 1)
        elif is_group(node):
            entry["kind"] = "parallel"
            entry["branches"] = _describe_branches(node, _depth)
        described.append(entry)
        for action, target in (getattr(node, "successors", None) or {}).items():
            edges.append({"from": names[id(node)], "to": names[id(target)], "action": str(action)})
    start = getattr(flow, "start_node", None)
    return {
        "format": GRAPH_FORMAT,
        "start": names.get(id(start)) if start is not None else None,
        "nodes": described,
        "edges": edges,
    }


def is_group(node: Any) -> bool:
    """Whether ``node`` is a ``Parallel`` group (known by a class marker: no import)."""
    return bool(getattr(type(node), "_is_parallel_group", False))


def _describe_branches(group: Any, depth: int) -> list[dict[str, Any]]:
    """A group's branches as node entries (names unique within the group, in branch
    order); a branch flow carries its graph, a nested group its branches."""
    branches = list(getattr(group, "branches", ()))
    names = unique_names(branches)
    described = []
    for branch in branches:
        entry: dict[str, Any] = {
            "name": names[id(branch)],
            "class": _class_name(branch),
            "kind": "flow" if hasattr(branch, "start_node") else "node",
        }
        if depth < _MAX_DEPTH:
            if entry["kind"] == "flow":
                entry["graph"] = describe(branch, depth + 1)
            elif is_group(branch):
                entry["kind"] = "parallel"
                entry["branches"] = _describe_branches(branch, depth + 1)
        described.append(entry)
    return described


def graph_json(flow: Any) -> str | None:
    """``describe(flow)`` as JSON, or None for a graph that cannot be described."""
    try:
        return json.dumps(describe(flow), ensure_ascii=False)
    except Exception:  # an exotic graph must never stop a run from being recorded
        return None


def _signature(flow: Any, _depth: int = 0) -> tuple[Any, ...]:
    """Everything ``describe`` reads, as identities: equal signatures give equal graphs."""
    root = naming_root(flow)
    parts: list[Any] = [id(root), id(getattr(flow, "start_node", None))]
    for node in graph_nodes(root):
        successors = getattr(node, "successors", None) or {}
        parts.append(
            (id(node), type(node), getattr(node, "name", None), getattr(node, "flow_name", None))
        )
        parts.extend((action, id(target)) for action, target in successors.items())
        if hasattr(node, "start_node") and _depth < _MAX_DEPTH:
            parts.append(_signature(node, _depth + 1))
        elif is_group(node) and _depth < _MAX_DEPTH:
            parts.append(_group_signature(node, _depth + 1))
    return tuple(parts)


def _group_signature(group: Any, depth: int) -> tuple[Any, ...]:
    parts: list[Any] = []
    for branch in getattr(group, "branches", ()):
        parts.append(
            (
                id(branch),
                type(branch),
                getattr(branch, "name", None),
                getattr(branch, "flow_name", None),
            )
        )
        if hasattr(branch, "start_node") and depth < _MAX_DEPTH:
            parts.append(_signature(branch, depth + 1))
        elif is_group(branch) and depth < _MAX_DEPTH:
            parts.append(_group_signature(branch, depth + 1))
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
