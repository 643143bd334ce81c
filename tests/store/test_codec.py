"""The one JSON codec for store values: round trips, markers, never a crash."""

from __future__ import annotations

import json

from pocketflow_ext.store.codec import (
    REPR_LIMIT,
    TAG,
    Unserialisable,
    dumps_store,
    fast_json,
    loads,
)


class BrokenRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def test_plain_json_passes_through_unchanged() -> None:
    data = {"a": [1, "x", None, 2.5, {"b": False}]}
    text, lossy = dumps_store(data)
    assert json.loads(text) == data and lossy == []


def test_tagged_types_come_back_as_they_were() -> None:
    data = {"t": (1, (2, 3)), "s": frozenset({1}), "b": bytearray(b"ab"), "k": {(1, 2): "v"}}
    text, lossy = dumps_store(data)
    back = loads(text)
    assert back == {"t": (1, (2, 3)), "s": frozenset({1}), "b": b"ab", "k": {(1, 2): "v"}}
    assert lossy == []


def test_lossy_keys_name_only_the_keys_with_markers() -> None:
    text, lossy = dumps_store({"fine": 1, "deep": {"x": [object()]}, "obj": object()})
    assert lossy == ["deep", "obj"]
    back = loads(text)
    assert isinstance(back["deep"]["x"][0], Unserialisable) and back["fine"] == 1


def test_a_cycle_becomes_a_marker_not_a_recursion_error() -> None:
    loop: list = [1]
    loop.append(loop)
    text, lossy = dumps_store({"loop": loop})
    assert lossy == ["loop"] and isinstance(loads(text)["loop"][1], Unserialisable)


def test_a_broken_repr_still_gives_a_marker() -> None:
    text, lossy = dumps_store({"x": BrokenRepr()})
    marker = loads(text)["x"]
    assert lossy == ["x"] and "repr failed" in marker.repr


class LongRepr:
    def __repr__(self) -> str:
        return "L" * 1000


def test_long_reprs_are_truncated() -> None:
    marker = loads(dumps_store({"x": LongRepr()})[0])["x"]
    assert len(marker.repr) == REPR_LIMIT and marker.repr.endswith("...")
    assert marker.type_name.endswith("LongRepr")


def test_a_user_dict_using_the_tag_key_is_kept_verbatim() -> None:
    data = {"d": {TAG: "tuple", "items": [1]}}
    assert loads(dumps_store(data)[0]) == data


def test_top_level_keys_that_are_not_strings_are_kept_as_they_were() -> None:
    data = {1: "int", "1": "str", (2, 3): "tuple", None: "none"}
    text, lossy = dumps_store(data)
    assert loads(text) == data and lossy == []


def test_a_top_level_key_named_like_the_tag_is_kept_verbatim() -> None:
    data = {TAG: "tuple", "items": [1]}
    assert loads(dumps_store(data)[0]) == data


def test_lossy_non_string_keys_are_named() -> None:
    _, lossy = dumps_store({1: object(), 2: "fine"})
    assert lossy == ["1"]


def test_fast_json_writes_the_stdlib_text_or_gives_way() -> None:
    # Its C encoder is made once, without the cycle check: a cycle must still give way
    # to the Python path (None), as NaN, lone surrogates and reshaped values do.
    for value in ({"count": 5, "s": "é", "f": 1.5, "n": None}, [1, {"a": [2.0, "x"]}], "x", 7):
        assert fast_json(value) == json.dumps(value, ensure_ascii=False)
    loop: list = [1]
    loop.append(loop)
    ring: dict = {}
    ring["self"] = ring
    for value in (loop, {"ring": ring}, float("nan"), {"k": "\udcff"}, {1: 2}, (1, 2)):
        assert fast_json(value) is None
