"""Node names: class name by default, settable, unique (X#2) and deterministic per graph."""

from __future__ import annotations

import pocketflow
import pytest

import pocketflow_ext
from pocketflow_ext import ConfigurationError, Flow, Node


class Summarise(Node):
    pass


class Review(Node):
    def post(self, shared, prep_res, exec_res):
        shared["reviews"] = shared.get("reviews", 0) + 1
        return "again" if shared["reviews"] < 2 else "done"


def build() -> Flow:
    first, second, review = Summarise(), Summarise(), Review()
    first >> review
    review - "again" >> second
    second >> review
    review - "done" >> Node(name="Publish")
    return Flow(start=first)


def names_run(flow: Flow) -> list[str]:
    names: list[str] = []
    flow.on("node_start", lambda name, store: names.append(name))
    flow.run({})
    return names


def test_names_default_to_class_and_duplicates_get_a_suffix() -> None:
    assert names_run(build()) == ["Summarise", "Review", "Summarise#2", "Review", "Publish"]


def test_two_builds_of_the_same_graph_get_the_same_names() -> None:
    assert names_run(build()) == names_run(build())


def test_an_explicit_name_is_used() -> None:
    node = Summarise(name="Condense")
    assert node.name == "Condense"
    assert names_run(Flow(start=node)) == ["Condense"]


def test_a_nested_flow_is_named_by_its_flow_name() -> None:
    inner = Flow(start=Summarise(), flow_name="Writer")
    outer = Flow(start=inner)
    assert names_run(outer) == ["Writer", "Writer/Summarise"]


def test_a_name_clash_between_explicit_and_class_names_is_resolved() -> None:
    first = Node(name="Summarise")
    first >> Summarise()
    assert names_run(Flow(start=first)) == ["Summarise", "Summarise#2"]


def test_an_edge_added_after_a_run_gets_a_name_too() -> None:
    start = Summarise()
    flow = Flow(start=start)
    assert names_run(flow) == ["Summarise"]
    start >> Summarise()
    assert names_run(flow) == ["Summarise", "Summarise#2"]


class Route(Node):
    def post(self, shared, prep_res, exec_res):
        return shared.get("route", "default")


def test_an_edge_added_after_a_run_that_shifts_names_renames_as_a_fresh_build() -> None:
    start, middle, far = Route(), Route(), Summarise()
    start >> middle
    middle >> far
    flow = Flow(start=start)
    assert names_run(flow) == ["Route", "Route#2", "Summarise"]
    start - "short" >> Summarise()  # reached before `far` in the walk: it takes the plain name
    assert names_run(flow)[-1] == "Summarise#2"


class Plain(pocketflow.Node):
    pass


def test_instrument_renames_an_upstream_graph_after_an_edge_is_added(events) -> None:
    start, far = Plain(), Plain()
    start >> far
    flow = pocketflow.Flow(start=start)
    with pocketflow_ext.instrument():
        flow.run({})
        start - "unused" >> Plain()  # now the third node in the walk, before far's successors
        far >> Plain()
        flow.run({})
    paths = [e.path for e in events if e.kind == "node_start"]
    assert paths == ["Flow/Plain", "Flow/Plain#2", "Flow/Plain", "Flow/Plain#2", "Flow/Plain#4"]


@pytest.mark.parametrize("bad", ["", "  ", "a/b", 3])
def test_bad_names_are_configuration_errors(bad) -> None:
    with pytest.raises(ConfigurationError, match="name"):
        Node(name=bad)
    with pytest.raises(ConfigurationError, match="flow_name"):
        Flow(flow_name=bad)
