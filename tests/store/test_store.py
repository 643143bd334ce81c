"""Store: a dict holding its own data, type-checked and observed on every write path."""

from __future__ import annotations

import copy
import json
import pickle
import threading

import pytest

from pocketflow_ext import (
    MISSING,
    Flow,
    Node,
    Store,
    StoreTypeError,
    StoreValidationError,
    Unserialisable,
)


def observed(store: Store) -> list[tuple]:
    changes: list[tuple] = []
    store.add_observer(lambda key, old, new: changes.append((key, old, new)))
    return changes


# ── the caller's dict ────────────────────────────────────────────────────────
def test_writes_through_the_store_land_in_the_callers_dict() -> None:
    shared: dict = {"gone": 0, "popped": 0}
    store = Store(shared)
    store["a"] = 1
    store.update(b=2)
    store |= {"c": 3}
    store.setdefault("d", 4)
    del store["gone"]
    store.pop("popped")
    assert shared == {"a": 1, "b": 2, "c": 3, "d": 4} == store


def test_clear_and_popitem_remove_only_the_stores_keys_from_the_callers_dict() -> None:
    shared: dict = {"a": 1, "b": 2}
    store = Store(shared)
    shared["late"] = "written around the store"
    assert store.popitem() == ("b", 2)
    store.clear()
    assert shared == {"late": "written around the store"} and store == {}


def test_the_store_holds_its_own_copy_of_the_callers_entries() -> None:
    shared: dict = {"a": 1}
    store = Store(shared)
    shared["late"] = "yes"
    del shared["a"]
    assert store == {"a": 1}  # writes around the store are not seen by it


def test_a_refused_write_changes_neither_the_store_nor_the_callers_dict() -> None:
    shared: dict = {"n": 1}
    store = Store(shared, schema={"n": int})
    with pytest.raises(StoreTypeError):
        store["n"] = "x"
    assert shared == {"n": 1} == store


def test_as_dict_is_a_plain_dict_copy_of_the_entries() -> None:
    store = Store({"x": [1]})
    plain = store.as_dict()
    assert type(plain) is dict and plain == {"x": [1]} and plain["x"] is store["x"]
    plain["y"] = 2
    assert "y" not in store


def test_wrapping_a_store_writes_through_its_checks_and_observers() -> None:
    shared: dict = {}
    inner = Store(shared, schema={"k": int})
    changes = observed(inner)
    outer = Store(inner)
    outer["k"] = 1
    assert shared == {"k": 1} and changes == [("k", MISSING, 1)]
    with pytest.raises(StoreTypeError):
        outer["k"] = "no"  # the inner store refuses, so the outer one is unchanged
    assert outer == {"k": 1}


def test_store_without_data_starts_empty() -> None:
    assert Store() == {} and len(Store()) == 0


# ── dict compatibility ────────────────────────────────────────────────────────
def test_store_is_a_dict_and_reads_like_one() -> None:
    store = Store({"a": 1, "b": 2})
    assert isinstance(store, dict)
    assert store.get("a") == 1 and store.get("zz", "d") == "d"
    assert "a" in store and "zz" not in store
    assert list(store) == ["a", "b"] and len(store) == 2
    assert list(store.keys()) == ["a", "b"] and list(store.values()) == [1, 2]
    assert list(store.items()) == [("a", 1), ("b", 2)]
    assert list(reversed(store)) == ["b", "a"]


def test_dict_and_unpacking_give_the_data_only() -> None:
    store = Store({"a": 1})
    assert dict(store) == {"a": 1}
    assert {**store} == {"a": 1}
    assert store | {"b": 2} == {"a": 1, "b": 2}
    assert {"b": 2} | store == {"b": 2, "a": 1}


def test_store_equals_dicts_and_stores_with_the_same_data() -> None:
    assert Store({"a": 1}) == {"a": 1}
    assert Store({"a": 1}) == Store({"a": 1})
    assert Store({"a": 1}) != {"a": 2}


def test_json_dumps_of_a_store_gives_its_data() -> None:
    assert json.loads(json.dumps(Store({"a": [1, 2], "b": "x"}))) == {"a": [1, 2], "b": "x"}
    assert json.dumps(Store({})) == "{}"


def test_copy_is_a_new_store_over_a_copy_with_the_same_schema() -> None:
    shared = {"a": [1]}
    store = Store(shared, schema={"a": list}, name="s")
    clone = copy.copy(store)
    assert isinstance(clone, Store) and clone == store and clone.as_dict() is not shared
    assert clone["a"] is shared["a"]  # shallow
    assert clone.schema == {"a": list} and clone.name == "s"
    with pytest.raises(TypeError):
        clone["a"] = "no"


def test_deepcopy_copies_values_too() -> None:
    store = Store({"a": [1]})
    clone = copy.deepcopy(store)
    clone["a"].append(2)
    assert store["a"] == [1] and isinstance(clone, Store)


def test_pickle_round_trip_keeps_data_schema_and_name() -> None:
    store = Store({"n": 1}, schema={"n": int}, name="mine")
    back = pickle.loads(pickle.dumps(store))
    assert back == {"n": 1} and back.name == "mine" and back.schema == {"n": int}
    assert pickle.loads(pickle.dumps(MISSING)) is MISSING


def test_a_store_is_not_hashable_like_a_dict() -> None:
    with pytest.raises(TypeError):
        hash(Store())


# ── type checks on every write path ───────────────────────────────────────────
SCHEMA = {"count": int, "name": str, "ratio": (int, float)}


@pytest.mark.parametrize(
    "write",
    [
        lambda s: s.__setitem__("count", "three"),
        lambda s: s.update({"count": "three"}),
        lambda s: s.update(count="three"),
        lambda s: s.update([("count", "three")]),
        lambda s: s.__ior__({"count": "three"}),
        lambda s: s.setdefault("count", "three"),
    ],
    ids=["setitem", "update-dict", "update-kwargs", "update-pairs", "ior", "setdefault"],
)
def test_every_write_path_rejects_the_wrong_type(write) -> None:
    shared: dict = {}
    store = Store(shared, schema=SCHEMA)
    with pytest.raises(TypeError):
        write(store)
    assert shared == {}


def test_type_error_names_store_key_expected_and_actual_type() -> None:
    store = Store(schema=SCHEMA, name="chat")
    with pytest.raises(StoreTypeError) as caught:
        store["count"] = "three"
    message = str(caught.value)
    assert "'chat'" in message and "'count'" in message
    assert "expects int" in message and "got str" in message
    assert isinstance(caught.value, TypeError)


def test_tuple_schema_accepts_any_listed_type_and_names_them_all() -> None:
    store = Store(schema={"ratio": (int, float)})
    store["ratio"] = 1
    store["ratio"] = 0.5
    with pytest.raises(TypeError, match=r"int \| float"):
        store["ratio"] = "half"


def test_none_in_a_schema_tuple_allows_none() -> None:
    store = Store(schema={"maybe": (str, None)})
    store["maybe"] = None
    store["maybe"] = "x"
    with pytest.raises(TypeError):
        store["maybe"] = 3


def test_update_with_one_bad_value_changes_nothing() -> None:
    shared = {"count": 1}
    store = Store(shared, schema=SCHEMA)
    changes = observed(store)
    with pytest.raises(TypeError):
        store.update({"name": "ok", "count": "bad"})
    assert shared == {"count": 1} and changes == []


def test_an_unserialisable_marker_may_stand_in_for_any_typed_value() -> None:
    store = Store(schema={"client": int})
    store["client"] = Unserialisable("Client", "<Client>")  # what a restored snapshot holds
    assert isinstance(store["client"], Unserialisable)


def test_keys_outside_the_schema_accept_any_value() -> None:
    store = Store(schema=SCHEMA)
    store["anything"] = object()
    assert "anything" in store


def test_initial_data_is_checked_against_the_schema() -> None:
    with pytest.raises(TypeError, match="'count'"):
        Store({"count": "x"}, schema=SCHEMA)


@pytest.mark.parametrize("bad", [list[str], "int", 3, (int, "str"), ()])
def test_schema_entries_must_be_types(bad) -> None:
    with pytest.raises(TypeError, match="'k'"):
        Store(schema={"k": bad})


def test_data_must_be_a_mutable_mapping() -> None:
    with pytest.raises(TypeError, match="dict"):
        Store([("a", 1)])  # type: ignore[arg-type]


def test_name_must_be_a_string() -> None:
    with pytest.raises(TypeError, match="name"):
        Store(name=3)  # type: ignore[arg-type]


def test_update_rejects_more_than_one_positional_argument() -> None:
    with pytest.raises(TypeError):
        Store().update({}, {})


# ── observers ─────────────────────────────────────────────────────────────────
def test_observers_see_every_write_path_with_old_and_new() -> None:
    store = Store({"a": 1, "b": 2, "c": 3})
    changes = observed(store)
    store["a"] = 10
    store.update({"d": 4})
    store |= {"e": 5}
    store.setdefault("f", 6)
    store.setdefault("f", 99)  # present: no write
    assert store.pop("b") == 2
    assert store.pop("zz", "dflt") == "dflt"
    del store["c"]
    key, value = store.popitem()
    assert changes == [
        ("a", 1, 10),
        ("d", MISSING, 4),
        ("e", MISSING, 5),
        ("f", MISSING, 6),
        ("b", 2, MISSING),
        ("c", 3, MISSING),
        (key, value, MISSING),
    ]


def test_clear_notifies_each_removed_key() -> None:
    shared = {"a": 1, "b": 2}
    store = Store(shared)
    changes = observed(store)
    store.clear()
    assert shared == {} and changes == [("a", 1, MISSING), ("b", 2, MISSING)]


def test_observers_are_called_in_registration_order() -> None:
    store = Store()
    order: list[str] = []
    store.add_observer(lambda *a: order.append("first"))
    store.add_observer(lambda *a: order.append("second"))
    store["k"] = 1
    assert order == ["first", "second"]


def test_a_raising_observer_is_logged_and_the_write_stands(ext_logs) -> None:
    shared: dict = {}
    store = Store(shared, name="s")

    def broken(key, old, new):
        raise RuntimeError("observer bug")

    store.add_observer(broken)
    later = observed(store)
    store["k"] = 1
    assert shared == {"k": 1} and later == [("k", MISSING, 1)]
    record = next(r for r in ext_logs.records if r.name == "pocketflow_ext.store")
    assert "'k'" in record.getMessage() and record.exc_info[1].args == ("observer bug",)


def test_remove_observer_stops_notifications() -> None:
    store = Store()
    seen: list = []
    callback = seen.append
    store.add_observer(lambda *a: seen.append(a))
    store.add_observer(callback)  # type: ignore[arg-type]
    store.remove_observer(callback)  # type: ignore[arg-type]
    store["k"] = 1
    assert seen == [("k", MISSING, 1)]


def test_removing_an_unknown_observer_says_so() -> None:
    with pytest.raises(ValueError, match="not a registered observer"):
        Store().remove_observer(print)


def test_non_callable_observer_is_rejected() -> None:
    with pytest.raises(TypeError, match="callable"):
        Store().add_observer("nope")  # type: ignore[arg-type]


def test_missing_keys_raise_keyerror_without_notifying() -> None:
    store = Store()
    changes = observed(store)
    with pytest.raises(KeyError):
        del store["x"]
    with pytest.raises(KeyError):
        store.pop("x")
    with pytest.raises(KeyError, match="empty"):
        store.popitem()
    assert changes == []


def test_observers_from_many_threads_see_every_write() -> None:
    store = Store(schema={"n": int})
    changes = observed(store)

    def writer(i: int) -> None:
        for j in range(200):
            store[f"t{i}-{j}"] = j

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store) == 800 and len(changes) == 800


# ── validate ──────────────────────────────────────────────────────────────────
def test_validate_lists_every_missing_schema_key() -> None:
    store = Store({"count": 1}, schema=SCHEMA, name="s")
    with pytest.raises(StoreValidationError) as caught:
        store.validate()
    assert "'name'" in str(caught.value) and "'ratio'" in str(caught.value)
    assert "'count'" not in str(caught.value) and isinstance(caught.value, ValueError)


def test_validate_catches_wrong_types_written_around_the_store() -> None:
    store = Store({"count": 1, "name": "n", "ratio": 1.0}, schema=SCHEMA)
    assert store.validate() is store
    dict.__setitem__(store, "count", "sneaky")
    with pytest.raises(TypeError, match="'count'"):
        store.validate()


# ── a Store in a flow ─────────────────────────────────────────────────────────
def test_a_flow_writes_through_the_store_and_a_plain_dict_stays_plain() -> None:
    class Write(Node):
        def post(self, shared, prep_res, exec_res):
            shared["out"] = type(shared).__name__

    shared: dict = {}
    Flow(start=Write()).run(Store(shared))
    assert shared == {"out": "Store"}
    plain: dict = {}
    Flow(start=Write()).run(plain)
    assert plain == {"out": "dict"} and type(plain) is dict


def test_a_node_writing_the_wrong_type_fails_the_flow_with_the_key() -> None:
    class Write(Node):
        def post(self, shared, prep_res, exec_res):
            shared["count"] = "many"

    with pytest.raises(StoreTypeError, match="'count'"):
        Flow(start=Write()).run(Store(schema={"count": int}))
