"""A shared store as checkpoint JSON, warning once per key and run about values JSON cannot hold."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Mapping
from typing import Any

from ..store.codec import INT_BITS_LIMIT, dumps_store, encode_key_value, utf8_safe
from ..store.store import Store


def flat_copy(store: Any) -> dict[str, Any] | None:
    """A plain dict copy of ``store`` whose ``json.dumps(copy, ensure_ascii=False)`` is
    already its exact checkpoint (the common case), so the JSON text can be made later,
    off the flow's path. None when a key is not a str, a value is not a JSON scalar, or a
    scalar needs the codec: a str with lone surrogates, NaN/inf, an int too long for text."""
    if type(store) is not dict and not isinstance(store, Store):
        return None
    copy = dict.copy(store)
    # One pass with cheap type tests: on every node's path, faster than several C passes.
    for key, value in copy.items():
        kind = type(value)
        if kind is str:
            if not utf8_safe(value):
                return None
        elif kind is float:
            if value - value != 0.0:  # NaN and infinities give NaN
                return None
        elif kind is int:
            if value.bit_length() > INT_BITS_LIMIT:
                return None
        elif kind is not bool and value is not None:
            return None
        if type(key) is not str or not utf8_safe(key):
            return None
    return copy


def store_json(store: Any) -> tuple[str, list[str]]:
    """Checkpoint text of ``store`` (a Store, a dict, or anything else upstream accepts as
    ``shared``) and the keys saved as ``unserialisable`` markers."""
    if isinstance(store, Mapping):
        return dumps_store(store)
    # A non-mapping ``shared`` still gets a checkpoint: its encoding under one key.
    text, lossy = encode_key_value(store)
    return f'{{"shared": {text}}}', ["shared"] if lossy else []


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
