"""pocketflow_ext.graph: node names (unique, deterministic, cached per graph) and the graph's
description as recorded with a run."""

from __future__ import annotations

import gc
import json
import pickle
import weakref

import pocketflow

from pocketflow_ext import Flow, Node
from pocketflow_ext.graph import (
    GraphNames,
    assign_names,
    describe,
    graph_json,
    names_cache,
    node_names,
)


class Summarise(pocketflow.Node):
    pass


class Review(pocketflow.Node):
    pass


def chain(nodes: list) -> list:
    for a, b in zip(nodes[:-1], nodes[1:], strict=True):
        a >> b
    return nodes


def named(names: dict[int, str], nodes: list) -> list[str]:
    return [names[id(node)] for node in nodes]


def test_a_thousand_nodes_of_one_class_are_numbered_in_graph_order() -> None:
    nodes = chain([Summarise() for _ in range(1000)])
    names = named(assign_names(nodes[0]), nodes)
    assert names[:3] == ["Summarise", "Summarise#2", "Summarise#3"]
    assert names[-1] == "Summarise#1000" and len(set(names)) == 1000


def test_an_explicit_name_that_looks_like_a_suffix_is_skipped_over() -> None:
    nodes = chain([Summarise(), Node(name="Summarise#2"), Summarise(), Summarise()])
    assert named(assign_names(nodes[0]), nodes) == [
        "Summarise", "Summarise#2", "Summarise#3", "Summarise#4",
    ]  # fmt: skip


def test_names_follow_a_breadth_first_walk_in_edge_order() -> None:
    start, deep, shallow = Review(), Summarise(), Summarise()
    middle = Review()
    start - "a" >> middle
    middle >> deep
    start - "b" >> shallow
    assert named(assign_names(start), [start, middle, shallow, deep]) == [
        "Review", "Review#2", "Summarise", "Summarise#2",
    ]  # fmt: skip


def test_an_edge_added_after_a_run_renames_nodes_as_a_fresh_build_would() -> None:
    # A new edge can reach an old node's class earlier in the walk, which shifts names:
    # the cache must notice, not keep the names of the graph as it was.
    start, middle, far = Review(), Review(), Summarise()
    start >> middle
    middle >> far
    flow = pocketflow.Flow(start=start)
    assert named(node_names(flow), [far]) == ["Summarise"]
    near = Summarise()
    start - "shortcut" >> near
    assert named(node_names(flow), [near, far]) == ["Summarise", "Summarise#2"]
    assert node_names(flow) == assign_names(start)


def test_an_edge_pointed_elsewhere_after_a_run_renames_too() -> None:
    start, first, second = Review(), Summarise(), Summarise()
    start >> first
    start - "other" >> second
    flow = pocketflow.Flow(start=start)
    assert named(node_names(flow), [first, second]) == ["Summarise", "Summarise#2"]
    start.successors["default"] = second  # same number of edges, another target
    start.successors["other"] = first
    assert named(node_names(flow), [second, first]) == ["Summarise", "Summarise#2"]


def test_an_unchanged_graph_keeps_its_names_between_runs() -> None:
    flow = pocketflow.Flow(start=chain([Summarise(), Summarise()])[0])
    assert node_names(flow) is node_names(flow)


def test_names_kept_for_an_upstream_flow_do_not_keep_its_graph_alive() -> None:
    start = Summarise()
    start >> start  # a loop: the cache must not hold the graph through its own entry
    flow = pocketflow.Flow(start=start)
    node_names(flow)
    gone = weakref.ref(start)
    del flow, start
    gc.collect()
    assert gone() is None


def test_a_drop_in_flow_carries_its_names_cache_through_upstreams_copies() -> None:
    import copy

    flow = Flow(start=Node())
    assert names_cache(copy.copy(flow)) is names_cache(flow)


def test_a_pickled_names_cache_comes_back_empty_and_names_the_graph_again() -> None:
    start = Summarise()
    start >> Summarise()
    cache = GraphNames()
    cache.names(start)
    copy_start, copy_cache = pickle.loads(pickle.dumps((start, cache)))
    names = copy_cache.names(copy_start)
    assert sorted(names.values()) == ["Summarise", "Summarise#2"]
    assert id(copy_start) in names


def test_describe_lists_nodes_edges_and_nested_graphs_by_run_name() -> None:
    inner = pocketflow.Flow(start=Summarise())
    first, second = Summarise(), Review()
    first - "review" >> second
    second >> inner
    graph = describe(pocketflow.Flow(start=first))
    assert graph["start"] == "Summarise"
    assert [(n["name"], n["kind"]) for n in graph["nodes"]] == [
        ("Summarise", "node"), ("Review", "node"), ("Flow", "flow"),
    ]  # fmt: skip
    assert graph["edges"] == [
        {"from": "Summarise", "to": "Review", "action": "review"},
        {"from": "Review", "to": "Flow", "action": "default"},
    ]
    assert graph["nodes"][2]["graph"]["nodes"][0]["name"] == "Summarise"
    assert graph["nodes"][0]["class"].endswith("test_graph.Summarise")
    assert json.loads(graph_json(pocketflow.Flow(start=first)) or "") == graph
