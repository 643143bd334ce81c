"""Delta checkpoints: what each node end of a recorded run writes, a full snapshot or what changed.

A run's first checkpoint is a *full* snapshot; later ones are *deltas* holding only the
top-level keys that changed (and the keys removed) since the checkpoint before, with a
new full snapshot whenever the chain of deltas since the last one would cost more to
read back than the full itself. The rows' format and how a reader rebuilds the store
are in ``runstore/checkpoints.py``; ``docs/persistence.md`` describes both.
"""

from __future__ import annotations

import marshal
import threading
from collections.abc import Mapping
from itertools import compress
from operator import is_not
from typing import Any, NamedTuple

from ..runstore.checkpoints import DELTA, FULL, MAX_CHAIN
from ..store.codec import encode_key_value, fast_json, store_text

ROW_COST_BYTES = 1024
"""What reading one more checkpoint row back costs, counted in bytes of JSON. A delta row
costs a few µs to load (its index lookup and its share of one batched ``json.loads``),
what one to three KiB of JSON cost to decode; with 1 KiB, loading the last step of the
longest chain of a 1 MB store takes about twice as long as loading its full snapshot."""
LOAD_FLOOR_BYTES = 64 * 1024
"""A chain of deltas may always cost this much to read back, however small the store:
below it loading takes a fraction of a millisecond, and a full snapshot after every few
nodes of a small store would only make the database bigger."""

_MISSING: Any = object()
Found = tuple[Any, "bytes | None", "str | None", bool]
"""What ``_examine`` found: (fingerprint, marshal bytes, JSON text, lossy)."""
_SCALARS = frozenset({str, int, float, bool, type(None), bytes})
_NUMBERS = frozenset({int, float, bool, type(None)})
_SIZED = frozenset({str, bytes})
# marshal's format 2 writes no back-references, so the bytes depend only on the values,
# never on reference counts or string interning (formats 3 and 4 depend on both).
_MARSHAL_VERSION = 2


class CheckpointText(NamedTuple):
    """A checkpoint rendered for storage (the columns of its row): ``store_json`` is the
    whole store (full) or the changed keys (delta); ``deleted_json`` the JSON list of
    removed keys (delta only); ``parent_step`` the checkpoint a delta applies to. A named
    tuple (immutable, built in C): one is made after every node."""

    kind: str
    parent_step: int | None
    store_json: str
    deleted_json: str | None
    lossy: tuple[str, ...]
    """Keys written as ``unserialisable`` markers in this checkpoint."""


class StoreCapture:
    """What one node end changed, captured on the flow's thread; text comes from ``render``.

    Holds the entries it writes as they were (immutable values by reference) and
    ``marshal`` bytes of the mutable ones, so it can be rendered later on another thread
    (``async`` and ``exit`` durability) and still show the store as it was at this node
    end. A delta holds only what changed, so rows waiting to be written take memory in
    proportion to the changes, not to the store.
    """

    __slots__ = (
        "kind",
        "step",
        "parent_step",
        "_values",
        "_examined",
        "_deleted",
        "_text",
        "size",
    )

    def __init__(
        self,
        kind: str,
        step: int,
        parent_step: int | None,
        values: dict[Any, Any],
        examined: dict[Any, Found] | None = None,
        deleted: list[Any] | None = None,
        text: CheckpointText | None = None,
        size: int = 0,
    ) -> None:
        self.kind = kind
        self.step = step
        self.parent_step = parent_step
        self._values = values  # the entries written, in store order
        self._examined = examined
        self._deleted = deleted
        self._text = text
        # About the bytes of JSON it renders to (the tracker's estimate, no encoding):
        # what the async queue's and exit mode's bounds count while it waits.
        self.size = size

    def __repr__(self) -> str:
        return (
            f"<StoreCapture {self.kind} step={self.step} parent={self.parent_step} "
            f"keys={len(self._values)} deleted={len(self._deleted or ())}>"
        )

    @property
    def keys(self) -> list[Any]:
        """The keys this checkpoint writes (all of them for a full snapshot)."""
        return list(self._values)

    @property
    def deleted(self) -> list[Any]:
        return list(self._deleted or ())

    def render(self, live: bool = False) -> CheckpointText:
        """The checkpoint as JSON text.

        ``live=True`` encodes mutable values from the store itself instead of from the
        captured bytes: cheaper, and right only while the store is still as captured (the
        flow's thread, before the next node runs).
        """
        if self._text is not None:
            return self._text
        deleted = None
        if self.kind == DELTA:
            removed = self._deleted
            # Nearly every delta removes nothing.
            deleted = (
                "[" + ", ".join(encode_key_value(k)[0] for k in removed) + "]" if removed else "[]"
            )
        if not self._examined:
            # Only immutable values: the C encoder writes them all at once when that text
            # is exact (the same text as key by key below), as it nearly always is.
            whole = fast_json(self._values)
            if whole is not None:
                return CheckpointText(self.kind, self.parent_step, whole, deleted, ())
        examined = self._examined or {}
        pairs: list[tuple[Any, str]] = []
        lossy: list[str] = []
        for key, value in self._values.items():
            found = examined.get(key)
            if found is not None and found[2] is not None:  # compared by its JSON already
                text, was_lossy = found[2], found[3]
            else:
                if found is not None and not live:
                    value = marshal.loads(found[1])  # type: ignore[arg-type]
                text, was_lossy = encode_key_value(value)
            if was_lossy:
                lossy.append(str(key))
            pairs.append((key, text))
        return CheckpointText(self.kind, self.parent_step, store_text(pairs), deleted, tuple(lossy))


class CheckpointTracker:
    """Decides, at each node end of one run, whether to write a full snapshot or a delta.

    Change detection, cheapest first: a value that is the same object as at the previous
    checkpoint and deeply immutable (str, int, float, bool, None, bytes, tuples and
    frozensets of those) is unchanged, found by identity in C; every other value is
    fingerprinted (``marshal`` bytes, hashed) so in-place changes such as
    ``store["items"].append(x)`` are caught; values ``marshal`` refuses (objects,
    subclasses, cycles) are encoded to JSON and that text is compared instead.

    The Store's own write tracking is asked only when the store promises that values
    change only by writes (``Store(..., in_place="declared")``, where ``store.touch(key)``
    declares an in-place change): then a mutable value that was not written and is still
    the same object is taken as unchanged without reading it. Otherwise tracking cannot
    replace the content check (an in-place ``append`` is no write), and identity already
    finds replaced immutable values in C. Plain dicts work the same way.

    One tracker per recorded run; ``capture`` may be called from several threads.
    """

    def __init__(
        self,
        *,
        row_cost: int = ROW_COST_BYTES,
        load_floor: int = LOAD_FLOOR_BYTES,
        max_chain: int = MAX_CHAIN,
    ) -> None:
        self.row_cost = row_cost
        self.load_floor = load_floor
        self.max_chain = max_chain
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._prev: dict[Any, Any] | None = None  # the store (shallow) at the last checkpoint
        self._keys: list[Any] = []
        self._prints: dict[Any, Any] = {}  # fingerprints of the values that are not immutable
        self._last_step: int | None = None
        self._full_size = 0
        self._chain_rows = 0
        self._chain_cost = 0

    def invalidate(self) -> None:
        """Make the next checkpoint a full snapshot (call when a written checkpoint was lost,
        so no later delta builds on it)."""
        with self._lock:
            self._reset()

    def capture(self, shared: Any, step: int) -> StoreCapture:
        """What the checkpoint after node execution ``step`` holds."""
        with self._lock:
            # A Store declared to change values only by writes (in_place="declared"):
            # its write tracking says which values to compare, taken before the copy so
            # a write made meanwhile is seen now or next time, never lost.
            declared: set[Any] | None = None
            if type(shared) is not dict and getattr(shared, "in_place", None) == "declared":
                shared.start_tracking()
                declared = shared.take_written()
            data = shared.copy() if type(shared) is dict else _data_of(shared)
            if data is None:  # a non-mapping ``shared``: always one full snapshot
                self._reset()
                text, was_lossy = encode_key_value(shared)
                rendered = CheckpointText(
                    FULL,
                    None,
                    store_text([("shared", text)]),
                    None,
                    ("shared",) if was_lossy else (),
                )
                return StoreCapture(FULL, step, None, {}, text=rendered, size=len(text))
            prev, keys = self._prev, list(data)
            if prev is None:
                capture = self._full(data, keys, step, {})
            elif keys == self._keys and not self._prints:
                capture = self._capture_immutable(data, prev, keys, step)
            else:
                capture = self._capture_any(data, keys, step, declared)
            self._last_step = step
            return capture

    def _capture_immutable(
        self, data: dict[Any, Any], prev: dict[Any, Any], keys: list[Any], step: int
    ) -> StoreCapture:
        """The common case, kept short (it runs after every node): the same keys as last
        time, and only immutable values then. Replaced values are found in C."""
        written = {}
        size = 0
        for key in compress(keys, map(is_not, data.values(), prev.values())):
            value = written[key] = data[key]
            cls = type(value)
            if cls is str:
                size += len(value)
            elif cls in _NUMBERS:
                size += 24
            elif cls is not bytes:  # a tuple, or a mutable value: fingerprints needed
                return self._capture_any(data, keys, step)
            else:
                size += _size_of(value)
        if not self._extend(size):
            return self._full(data, keys, step, {})
        self._prev, self._keys = data, keys
        return StoreCapture(DELTA, step, self._last_step, written, size=size)

    def _capture_any(
        self, data: dict[Any, Any], keys: list[Any], step: int, declared: set[Any] | None = None
    ) -> StoreCapture:
        """``declared``: the keys written since the last capture, when the store promises
        that values change only by writes; other values that are still the same object
        are then taken as unchanged without comparing their content."""
        prev, prints = self._prev, self._prints
        assert prev is not None
        # 1. Keys whose value is no longer the same object, found in C when the keys are
        # the same, in the same order, as last time.
        order_kept = True
        if keys == self._keys:
            deleted: list[Any] = []
            moved = list(compress(keys, map(is_not, data.values(), prev.values())))
        else:
            deleted = [key for key in self._keys if key not in data]
            survivors = [key for key in self._keys if key in data]
            added = [key for key in keys if key not in prev]
            # A delta appends new keys at the end; any other reordering needs a full.
            order_kept = survivors + added == keys
            moved = [key for key in keys if prev.get(key, _MISSING) is not data[key]]
        # 2. Fingerprint every value that is not immutable (the same object may have
        # changed in place; a new object may hold the same content).
        examined: dict[Any, Found] = {}
        changed: set[Any] = set()
        moved_set = set(moved)
        for key, old_print in prints.items():
            if key in moved_set or key not in data:
                continue
            if declared is not None and key not in declared:
                continue  # not written: unchanged, as the store promises
            found = examined[key] = _examine(data[key])
            if found[0] != old_print:
                changed.add(key)
        size = 8 * len(deleted)
        for key in moved:
            value = data[key]
            if _immutable(value):
                changed.add(key)
                size += _size_of(value)
                continue
            found = examined[key] = _examine(value)
            if found[0] != prints.get(key, _MISSING):
                changed.add(key)
        if not order_kept:
            return self._full(data, keys, step, examined)
        size += sum(_found_size(examined[key]) for key in changed if key in examined)
        if not self._extend(size):
            return self._full(data, keys, step, examined)
        self._remember(data, keys, examined)
        written = {key: data[key] for key in keys if key in changed}  # store order
        return StoreCapture(DELTA, step, self._last_step, written, examined, deleted, size=size)

    def _extend(self, size: int) -> bool:
        """Add a delta of about ``size`` bytes to the chain, unless a full is due instead."""
        cost = self._chain_cost + size + self.row_cost
        if self._chain_rows >= self.max_chain or cost > max(self._full_size, self.load_floor):
            return False
        self._chain_rows += 1
        self._chain_cost = cost
        return True

    def _full(
        self,
        data: dict[Any, Any],
        keys: list[Any],
        step: int,
        examined: dict[Any, Found],
    ) -> StoreCapture:
        size = 0
        for key in keys:
            value = data[key]
            found: Found | None = examined.get(key)
            if found is None and not _immutable(value):
                found = examined[key] = _examine(value)
            size += _size_of(value) if found is None else _found_size(found)
        self._full_size = size
        self._chain_rows = 0
        self._chain_cost = 0
        self._prints = {}
        self._remember(data, keys, examined)
        return StoreCapture(FULL, step, None, data, examined, size=size)

    def _remember(
        self,
        data: dict[Any, Any],
        keys: list[Any],
        examined: dict[Any, Found],
    ) -> None:
        prints = self._prints
        for key in list(prints):
            if key not in data or key not in examined and _immutable(data[key]):
                del prints[key]
        for key, found in examined.items():
            prints[key] = found[0]
        self._prev = data
        self._keys = keys


def immutable_copy(shared: Any) -> dict[Any, Any] | None:
    """A copy of the store's entries if every value is immutable, else None.

    Such a copy can be handed to :meth:`CheckpointTracker.capture` later, on another
    thread, with the same result: ``async`` and ``exit`` durability leave the flow's thread
    just this copy and a type check in C.
    """
    if not isinstance(shared, dict):  # a Store is a dict holding its own entries
        return None
    copy = dict.copy(shared)
    return copy if _SCALARS.issuperset(map(type, copy.values())) else None


def copy_size(copy: dict[Any, Any]) -> int:
    """About the bytes of JSON an :func:`immutable_copy` holds: the length of its strings
    and bytes (what its bounds count while it waits for the writer). It runs on the flow's
    thread after every node: the other values are not counted (a number is a few bytes)."""
    return sum(map(len, [v for v in copy.values() if type(v) in _SIZED]))


def _data_of(shared: Any) -> dict[Any, Any] | None:
    """A shallow copy of the store's entries (a Store, a dict, any mapping), or None."""
    if type(shared) is dict:
        return shared.copy()
    if isinstance(shared, Mapping):
        return dict(shared)
    return None


def _immutable(value: Any) -> bool:
    cls = type(value)
    if cls in _SCALARS:
        return True
    if cls is tuple or cls is frozenset:
        try:
            return all(map(_immutable, value))
        except RecursionError:
            return False
    return False


def _examine(value: Any) -> Found:
    """What identifies the content of a value that may change in place."""
    try:
        blob = marshal.dumps(value, _MARSHAL_VERSION)
    except Exception:  # objects, subclasses, cycles: compare the JSON text instead
        text, lossy = encode_key_value(value)
        return ("json", hash(text)), None, text, lossy
    return hash(blob), blob, None, False


def _found_size(found: Found) -> int:
    text = found[2]
    return len(text) if text is not None else len(found[1] or b"")


def _size_of(value: Any) -> int:
    """About how many bytes of JSON an immutable value becomes (no encoding)."""
    cls = type(value)
    if cls is str:
        return len(value)
    if cls is int:
        return value.bit_length() // 3 + 1
    if cls in _NUMBERS:
        return 8
    if cls is bytes:
        return len(value) * 4 // 3 + 40
    try:
        return len(marshal.dumps(value, _MARSHAL_VERSION))
    except Exception:
        return 64
