"""Answering a node's ``exec`` from the result cache, or computing and storing it.

Called in place of a cached node's ``exec`` (``nodes/cached.py``), so once per attempt
and per batch item. The key is a digest of the node's
identity, its code (``fingerprint.py``), ``version``, ``params`` and its input (the prep
result, or the batch item); the value is the codec's JSON text of what ``exec`` returned.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pocketflow

from ..errors import CacheError
from ..graph import base_name
from ..logging import get_logger
from ..recording.recorder import Recorder
from ..runstore.base import CachedValue, RunStore
from ..runstore.runs import iso
from ..store.codec import encode, encode_key_value, loads
from ..stream import dispatch
from ..stream.scope import current_frame
from .fingerprint import code_digest
from .policy import Cache, policy_of, store_for

_log = get_logger("cache")

clock: Callable[[], float] = time.time
"""Seconds since the epoch, for entry times and TTLs (tests replace it to move time)."""

_MISS = object()
_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


def _warn_once(node: Any, what: str, message: str) -> None:
    key = (base_name(node), what)
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    _log.warning("%s", message)


def _canonical(value: Any) -> str | None:
    """Exact, order-independent JSON text of an input, or None when it cannot be encoded
    (then it cannot be told apart from other inputs, and nothing is cached)."""
    data, lossy = encode(value)
    if lossy:
        return None
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _code_of(node: Any) -> tuple[str, Any, type | None]:
    """The node's identity and the code its results depend on."""
    function = getattr(type(node), "__wrapped__", None)  # a @node function
    if function is not None:
        return f"{function.__module__}.{function.__qualname__}", function, None
    # A cached node is an instance of its class's variant (nodes/variants.py): the code
    # is the class's own.
    made_of = getattr(type(node), "variant_of", None)
    cls = made_of[0] if made_of is not None else type(node)
    method = "exec_async" if isinstance(node, pocketflow.AsyncNode) else "exec"
    return f"{cls.__module__}.{cls.__qualname__}", getattr(cls, method), cls


class Entry:
    """One lookup: where the entry lives and under which key (None: not cacheable)."""

    __slots__ = ("store", "recorder", "key", "policy", "node_name")

    def __init__(
        self,
        store: RunStore | None,
        recorder: Recorder | None,
        key: str | None,
        policy: Cache,
        node_name: str,
    ) -> None:
        self.store, self.recorder, self.key = store, recorder, key
        self.policy, self.node_name = policy, node_name


def cache_key(node: Any, prep_res: Any, policy: Cache) -> str | None:
    """The entry key for ``node`` run on ``prep_res``, or None when the input cannot be encoded."""
    identity, code, owner = _code_of(node)
    text = _canonical(prep_res)
    if text is None:
        _warn_once(
            node,
            "input",
            f"node {base_name(node)!r}: its input (prep result) cannot be encoded as JSON, so "
            "its results are not cached; return plain data from prep to cache them",
        )
        return None
    params = getattr(node, "params", None)
    parts = [identity, code_digest(code, owner), policy.version, _canonical(params or {}), text]
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode("utf-8")).hexdigest()


def look_up(node: Any, prep_res: Any) -> tuple[Entry, Any]:
    """The entry for this execution and its cached value (``_MISS`` when there is none)."""
    policy = policy_of(node)
    name = base_name(node)
    key = cache_key(node, prep_res, policy)
    if key is None:
        return Entry(None, None, None, policy, name), _MISS
    store, recorder = store_for(policy)
    entry = Entry(store, recorder, key, policy, name)
    found = store.cache_get(key)
    if found is None:
        return entry, _MISS
    if found.expires_at is not None and found.expires_at <= iso(clock()):
        return entry, _MISS
    try:
        value = loads(found.value_text)
    except ValueError as exc:
        raise CacheError(
            f"the cached result of node {name!r} in {store.location} is damaged ({exc}); "
            f"clear it: pocketflow-ext cache clear --db {store.location} --node {name}"
        ) from None
    frame = current_frame()
    if frame is not None and frame.node is not None:
        dispatch.cache_hit(frame)
    return entry, value


def save(node: Any, entry: Entry, value: Any) -> None:
    """Store ``value`` (what ``exec`` returned) under the entry's key, if it can be encoded."""
    if entry.key is None or entry.store is None:
        return
    text, lossy = encode_key_value(value)
    if lossy:
        _warn_once(
            node,
            "value",
            f"node {entry.node_name!r} returned a value that cannot be encoded as JSON "
            f"({type(value).__name__}), so it is not cached; return plain data to cache it",
        )
        return
    now = clock()
    ttl = entry.policy.ttl
    row = CachedValue(
        entry.key, entry.node_name, text, iso(now), iso(now + ttl) if ttl is not None else None
    )
    frame = current_frame()
    if entry.recorder is not None and frame is not None:
        # A recorded run: the entry is committed with the node's own rows (one commit).
        if entry.recorder.add_rows(frame.level.run.run_id, [row]):
            return
    entry.store.cache_put(row.key, row.node, row.value_text, row.created_at, row.expires_at)


def cached_call(node: Any, prep_res: Any, call: Callable[[Any], Any]) -> Any:
    """``call(prep_res)`` (the node's own ``exec``) unless the cache answers; its result is
    saved. An exception from ``call`` propagates and nothing is saved."""
    entry, value = look_up(node, prep_res)
    if value is not _MISS:
        return value
    value = call(prep_res)
    save(node, entry, value)
    return value


async def cached_call_async(node: Any, prep_res: Any, call: Callable[[Any], Awaitable[Any]]) -> Any:
    """:func:`cached_call` for ``exec_async`` (the store is read and written synchronously)."""
    entry, value = look_up(node, prep_res)
    if value is not _MISS:
        return value
    value = await call(prep_res)
    save(node, entry, value)
    return value
