"""node.then(action, target) chaining and the "*" wildcard; >> and - "x" >> unchanged."""

from __future__ import annotations

import copy

import pocketflow
import pytest

from pocketflow_ext import Flow, Node
from pocketflow_ext.mixins import EdgesMixin


class Emit(Node):
    def __init__(self, action=None, **kwargs):
        super().__init__(**kwargs)
        self.action = action

    def post(self, shared, prep_res, exec_res):
        shared.setdefault("path", []).append(self.name if hasattr(self, "name") else "?")
        return self.action


def test_then_returns_the_node_so_edges_chain() -> None:
    review, publish, revise = Emit("reject"), Emit(name="publish"), Emit(name="revise")
    assert review.then("approve", publish).then("reject", revise) is review
    assert review.successors == {"approve": publish, "reject": revise}
    shared: dict = {}
    Flow(start=review).run(shared)
    assert shared["path"][-1] == "revise"


def test_wildcard_catches_any_action_without_its_own_edge() -> None:
    router = Emit("surprise", name="router")
    router.then("known", Emit(name="known")).then("*", Emit(name="fallback"))
    shared: dict = {}
    Flow(start=router).run(shared)
    assert shared["path"] == ["router", "fallback"]


@pytest.mark.parametrize(
    "add_wildcard",
    [lambda a, t: a.then("*", t), lambda a, t: a - "*" >> t, lambda a, t: a.next(t, "*")],
    ids=["then", "minus-shift", "next"],
)
def test_every_way_of_adding_a_wildcard_edge_works(add_wildcard) -> None:
    router = Emit("surprise", name="router")
    add_wildcard(router, Emit(name="fallback"))
    shared: dict = {}
    Flow(start=router).run(shared)
    assert shared["path"] == ["router", "fallback"]


def test_a_node_without_a_wildcard_keeps_upstreams_plain_dict() -> None:
    a = Emit()
    a.then("x", Emit())
    assert type(a.successors) is dict


def test_a_named_edge_wins_over_the_wildcard() -> None:
    router = Emit("known", name="router")
    router.then("*", Emit(name="fallback")).then("known", Emit(name="known"))
    shared: dict = {}
    Flow(start=router).run(shared)
    assert shared["path"] == ["router", "known"]


def test_wildcard_catches_the_default_action_too() -> None:
    start = Emit(None, name="start")
    start.then("*", Emit(name="fallback"))
    shared: dict = {}
    Flow(start=start).run(shared)
    assert shared["path"] == ["start", "fallback"]


def test_wildcard_works_under_an_upstream_flow() -> None:
    router = Emit("anything", name="router")
    router.then("*", Emit(name="fallback"))
    shared: dict = {}
    pocketflow.Flow(start=router).run(shared)
    assert shared["path"] == ["router", "fallback"]


def test_edges_mixin_alone_on_an_upstream_node() -> None:
    class Plain(EdgesMixin, pocketflow.Node):
        def post(self, shared, prep_res, exec_res):
            shared["plain"] = True
            return "whatever"

    class Target(pocketflow.Node):
        def post(self, shared, prep_res, exec_res):
            shared["target"] = True

    node = Plain()
    assert node.then("*", Target()) is node
    shared: dict = {}
    pocketflow.Flow(start=node).run(shared)
    assert shared == {"plain": True, "target": True}


def test_shift_operators_still_work() -> None:
    a, b, c = Emit("go", name="a"), Emit(name="b"), Emit(name="c")
    assert (a - "go" >> b) is b
    assert (b >> c) is c
    shared: dict = {}
    Flow(start=a).run(shared)
    assert shared["path"] == ["a", "b", "c"]


@pytest.mark.parametrize(
    "overwrite",
    [lambda a, t: a.then("x", t), lambda a, t: a - "x" >> t, lambda a, t: a.next(t, "x")],
    ids=["then", "minus-shift", "next"],
)
def test_overwriting_an_edge_warns_as_upstream_does(overwrite) -> None:
    a = Emit()
    a.then("x", Emit())
    with pytest.warns(UserWarning, match="Overwriting successor for action 'x'"):
        overwrite(a, Emit())


def test_without_a_wildcard_an_unknown_action_ends_with_upstreams_warning() -> None:
    a = Emit("nope", name="a")
    a.then("yes", Emit(name="b"))
    shared: dict = {}
    with pytest.warns(UserWarning, match="Flow ends: 'nope' not found"):
        assert Flow(start=a).run(shared) == "nope"
    assert shared["path"] == ["a"]


def test_successors_stay_a_dict_shared_by_upstreams_per_step_copy() -> None:
    a, b = Emit(), Emit()
    a.then("*", b)
    assert isinstance(a.successors, dict) and copy.copy(a).successors is a.successors


def test_then_after_successors_were_replaced_with_a_plain_dict_still_routes() -> None:
    a = Emit("zzz", name="a")
    a.successors = {}
    a.then("*", Emit(name="b"))
    shared: dict = {}
    Flow(start=a).run(shared)
    assert shared["path"] == ["a", "b"]


@pytest.mark.parametrize("action", [None, 3, ("a",)])
def test_then_needs_a_string_action(action) -> None:
    with pytest.raises(TypeError, match="action must be a string"):
        Emit().then(action, Emit())


@pytest.mark.parametrize("target", [None, "node", 3])
def test_then_needs_a_node_target(target) -> None:
    with pytest.raises(TypeError, match="needs a node or flow"):
        Emit().then("x", target)
