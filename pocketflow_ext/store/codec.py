"""The one place that turns store values into JSON and back, for snapshots and checkpoints.

Plain JSON types pass through. Tuples, sets, bytes, datetimes and dicts with non-string
keys are tagged so they come back as they were. Anything else becomes an explicit
``unserialisable`` marker carrying its type and a truncated repr, never a crash.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TAG = "__pocketflow_ext__"
REPR_LIMIT = 200


@dataclass(frozen=True)
class Unserialisable:
    """Stands in for a value that could not be saved as JSON (a client, a lock, ...)."""

    type_name: str
    repr: str

    def __str__(self) -> str:
        return f"<unserialisable {self.type_name}: {self.repr}>"


def _type_name(value: Any) -> str:
    cls = type(value)
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )


def _marker(value: Any) -> dict[str, Any]:
    try:
        text = repr(value)
    except Exception as exc:  # a broken __repr__ must not break recording
        text = f"<repr failed: {type(exc).__name__}>"
    if len(text) > REPR_LIMIT:
        text = text[: REPR_LIMIT - 3] + "..."
    return {TAG: "unserialisable", "type": _type_name(value), "repr": text}


def encode(value: Any, _active: set[int] | None = None) -> tuple[Any, bool]:
    """``value`` as JSON-ready data, and whether any part of it had to become a marker."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value, False
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
        if all(isinstance(k, str) for k in value) and TAG not in value:
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


def _decode_tagged(obj: dict[str, Any]) -> Any:
    kind = obj.get(TAG)
    if kind is None:
        return obj
    if kind == "tuple":
        return tuple(obj["items"])
    if kind == "set":
        return set(obj["items"])
    if kind == "frozenset":
        return frozenset(obj["items"])
    if kind == "dict":
        return {_hashable(k): v for k, v in obj["items"]}
    if kind == "bytes":
        return base64.b64decode(obj["base64"])
    if kind == "datetime":
        return dt.datetime.fromisoformat(obj["iso"])
    if kind == "date":
        return dt.date.fromisoformat(obj["iso"])
    if kind == "unserialisable":
        return Unserialisable(obj.get("type", "?"), obj.get("repr", ""))
    return obj


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


def dumps_store(data: Mapping[str, Any]) -> tuple[str, list[str]]:
    """JSON text of a store's data and the keys whose values were (partly) unserialisable.

    Keys that are not strings (or the tag itself) make the whole mapping a tagged dict, so
    ``1`` and ``"1"`` stay two keys and come back as they were.
    """
    lossy_keys: list[str] = []
    if all(isinstance(key, str) for key in data) and TAG not in data:
        out: dict[str, Any] = {}
        for key, value in data.items():
            out[key], lossy = encode(value)
            if lossy:
                lossy_keys.append(key)
        return json.dumps(out, ensure_ascii=False), lossy_keys
    items = []
    for key, value in data.items():
        (encoded_key, key_lossy), (encoded, lossy) = encode(key), encode(value)
        items.append([encoded_key, encoded])
        if key_lossy or lossy:
            lossy_keys.append(str(key))
    return json.dumps({TAG: "dict", "items": items}, ensure_ascii=False), lossy_keys


def loads(text: str) -> Any:
    """Parse JSON written by this module (or plain JSON), restoring tagged values."""
    return json.loads(text, object_hook=_decode_tagged)
