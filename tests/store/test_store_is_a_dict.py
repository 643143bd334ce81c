"""A Store is an ordinary dict to every library: encoders, copies, pickling, pandas, pydantic."""

from __future__ import annotations

import copy
import json
import pickle
import subprocess
import sys

import pytest

from pocketflow_ext import Store

DATA = {"query": "otters", "hits": [1, 2, 3], "meta": {"ok": True, "score": 0.5}, "none": None}


def typed_store() -> Store:
    store = Store(dict(DATA), schema={"query": str, "hits": list}, name="lib")
    store.add_observer(lambda key, old, new: None)  # observers must not leak into the data
    return store


def test_the_dicts_own_storage_holds_exactly_the_data() -> None:
    store = typed_store()
    assert list(dict.keys(store)) == list(DATA)
    assert list(dict.items(store)) == list(DATA.items())
    assert dict.__len__(store) == len(DATA)


def test_dict_copies_and_unpacking_give_the_data() -> None:
    store = typed_store()
    assert dict(store) == DATA and {**store} == DATA
    assert dict.copy(store) == DATA and type(dict.copy(store)) is dict


def test_stdlib_json_encodes_the_data_with_the_c_encoder() -> None:
    store = typed_store()
    assert json.dumps(store) == json.dumps(DATA)
    assert json.dumps(store, sort_keys=True, indent=1) == json.dumps(DATA, sort_keys=True, indent=1)


def test_orjson_encodes_a_store_like_its_dict() -> None:
    orjson = pytest.importorskip("orjson")
    assert orjson.dumps(typed_store()) == orjson.dumps(DATA)
    assert orjson.dumps(Store({"a": 1})) == b'{"a":1}'


def test_msgspec_encodes_a_store_like_its_dict() -> None:
    msgspec = pytest.importorskip("msgspec")
    assert msgspec.json.encode(typed_store()) == msgspec.json.encode(DATA)
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(typed_store())) == DATA


def test_pydantic_accepts_a_store_where_a_dict_is_expected() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Request(pydantic.BaseModel):
        shared: dict[str, object]

    assert Request(shared=typed_store()).shared == DATA
    assert pydantic.TypeAdapter(dict[str, object]).validate_python(typed_store()) == DATA


def test_pandas_builds_series_and_frames_from_a_store() -> None:
    pd = pytest.importorskip("pandas")
    store = Store({"a": 1, "b": 2.5})
    assert pd.Series(store).to_dict() == {"a": 1, "b": 2.5}
    assert pd.DataFrame([store, store]).to_dict("list") == {"a": [1, 1], "b": [2.5, 2.5]}


def test_copy_and_deepcopy_keep_data_schema_and_name() -> None:
    store = typed_store()
    for clone in (copy.copy(store), store.copy(), copy.deepcopy(store)):
        assert type(clone) is Store and clone == DATA
        assert clone.schema == store.schema and clone.name == "lib"
        with pytest.raises(TypeError, match="'query'"):
            clone["query"] = 1
    deep = copy.deepcopy(store)
    deep["hits"].append(4)
    assert store["hits"] == [1, 2, 3]


def test_a_store_that_contains_itself_deep_copies_to_a_clone_containing_itself() -> None:
    store = Store({"n": 1})
    store["me"] = store
    clone = copy.deepcopy(store)
    assert clone["me"] is clone and clone is not store


def test_pickle_in_another_process_gives_the_same_store() -> None:
    payload = pickle.dumps(typed_store())
    code = (
        "import pickle, sys; s = pickle.loads(sys.stdin.buffer.read()); "
        "print(type(s).__name__, s.name, *sorted(s), s.schema == {'query': str, 'hits': list})"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], input=payload, capture_output=True, check=True
    ).stdout.decode()
    assert out.split() == ["Store", "lib", "hits", "meta", "none", "query", "True"]


def test_an_unpickled_store_does_not_write_back_to_anything() -> None:
    shared: dict = {"a": 1}
    back = pickle.loads(pickle.dumps(Store(shared)))
    back["a"] = 2
    assert shared == {"a": 1} and back == {"a": 2}


def test_merging_with_the_or_operator_gives_plain_dicts() -> None:
    store = typed_store()
    assert type(store | {"x": 1}) is dict and (store | {"x": 1}) == {**DATA, "x": 1}
    assert type({"x": 1} | store) is dict and ({"x": 1} | store) == {"x": 1, **DATA}


def test_repr_shows_the_data_and_name() -> None:
    assert repr(Store({"a": 1}, name="s")) == "Store({'a': 1}, name='s')"
