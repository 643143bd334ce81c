"""The one place that turns store values into JSON and back, for snapshots and checkpoints.

A value goes through the C ``json`` encoder when its text decodes back to an equal value
(the common case). Otherwise the Python path tags what JSON cannot say — tuples, sets,
bytes, datetimes, non-string keys, strings with lone surrogates, ints too long for
decimal text, NaN and infinities — so it comes back as it was. Anything else becomes an
explicit ``unserialisable`` marker (type and truncated repr) for that value only.
The text is always strict JSON (no ``NaN`` literals) and valid UTF-8.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

TAG = "__pocketflow_ext__"
REPR_LIMIT = 200
# Ints past this many bits may exceed sys.get_int_max_str_digits() (4300 digits by
# default) in some reader, so the Python path writes them in hex, which has no limit.
INT_BITS_LIMIT = 14_000

_SURROGATE = re.compile("[\ud800-\udfff]")
# One encoder for every call: json.dumps builds a new JSONEncoder whenever it is given
# options. allow_nan=False turns NaN/inf into an error, i.e. a trip to the Python path.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False)
# Its C encoder, made once: JSONEncoder.encode makes one per call, two thirds of the time
# for a small value (a checkpoint after every node). Without the cycle check: a cycle
# overflows the recursion limit instead, an error like any other to fast_json.
_MAKE_C_ENCODER = getattr(json.encoder, "c_make_encoder", None)  # None: no C accelerator
_C_ENCODE = (
    _MAKE_C_ENCODER(
        None,
        _ENCODER.default,
        json.encoder.encode_basestring,
        None,
        _ENCODER.key_separator,
        _ENCODER.item_separator,
        False,
        False,
        False,
    )
    if _MAKE_C_ENCODER is not None
    else None
)
_SCALARS = (str, int, float, bool, type(None))
_SCALAR_TYPES = frozenset(_SCALARS)
_STR = frozenset({str})


@dataclass(frozen=True)
class Unserialisable:
    """Stands in for a value that could not be saved as JSON (a client, a lock, ...)."""

    type_name: str
    repr: str

    def __str__(self) -> str:
        return f"<unserialisable {self.type_name}: {self.repr}>"


# ── encoding ──────────────────────────────────────────────────────────────────
def encode_key_value(value: Any) -> tuple[str, bool]:
    """JSON text of one value (a store key's value, or a key), and whether any part of it
    had to become an ``unserialisable`` marker. Never raises.

    This is the per-key encoder for checkpoints: ``loads(text)`` gives the value back.
    """
    text = fast_json(value)
    if text is not None:
        return text, False
    try:
        data, lossy = encode(value)
        return _ENCODER.encode(data), lossy
    except Exception:  # e.g. RecursionError on very deep nesting: only this value is lost
        return _ENCODER.encode(_marker(value)), True


def fast_json(value: Any) -> str | None:
    """``value``'s text from the C encoder when that text is exact, else None.

    The C encoder silently writes tuples as lists and ``1`` as the key ``"1"``, so a
    container's text is decoded again and compared: equal means nothing changed shape.
    It raises (and we return None) on NaN/inf, ints too long for decimal text, cycles and
    types it does not know.
    """
    try:
        text = "".join(_C_ENCODE(value, 0)) if _C_ENCODE is not None else _ENCODER.encode(value)
    except Exception:
        return None
    if not utf8_safe(text):  # lone surrogates cannot be stored as UTF-8 text
        return None
    if isinstance(value, _SCALARS):
        return text
    if TAG in text:  # a user dict holding our tag key must be escaped
        return None
    if _flat(value):  # nothing in it the encoder could reshape
        return text
    try:
        return text if json.loads(text) == value else None
    except Exception:
        return None


def utf8_safe(text: str) -> bool:
    """True when ``text`` has no lone surrogates, i.e. can be stored as UTF-8 as it is."""
    return text.isascii() or not _SURROGATE.search(text)  # isascii() is O(1) in CPython


def _flat(value: Any) -> bool:
    """A dict with str keys or a list, holding only JSON scalars (checked in C: map/issuperset)."""
    if isinstance(value, dict):
        return _STR.issuperset(map(type, value)) and _SCALAR_TYPES.issuperset(
            map(type, value.values())
        )
    return type(value) is list and _SCALAR_TYPES.issuperset(map(type, value))


def encode(value: Any, _active: set[int] | None = None) -> tuple[Any, bool]:
    """``value`` as JSON-ready data, and whether any part of it had to become a marker."""
    if value is None or value is True or value is False:
        return value, False
    if isinstance(value, str):
        if utf8_safe(value):
            return value, False
        raw = value.encode("utf-8", "surrogatepass")
        return {TAG: "str", "surrogatepass": base64.b64encode(raw).decode("ascii")}, False
    if isinstance(value, int):  # bool handled above
        if value.bit_length() <= INT_BITS_LIMIT:
            return value, False
        return {TAG: "int", "hex": hex(value)}, False
    if isinstance(value, float):
        if math.isfinite(value):
            return value, False
        return {TAG: "float", "value": repr(value)}, False  # 'nan', 'inf', '-inf'
    if isinstance(value, Unserialisable):
        return {TAG: "unserialisable", "type": value.type_name, "repr": value.repr}, True
    active = _active if _active is not None else set()
    if id(value) in active:  # a cycle cannot be JSON
        return _marker(value), True
    active.add(id(value))
    try:
        return _encode_container(value, active)
    finally:
        active.discard(id(value))


def _encode_container(value: Any, active: set[int]) -> tuple[Any, bool]:
    lossy = False

    def sub(item: Any) -> Any:
        nonlocal lossy
        encoded, item_lossy = encode(item, active)
        lossy = lossy or item_lossy
        return encoded

    if isinstance(value, list):
        return [sub(v) for v in value], lossy
    if isinstance(value, Mapping):
        if _plain_keys(value):
            return {k: sub(v) for k, v in value.items()}, lossy
        return {TAG: "dict", "items": [[sub(k), sub(v)] for k, v in value.items()]}, lossy
    if isinstance(value, tuple):
        return {TAG: "tuple", "items": [sub(v) for v in value]}, lossy
    if isinstance(value, (set, frozenset)):
        kind = "set" if isinstance(value, set) else "frozenset"
        return {TAG: kind, "items": [sub(v) for v in value]}, lossy
    if isinstance(value, (bytes, bytearray)):
        return {TAG: "bytes", "base64": base64.b64encode(bytes(value)).decode("ascii")}, False
    if isinstance(value, dt.datetime):
        return {TAG: "datetime", "iso": value.isoformat()}, False
    if isinstance(value, dt.date):
        return {TAG: "date", "iso": value.isoformat()}, False
    return _marker(value), True


def _plain_key(key: Any) -> bool:
    """True when ``key`` can be a JSON object key as it is (a str, not our tag, valid UTF-8)."""
    try:
        return isinstance(key, str) and key != TAG and utf8_safe(key)
    except Exception:  # isinstance itself fails on an object whose __class__ raises
        return False


def _plain_keys(mapping: Mapping[Any, Any]) -> bool:
    return all(map(_plain_key, mapping))


def _type_name(value: Any) -> str:
    cls = type(value)
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )


def _marker(value: Any) -> dict[str, Any]:
    try:
        text = repr(value)
    except Exception as exc:  # a broken __repr__ (or a too-deep one) must not break recording
        text = f"<repr failed: {type(exc).__name__}>"
    if _SURROGATE.search(text):
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(text) > REPR_LIMIT:
        text = text[: REPR_LIMIT - 3] + "..."
    return {TAG: "unserialisable", "type": _type_name(value), "repr": text}


def dumps_store(data: Mapping[Any, Any]) -> tuple[str, list[str]]:
    """JSON text of a store's data and the keys whose values were (partly) unserialisable.

    A store of scalars is one C-encoder pass. Otherwise each key is encoded on its own
    (as ``encode_key_value`` does), so one odd value sends only its own key down the slow
    path. Keys that are not plain strings make the whole mapping a tagged dict, so ``1``
    and ``"1"`` stay two keys.
    """
    if isinstance(data, dict) and TAG not in data and _flat(data):  # a Store is a dict
        try:  # nothing in a flat dict can change shape: no need to decode and compare
            text = _ENCODER.encode(data)
        except ValueError:  # NaN/inf or an int too long for text: per key below
            pass
        else:
            if utf8_safe(text):
                return text, []
    entries: list[tuple[Any, str]] = []
    lossy_keys: list[str] = []
    for key, value in list(data.items()):  # one view of the store even if a thread writes
        text, lossy = encode_key_value(value)
        entries.append((key, text))
        plain = _plain_key(key)
        if lossy or (not plain and encode_key_value(key)[1]):
            lossy_keys.append(key if plain else _safe_str(key))
    return store_text(entries), lossy_keys


def store_text(entries: Iterable[tuple[Any, str]]) -> str:
    """JSON text of a store from its keys and each value's text from ``encode_key_value``:
    what ``dumps_store`` writes, assembled without encoding the values again (a full
    checkpoint built from the per-key texts of earlier ones)."""
    entries = list(entries)
    if all(_plain_key(key) for key, _ in entries):
        return "{" + ", ".join(f"{_ENCODER.encode(key)}: {text}" for key, text in entries) + "}"
    pairs = ", ".join(f"[{encode_key_value(key)[0]}, {text}]" for key, text in entries)
    return f'{{"{TAG}": "dict", "items": [{pairs}]}}'


def _safe_str(key: Any) -> str:
    try:
        return str(key)
    except Exception:
        return f"<{_type_name(key)} key>"


# ── decoding ──────────────────────────────────────────────────────────────────
def loads(text: str) -> Any:
    """Parse JSON written by this module (or plain JSON), restoring tagged values.

    Raises ``ValueError`` (``json.JSONDecodeError`` included) for text that is not JSON
    or holds a damaged tagged value.
    """
    try:
        if TAG not in text:  # no tagged values: skip the per-object Python hook
            return json.loads(text)
        return json.loads(text, object_hook=_decode_tagged)
    except ValueError as exc:
        if "integer string conversion" not in str(exc):
            raise
    # An int longer than this process's digit limit (written by a process that raised its
    # limit): parse ints without the limit; Decimal conversion is not limited.
    hook = _decode_tagged if TAG in text else None
    return json.loads(text, object_hook=hook, parse_int=_long_int)


def _long_int(digits: str) -> int:
    import decimal

    return int(decimal.Decimal(digits))


_DECODERS: dict[str, Any] = {
    "tuple": lambda o: tuple(o["items"]),
    "set": lambda o: set(o["items"]),
    "frozenset": lambda o: frozenset(o["items"]),
    "dict": lambda o: {_hashable(k): v for k, v in o["items"]},
    "bytes": lambda o: base64.b64decode(o["base64"], validate=True),
    "datetime": lambda o: dt.datetime.fromisoformat(o["iso"]),
    "date": lambda o: dt.date.fromisoformat(o["iso"]),
    "str": lambda o: base64.b64decode(o["surrogatepass"], validate=True).decode(
        "utf-8", "surrogatepass"
    ),
    "int": lambda o: int(o["hex"], 16),
    "float": lambda o: float(_non_finite(o["value"])),
    "unserialisable": lambda o: Unserialisable(str(o.get("type", "?")), str(o.get("repr", ""))),
}


def _decode_tagged(obj: dict[str, Any]) -> Any:
    kind = obj.get(TAG)
    if kind is None:
        return obj
    decoder = _DECODERS.get(kind) if isinstance(kind, str) else None
    if decoder is None:
        return obj  # not one of ours (or from a newer version): keep the object as it is
    try:
        return decoder(obj)
    except Exception as exc:
        raise ValueError(
            f"damaged {kind!r} value in stored JSON ({type(exc).__name__}: {exc}); the "
            "row was not written by this version or was changed by hand"
        ) from None


def _non_finite(text: str) -> str:
    if text not in ("nan", "inf", "-inf"):
        raise ValueError(f"expected 'nan', 'inf' or '-inf', got {text!r}")
    return text


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key
