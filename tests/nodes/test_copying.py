"""CopyMixin: upstream's copy.copy of each node makes exactly what the pickle protocol would,
and every customisation of copying in a user's class is honoured."""

from __future__ import annotations

import copy
import copyreg
from typing import Any

import pocketflow

import pocketflow_ext as pe
from pocketflow_ext.nodes.copying import _standard_copy


class Summarise(pe.Node):
    def exec(self, prep_res: Any) -> Any:
        return prep_res


def test_a_copy_is_what_the_pickle_protocol_makes() -> None:
    node = Summarise(max_retries=3, wait=0.5, name="Sum", retry_on=KeyError)
    node.set_params({"k": 1})
    node.extra = ["shared", "list"]
    clone = copy.copy(node)
    reference = _standard_copy(node)
    assert type(clone) is type(reference) is Summarise
    assert vars(clone) == vars(reference) == vars(node)
    assert vars(clone) is not vars(node)
    assert clone.extra is node.extra  # shallow, as copy.copy
    clone.params = {"k": 2}
    assert node.params == {"k": 1}


def test_a_copy_runs_as_the_original() -> None:
    first = Summarise(name="First")
    first >> Summarise(name="Second")
    seen: list[str] = []
    flow = pe.Flow(start=first).on("node_start", lambda name, store: seen.append(name))
    flow.run({})
    assert seen == ["First", "Second"]


def test_getstate_and_setstate_of_a_user_class_are_honoured() -> None:
    class WithLock(pe.Node):
        def __getstate__(self) -> dict[str, Any]:
            state = dict(self.__dict__)
            state.pop("lock", None)
            return state

        def __setstate__(self, state: dict[str, Any]) -> None:
            self.__dict__.update(state, restored=True)

    node = WithLock()
    node.lock = object()
    clone = copy.copy(node)
    assert "lock" not in vars(clone)
    assert clone.restored is True


def test_reduce_of_a_user_class_is_honoured() -> None:
    class Reduced(pe.Node):
        def __reduce__(self) -> Any:
            return (Reduced, ())

    node = Reduced()
    node.marker = 1
    assert not hasattr(copy.copy(node), "marker")


def test_slots_of_a_user_class_are_copied() -> None:
    class Slotted(pe.Node):
        __slots__ = ("budget",)

    node = Slotted()
    node.budget = 10
    assert copy.copy(node).budget == 10


def test_a_copyreg_registration_is_honoured() -> None:
    class Registered(pe.Node):
        pass

    copyreg.pickle(Registered, lambda node: (Registered, ()))
    try:
        node = Registered()
        node.marker = 1
        assert not hasattr(copy.copy(node), "marker")
    finally:
        del copyreg.dispatch_table[Registered]


def test_a_conditional_node_copies_to_its_variant_class() -> None:
    node = pe.Node(when=lambda shared: True)
    clone = copy.copy(node)
    assert type(clone) is type(node)
    assert vars(clone) == vars(node)


def test_upstream_nodes_keep_upstreams_copy() -> None:
    assert not hasattr(pocketflow.Node, "__copy__")
