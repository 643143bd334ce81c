"""A shared store as checkpoint JSON, warning once per key and run about values JSON cannot hold."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Mapping
from typing import Any

from ..store.codec import dumps_store, encode_key_value


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
