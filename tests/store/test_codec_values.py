"""Any value a Python program can hold is recorded exactly, or as a marker for its own key.

Round trips are checked by ``same``: equal *and* of the same types all the way down (``==``
alone would take ``1`` for ``1.0`` and ``True`` for ``1``), with NaN equal to NaN.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import random
import sys
import threading
from typing import Any

import pytest

from pocketflow_ext.store.codec import (
    TAG,
    Unserialisable,
    dumps_store,
    encode_key_value,
    fast_json,
    loads,
    store_text,
)

SURROGATE_NAME = os.fsdecode(b"caf\xe9-\xff.txt")  # a non-UTF-8 file name, as os.listdir gives it
HUGE = (10**5000 - 1) // 9 * 7  # 5,000 sevens: past sys.get_int_max_str_digits() (4300)


def same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        )
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return (
            list(map(type, a)) == list(map(type, b))
            and a.keys() == b.keys()
            and all(same(a[k], b[k]) for k in a)
        )
    return a == b


def strict_json(text: str) -> Any:
    """Parse as any standard JSON reader would: no NaN literals; the text must be UTF-8."""
    text.encode("utf-8")  # raises on a lone surrogate: SQLite TEXT must be valid UTF-8

    def refuse(name: str) -> Any:
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def round_trip(value: Any) -> Any:
    text, lossy = encode_key_value(value)
    strict_json(text)
    assert lossy is False
    return loads(text)


# ── the values issue 9 found erasing a run's recording ────────────────────────
@pytest.mark.parametrize(
    "value",
    [
        SURROGATE_NAME,
        "\ud83d",  # half a surrogate pair
        "\ude00\ud83d",  # a pair in the wrong order
        "\ud83d\ude00",  # two lone surrogates that look like a pair
        HUGE,
        -HUGE,
        2**14_001,
        {"files": [SURROGATE_NAME], SURROGATE_NAME: HUGE},
    ],
    ids=[
        "fsdecoded",
        "half-pair",
        "reversed-pair",
        "split-pair",
        "huge",
        "-huge",
        "2**14001",
        "nested",
    ],
)
def test_surrogates_and_huge_ints_round_trip_exactly(value: Any) -> None:
    assert same(round_trip(value), value)


def test_nan_and_infinities_are_strict_json_and_come_back() -> None:
    for value in (math.nan, math.inf, -math.inf, [1.0, math.nan], {"x": (math.inf,)}):
        assert same(round_trip(value), value)


def test_old_checkpoints_with_nan_literals_still_load() -> None:
    assert math.isnan(loads('{"x": NaN}')["x"]) and loads('{"y": -Infinity}')["y"] == -math.inf


def test_an_int_longer_than_this_processes_digit_limit_still_loads() -> None:
    # Written as decimal text by a process that raised sys.set_int_max_str_digits.
    assert loads('{"n": ' + "9" * 6000 + "}")["n"] == 10**6000 - 1


# ── the C encoder is used only where it is exact ──────────────────────────────
@pytest.mark.parametrize(
    "value",
    [
        {"pair": (1, 2)},
        [{"nested": ((1,), [2])}],
        {1: "int key"},
        {1: "int", "1": "str"},
        {True: "bool key"},
        {None: "none key"},
        {1.5: "float key"},
        {"d": {TAG: "tuple", "items": [1]}},  # a user dict that looks like ours
        ["\udc80"],
    ],
    ids=repr,
)
def test_values_the_c_encoder_would_reshape_take_the_exact_path(value: Any) -> None:
    assert fast_json(value) is None
    assert same(round_trip(value), value)


def test_plain_json_is_the_c_encoders_text() -> None:
    data = {"text": "héllo 日本", "n": [1, 2.5, None, True], "nested": {"a": {"b": []}}}
    assert encode_key_value(data) == (json.dumps(data, ensure_ascii=False), False)
    assert dumps_store(data) == (json.dumps(data, ensure_ascii=False), [])


@pytest.mark.parametrize(
    "store",
    [{"a": [1, (2,)], "b": SURROGATE_NAME}, {1: "one", "1": "str one", (2, 3): {4}}, {}],
    ids=["str-keys", "odd-keys", "empty"],
)
def test_a_store_assembled_from_per_key_texts_is_what_dumps_store_writes(store) -> None:
    texts = {key: encode_key_value(value)[0] for key, value in store.items()}
    text = store_text(texts.items())
    assert text == dumps_store(store)[0] and same(loads(text), store)


# ── property-style: many random hostile values, each exact ────────────────────
def _hashable_leaf(rng: random.Random) -> Any:
    return rng.choice(
        [
            "",
            "plain",
            "héllo",
            TAG,
            SURROGATE_NAME,
            "\ud800x",
            rng.randrange(-5, 5),
            HUGE,
            -(2**70),
            1.5,
            -0.0,
            math.inf,
            True,
            False,
            None,
            b"\x00\xff",
            dt.date(2026, 2, 28),
            (1, "a", (None,)),
        ]
    )


def _leaf(rng: random.Random) -> Any:
    return rng.choice(
        [
            _hashable_leaf(rng),
            math.nan,
            bytearray(b"ab"),
            dt.datetime(2026, 1, 2, 3, 4, 5, rng.randrange(10**6)),
            dt.datetime(2026, 1, 2, tzinfo=dt.timezone(dt.timedelta(hours=-5, minutes=-30))),
            "x" * rng.randrange(300),
            rng.random() * 10 ** rng.randrange(-300, 300),
        ]
    )


def _value(rng: random.Random, depth: int) -> Any:
    if depth == 0 or rng.random() < 0.3:
        return _leaf(rng)
    size = rng.randrange(4)
    kind = rng.randrange(6)
    if kind == 0:
        return [_value(rng, depth - 1) for _ in range(size)]
    if kind == 1:
        return tuple(_value(rng, depth - 1) for _ in range(size))
    if kind == 2:
        return {
            rng.choice(["a", "b", "c", TAG, SURROGATE_NAME]): _value(rng, depth - 1)
            for _ in range(size)
        }
    if kind == 3:
        return {_hashable_leaf(rng): _value(rng, depth - 1) for _ in range(size)}
    if kind == 4:
        return {_hashable_leaf(rng) for _ in range(size)}
    return frozenset(_hashable_leaf(rng) for _ in range(size))


def _restored(value: Any) -> Any:
    """What a value comes back as: bytearray is saved as bytes (the only documented change)."""
    if isinstance(value, bytearray):
        return bytes(value)
    if isinstance(value, list):
        return [_restored(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_restored(v) for v in value)
    if isinstance(value, dict):
        return {k: _restored(v) for k, v in value.items()}
    return value


@pytest.mark.parametrize("seed", range(40))
def test_random_hostile_values_round_trip_exactly(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(25):
        value = _value(rng, depth=4)
        assert same(round_trip(value), _restored(value)), value


@pytest.mark.parametrize("seed", range(10))
def test_random_hostile_stores_round_trip_exactly(seed: int) -> None:
    rng = random.Random(1000 + seed)
    store = {f"k{i}": _value(rng, depth=3) for i in range(8)}
    store[SURROGATE_NAME] = HUGE
    text, lossy = dumps_store(store)
    strict_json(text)
    assert lossy == [] and same(loads(text), _restored(store))


# ── what cannot be encoded costs only its own key ─────────────────────────────
class BrokenRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class BrokenClass:
    """isinstance() itself raises on it: __class__ is a property that fails."""

    @property  # type: ignore[misc]
    def __class__(self):  # noqa: D401
        raise RuntimeError("no class")

    def __repr__(self) -> str:
        return "<BrokenClass>"


def _deep(levels: int) -> list:
    value: list = []
    for _ in range(levels):
        value = [value]
    return value


def _cycle() -> dict:
    loop: dict = {"name": "loop"}
    loop["self"] = loop
    return loop


@pytest.mark.parametrize(
    ("bad", "type_name"),
    [
        (threading.Lock(), "_thread.lock"),
        (BrokenRepr(), "BrokenRepr"),
        (BrokenClass(), "BrokenClass"),
        (_deep(sys.getrecursionlimit() * 3), "list"),
        (_cycle(), "dict"),
        (iter([1]), "list_iterator"),
    ],
    ids=["lock", "broken-repr", "broken-class", "deep-nesting", "cycle", "iterator"],
)
def test_an_unencodable_value_is_a_marker_for_its_key_only(bad: Any, type_name: str) -> None:
    store = {"before": (1, 2), "bad": bad, "after": SURROGATE_NAME}
    text, lossy = dumps_store(store)
    back = loads(strict_json(text) and text)
    assert lossy == ["bad"]
    assert back["before"] == (1, 2) and back["after"] == SURROGATE_NAME
    marker = back["bad"]
    if isinstance(marker, dict):  # the cycle: its first level is kept, the loop is a marker
        assert marker["name"] == "loop" and isinstance(marker["self"], Unserialisable)
    else:
        assert isinstance(marker, Unserialisable) and marker.type_name.endswith(type_name)


def test_an_unencodable_key_is_a_marker_and_the_other_keys_are_kept() -> None:
    key = BrokenClass()
    text, lossy = dumps_store({key: 1, "fine": (2,)})
    back = loads(strict_json(text) and text)
    assert lossy == ["<BrokenClass>"] and back["fine"] == (2,)
    assert [type(k) for k in back] == [Unserialisable, str]


def test_a_marker_repr_with_lone_surrogates_is_valid_utf8() -> None:
    class Named:
        def __repr__(self) -> str:
            return f"<Named {SURROGATE_NAME}>"

    text, lossy = encode_key_value(Named())
    strict_json(text)
    assert lossy and "caf" in loads(text).repr


# ── damaged rows: a clear ValueError, never a raw TypeError/KeyError ───────────
@pytest.mark.parametrize(
    "text",
    [
        f'{{"{TAG}": "tuple"}}',
        f'{{"{TAG}": "bytes", "base64": "***"}}',
        f'{{"{TAG}": "int", "hex": "zz"}}',
        f'{{"{TAG}": "float", "value": "1e999x"}}',
        f'{{"{TAG}": "str", "surrogatepass": 3}}',
        f'{{"{TAG}": "dict", "items": [[[1, [2]], 3]]}}',
        f'{{"{TAG}": "datetime", "iso": "yesterday"}}',
    ],
)
def test_a_damaged_tagged_value_is_a_value_error_naming_its_kind(text: str) -> None:
    kind = json.loads(text)[TAG]
    with pytest.raises(ValueError, match=f"damaged '{kind}' value"):
        loads(text)


def test_an_unknown_tag_is_kept_as_the_object_it_is() -> None:
    text = f'{{"{TAG}": "from-a-newer-version", "x": 1}}'
    assert loads(text) == {TAG: "from-a-newer-version", "x": 1}
