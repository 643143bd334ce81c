"""What a node's ``cache`` setting means: the :class:`Cache` policy and where entries live."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

from ..errors import CacheError
from ..graph import base_name
from ..recording.recorder import Recorder, process_recorder
from ..runstore.base import RunStore
from ..runstore.open import open_store, store_key
from ..stream.scope import Level, current_frame

ENV_VAR = "POCKETFLOW_EXT_CACHE_DB"
DEFAULT_DB = os.path.join(".pocketflow-ext", "cache.db")
"""Where entries go when the node runs outside any recorded flow and no ``db`` is set."""


@dataclass(frozen=True)
class Cache:
    """How a node's ``exec`` results are cached (``cache=Cache(...)``; ``cache=True`` is
    ``Cache()``).

    ``ttl``: seconds an entry stays valid (None: until cleared). ``version``: part of the
    key; bump it to invalidate what the code digest cannot see (a prompt file, a model
    upgrade). ``db``: the run store (file path or URL) holding the entries; by default
    the store of the recorded run the node is in, else ``$POCKETFLOW_EXT_CACHE_DB``,
    else ``.pocketflow-ext/cache.db`` in the working directory.
    """

    ttl: float | None = None
    version: str | int | None = None
    db: str | os.PathLike[str] | None = None

    def __post_init__(self) -> None:
        if self.ttl is not None and (
            isinstance(self.ttl, bool) or not isinstance(self.ttl, (int, float)) or self.ttl <= 0
        ):
            raise CacheError(
                f"cache ttl must be a number of seconds > 0 (or None), got {self.ttl!r}"
            )
        if self.version is not None and not isinstance(self.version, (str, int)):
            raise CacheError(f"cache version must be a str or int, got {self.version!r}")


def policy_of(node: Any) -> Cache:
    """The policy a node's ``cache``, ``cache_ttl`` and ``cache_version`` settings give."""
    setting = node.cache
    if setting is True:
        policy = Cache()
    elif isinstance(setting, Cache):
        policy = setting
    else:
        raise CacheError(
            f"cache of node {base_name(node)!r} must be True, False/None or a "
            f"pocketflow_ext.Cache(...), got {setting!r}"
        )
    ttl, version = getattr(node, "cache_ttl", None), getattr(node, "cache_version", None)
    if (ttl is not None and ttl != policy.ttl) or (
        version is not None and version != policy.version
    ):
        policy = Cache(
            ttl=ttl if ttl is not None else policy.ttl,
            version=version if version is not None else policy.version,
            db=policy.db,
        )
    return policy


def check_setting(node: Any) -> None:
    """Fail when a node is made, not when it first runs, for a bad cache setting."""
    if getattr(node, "cache", None):
        policy_of(node)


_opened: dict[tuple[int, str], RunStore] = {}
_opened_lock = threading.Lock()


_by_location: dict[tuple[int, str], RunStore] = {}  # as given: no path resolving per lookup


def _store_at(location: str | os.PathLike[str]) -> RunStore:
    given = (os.getpid(), os.fspath(location))
    store = _by_location.get(given)
    if store is not None:
        return store
    key = (os.getpid(), store_key(location))
    with _opened_lock:
        store = _opened.get(key)
        if store is None:
            store = _opened[key] = open_store(location)
        _by_location[given] = store
    return store


def store_for(policy: Cache) -> tuple[RunStore, Recorder | None]:
    """The run store holding this node's entries (see :class:`Cache`), and the recorder
    writing the current run into that store, if any (entries then go in with the node's
    own rows)."""
    if policy.db is not None:
        return _store_at(policy.db), None
    frame = current_frame()
    level = frame.level if frame is not None else None
    while level is not None:  # the recorded flow this node runs in, if any
        db = getattr(level.flow, "db", None)
        store = getattr(db, "store", None)
        if isinstance(store, RunStore) and not store.readonly:
            return store, _recorder_of(level, store)
        level = level.parent
    recorder = process_recorder()  # instrument(db_path=...)
    if recorder is not None and recorder.writer is not None:
        return recorder.writer.store, recorder
    return _store_at(os.environ.get(ENV_VAR) or DEFAULT_DB), None


def _recorder_of(level: Level, store: RunStore) -> Recorder | None:
    """The recorder subscribed to ``level``'s flow that writes into ``store``."""
    for _cut, entries in level.listeners:
        for kind, callback in entries:
            writer = getattr(callback, "writer", None)
            if kind is None and isinstance(callback, Recorder) and writer is not None:
                if writer.store is store:
                    return callback
    return None
