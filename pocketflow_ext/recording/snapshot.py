"""A shared store as checkpoint JSON, warning once per key and run about values JSON cannot hold."""

from __future__ import annotations

import json
import threading
import warnings
from collections.abc import Mapping
from typing import Any

from ..store.codec import dumps_store, encode
from ..store.store import Store

_SCALARS = frozenset({str, int, float, bool, type(None)})
_STR = frozenset({str})


def flat_copy(store: Any) -> dict[str, Any] | None:
    """A copy of the store that is already an exact snapshot, when every key is a str and
    every value an immutable JSON scalar (the common case); None otherwise."""
    data = store.as_dict() if isinstance(store, Store) else store
    if type(data) is not dict:
        return None
    copy = data.copy()
    # map/issuperset run in C: this check is on every node's path.
    if _SCALARS.issuperset(map(type, copy.values())) and _STR.issuperset(map(type, copy)):
        return copy
    return None


def store_json(store: Any) -> tuple[str, list[str]]:
    """Checkpoint text of ``store`` (a Store, a dict, or anything else upstream accepts as
    ``shared``) and the keys saved as ``unserialisable`` markers."""
    flat = flat_copy(store)
    if flat is not None:  # the codec would produce exactly this, only slower
        return json.dumps(flat, ensure_ascii=False), []
    data = store.as_dict() if isinstance(store, Store) else store
    if isinstance(data, Mapping):
        return dumps_store(data)
    # A non-mapping ``shared`` still gets a checkpoint: its encoding under one key.
    encoded, lossy = encode(data)
    return json.dumps({"shared": encoded}, ensure_ascii=False), ["shared"] if lossy else []


class LossyKeyWarnings:
    """Remembers which keys of a run were already reported, so each warns once."""

    __slots__ = ("_seen", "_lock")

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def report(self, keys: list[str], run_id: str, where: str) -> None:
        if not keys:
            return
        with self._lock:
            new = [k for k in keys if k not in self._seen]
            self._seen.update(new)
        for key in new:
            warnings.warn(
                f"run {run_id!r}: store key {key!r} is not JSON-serialisable; {where} holds an "
                "'unserialisable' marker (type and repr) for it instead of the value",
                UserWarning,
                stacklevel=2,
            )
