"""Store: typed, observable shared state that is a plain ``dict`` holding its own data."""

from __future__ import annotations

import copy
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from pathlib import Path
from typing import Any

from ..errors import StoreTypeError, StoreValidationError
from ..logging import get_logger
from .codec import Unserialisable, dumps_store, loads
from .schema import Schema, SchemaType, type_label

_log = get_logger("store")

Observer = Callable[[str, Any, Any], Any]


class _Missing:
    """Passed to observers as ``old`` for a new key and as ``new`` for a removed one."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<missing>"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "MISSING"


MISSING = _Missing()
IN_PLACE_MODES = ("detect", "declared")

# Bound once: the write path calls these on every write, and a module global is a cheaper
# lookup than ``dict.__setitem__`` or ``super()``.
_dict_setitem = dict.__setitem__
_dict_get = dict.get


class Store(dict):
    """A dict whose writes are type-checked against an optional schema and observed.

    The data lives in the dict itself, so every library that accepts a dict (json,
    orjson, msgspec, pickle, pandas, pydantic) sees exactly the store's data. Reads are
    plain dict reads; every write method checks the schema first, then notifies observers.

    ``Store(data)`` copies ``data``'s entries and then writes through to ``data``: every
    write made through the Store is applied to ``data`` too, so the caller's dict ends up
    with the run's results. Writes made to ``data`` directly are not seen by the Store.

    >>> shared = {"query": ""}
    >>> store = Store(shared, schema={"query": str})
    >>> store["query"] = "hello"; shared["query"]
    'hello'
    """

    MISSING = MISSING
    # Slots, not an instance __dict__: a dict subclass's attribute reads are several times
    # slower through __dict__, and every node writes the store. ``_plain`` is True while no
    # observer, write-through target or write tracking is set: the write path then costs a
    # schema look-up and one dict store.
    __slots__ = (
        "_types",
        "_schema",
        "_name",
        "_observers",
        "_origin",
        "_written",
        "_plain",
        "_in_place",
    )

    def __init__(
        self,
        data: MutableMapping[str, Any] | None = None,
        schema: Mapping[str, Any] | type | None = None,
        name: str = "store",
        in_place: str = "detect",
    ) -> None:
        super().__init__()
        if in_place not in IN_PLACE_MODES:
            raise ValueError(
                f"Store in_place must be one of {', '.join(map(repr, IN_PLACE_MODES))}, got "
                f"{in_place!r}: 'detect' (the default) finds values changed in place, "
                "'declared' trusts store[key] = ... and store.touch(key) to say what changed"
            )
        self._in_place = in_place
        if data is not None and not isinstance(data, MutableMapping):
            raise TypeError(
                f"Store data must be a dict (or another mutable mapping), got "
                f"{type(data).__name__}; wrap it with dict(...) first"
            )
        if not isinstance(name, str):
            raise TypeError(f"Store name must be a string, got {type(name).__name__}")
        self._schema = Schema(schema)
        self._types = self._schema.types
        self._name = name
        self._observers: tuple[Observer, ...] = ()
        self._origin: MutableMapping[str, Any] | None = data
        self._written: set[Any] | None = None
        self._refresh()
        if data:
            for key, value in data.items():
                self._check(key, value)
            dict.update(self, data)

    def _refresh(self) -> None:
        self._plain = not (self._observers or self._origin is not None or self._written is not None)

    # ── identity ─────────────────────────────────────────────────────────────
    @property
    def name(self) -> str:
        return self._name

    @property
    def schema(self) -> dict[Any, SchemaType] | type:
        """The schema as given: ``{key: type}`` (a copy) or the pydantic model class."""
        return self._schema.described()

    def as_dict(self) -> dict[str, Any]:
        """A plain ``dict`` with the store's entries (shallow copy), for code that insists
        on ``type(x) is dict``. Writes to it do not reach the Store."""
        return dict.copy(self)

    def __repr__(self) -> str:
        return f"Store({dict.__repr__(self)}, name={self._name!r})"

    # ── writes: every path checks the schema, then notifies observers ─────────
    def _check(self, key: Any, value: Any) -> None:
        expected = self._types.get(key)
        if expected is None or isinstance(value, expected) or isinstance(value, Unserialisable):
            return
        field = self._schema.checks.get(key)
        if field is not None:
            problem = field.problem(value)
            if problem is None:
                return
            raise StoreTypeError(
                f"store {self._name!r}: key {key!r} expects {field.label}, got "
                f"{type(value).__name__} ({_short(value)}): {problem}; convert the value or "
                f"change the type of field {key!r} in {field.model}"
            )
        raise StoreTypeError(
            f"store {self._name!r}: key {key!r} expects {type_label(expected)}, got "
            f"{type(value).__name__} ({_short(value)}); convert the value or widen the "
            f"schema, e.g. schema={{{key!r}: ({type_label(expected).replace(' | ', ', ')}, "
            f"{type(value).__name__})}}"
        )

    def _written_to(self, key: Any, old: Any, new: Any) -> None:
        """Everything after a write to the dict itself: tracking, then observers."""
        if self._written is not None:
            self._written.add(key)
        for observer in self._observers:
            try:
                observer(key, old, new)
            except Exception:
                self._observer_failed(observer, key)

    def _observer_failed(self, observer: Observer, key: Any) -> None:
        _log.exception(
            "store %r: observer %r raised on key %r; the write stands", self._name, observer, key
        )

    def __setitem__(self, key: str, value: Any) -> None:
        # The hot path (every node writes), with _written_to inlined: the full check only
        # runs when the type is off.
        expected = self._types.get(key)
        if expected is not None and not isinstance(value, expected):
            self._check(key, value)
        if self._plain:
            _dict_setitem(self, key, value)
            return
        origin = self._origin
        if origin is not None:  # first: a refusing origin leaves both unchanged
            origin[key] = value
        observers = self._observers
        if observers:
            old = _dict_get(self, key, MISSING)
            _dict_setitem(self, key, value)
            if self._written is not None:
                self._written.add(key)
            for observer in observers:
                try:
                    observer(key, old, value)
                except Exception:
                    self._observer_failed(observer, key)
        else:
            _dict_setitem(self, key, value)
            if self._written is not None:
                self._written.add(key)

    def _remove(self, key: Any, old: Any) -> None:
        if self._origin is not None:
            self._origin.pop(key, None)
        self._written_to(key, old, MISSING)

    def __delitem__(self, key: str) -> None:
        old = dict.pop(self, key)
        self._remove(key, old)

    def update(self, *args: Any, **kwargs: Any) -> None:
        if len(args) > 1:
            raise TypeError(f"update expected at most 1 positional argument, got {len(args)}")
        pairs = list(_pairs(args[0]) if args else []) + list(kwargs.items())
        for key, value in pairs:  # check all first: a bad value leaves the store unchanged
            self._check(key, value)
        for key, value in pairs:
            self[key] = value

    def __ior__(self, other: Any) -> Store:  # type: ignore[misc]
        self.update(other)
        return self

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key in self:
            return _dict_get(self, key)
        self[key] = default
        return default

    def pop(self, key: str, *default: Any) -> Any:
        if key not in self:
            if default:
                return default[0]
            raise KeyError(key)
        old = dict.pop(self, key)
        self._remove(key, old)
        return old

    def popitem(self) -> tuple[str, Any]:
        if not self:
            raise KeyError(f"popitem(): store {self._name!r} is empty")
        key, old = dict.popitem(self)
        self._remove(key, old)
        return key, old

    def clear(self) -> None:
        removed = list(self.items())
        dict.clear(self)
        for key, old in removed:
            self._remove(key, old)

    # ── observers ─────────────────────────────────────────────────────────────
    def add_observer(self, callback: Observer) -> None:
        """Call ``callback(key, old, new)`` after every write (``Store.MISSING`` for absent)."""
        if not callable(callback):
            raise TypeError(
                f"observer must be callable as callback(key, old, new), got {type(callback).__name__}"
            )
        self._observers = (*self._observers, callback)
        self._refresh()

    def remove_observer(self, callback: Observer) -> None:
        if callback not in self._observers:
            raise ValueError(f"store {self._name!r}: {callback!r} is not a registered observer")
        self._observers = tuple(o for o in self._observers if o is not callback)
        self._refresh()

    @property
    def in_place(self) -> str:
        """How recording finds values changed in place (``docs/persistence.md``):
        ``"detect"`` compares every list/dict value after each node; ``"declared"``
        trusts that a value changes only by ``store[key] = ...`` or ``store.touch(key)``."""
        return self._in_place

    def touch(self, key: str) -> None:
        """Say that the value of ``key`` was changed in place (``store["xs"].append(1)``),
        so recording writes it (needed with ``in_place="declared"``; harmless otherwise)."""
        if not dict.__contains__(self, key):
            raise KeyError(f"store {self._name!r}: touch({key!r}): no such key; set it first")
        if not self._plain:
            value = dict.__getitem__(self, key)
            self._written_to(key, value, value)

    # ── write tracking (internal: used by recording for delta checkpoints) ────
    def start_tracking(self) -> None:
        """Remember the top-level keys written or removed through the Store from now on.

        Internal API for recording. Costs nothing until called; calling it again keeps
        the keys gathered so far. Writes that bypass the Store (``dict.__setitem__(store,
        ...)``) and in-place changes to a value (``store["xs"].append(1)``) are not seen.
        """
        if self._written is None:
            self._written = set()
            self._refresh()

    def take_written(self) -> set[Any]:
        """The keys written or removed since the last call (or since ``start_tracking``).

        Safe against writes from other threads: a key written while this runs is either
        returned now or kept for the next call, never lost.
        """
        written = self._written
        if written is None:
            raise RuntimeError(f"store {self._name!r}: take_written() needs start_tracking() first")
        taken: set[Any] = set()
        # Pop one key at a time instead of swapping the set: a writer that already holds
        # the old set would otherwise add to it after we returned.
        while written:
            try:
                taken.add(written.pop())
            except KeyError:
                break
        return taken

    def stop_tracking(self) -> None:
        """Forget write tracking (the write path is back to its untracked cost)."""
        self._written = None
        self._refresh()

    # ── validation ──────────────────────────────────────────────────────────
    def validate(self) -> Store:
        """Raise if a required schema key is missing or a value (written around the Store,
        e.g. with ``dict.__setitem__``) has the wrong type."""
        missing = [k for k in self._schema.required if k not in self]
        if missing:
            raise StoreValidationError(
                f"store {self._name!r}: required key(s) missing: {', '.join(map(repr, missing))}; "
                "set them before running the flow"
            )
        for key, value in self.items():
            self._check(key, value)
        return self

    # ── copies and pickling ─────────────────────────────────────────────────
    def copy(self) -> Store:
        """A new Store with the same entries (shallow) and schema; no observers, and writes
        to the copy are not written through to the original's dict."""
        return _detached(
            type(self), dict.copy(self), self._schema.reduced(), self._name, self._in_place
        )

    __copy__ = copy

    def __deepcopy__(self, memo: dict[int, Any]) -> Store:
        clone = type(self)(None, self._schema.reduced(), self._name, in_place=self._in_place)
        memo[id(self)] = clone  # a store that contains itself copies to a clone containing itself
        dict.update(clone, copy.deepcopy(dict.copy(self), memo))
        return clone

    def __reduce__(self) -> tuple[Any, ...]:
        args = (type(self), dict.copy(self), self._schema.reduced(), self._name, self._in_place)
        return (_detached, args)

    # ── JSON snapshots ────────────────────────────────────────────────────────
    def snapshot(self, path: str | os.PathLike[str]) -> Path:
        """Write the store to ``path`` as JSON, atomically (never a half-written file).

        Values JSON cannot hold are written as explicit ``unserialisable`` markers with
        their type and repr, and a warning names their keys.
        """
        text, lossy = dumps_store(self)
        if lossy:
            warnings.warn(
                f"store {self._name!r}: key(s) {', '.join(map(repr, lossy))} are not JSON-"
                "serialisable and were saved as markers (type and repr only)",
                stacklevel=2,
            )
        payload = f'{{"name": {json.dumps(self._name)}, "data": {text}}}'
        return write_atomically(Path(path), payload)

    @classmethod
    def restore(
        cls, path: str | os.PathLike[str], schema: Mapping[str, Any] | type | None = None
    ) -> Store:
        """Load a snapshot written by ``snapshot`` (or by PocoFlow)."""
        path = Path(path)
        try:
            payload = loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(f"no store snapshot at {path}") from None
        except ValueError as exc:
            raise ValueError(f"{path} is not a store snapshot (invalid JSON: {exc})") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
            raise ValueError(f"{path} is not a store snapshot: expected an object with 'data'")
        return _detached(cls, payload["data"], schema, payload.get("name", "store"))


def _detached(
    cls: type[Store], data: dict[Any, Any], schema: Any, name: str, in_place: str = "detect"
) -> Store:
    """A Store owning ``data`` (checked against ``schema``), writing through to nothing:
    copies, restored snapshots and unpickled stores have no caller's dict to update.
    (``in_place`` defaults for pickles made before it travelled.)"""
    store = cls(None, schema, name, in_place=in_place)
    for key, value in data.items():
        store._check(key, value)
    dict.update(store, data)
    return store


def _pairs(source: Any) -> Iterable[tuple[Any, Any]]:
    if isinstance(source, Store):
        return source.items()
    if isinstance(source, Mapping):
        return source.items()
    if hasattr(source, "keys"):
        return ((k, source[k]) for k in source.keys())
    return source


def _short(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:
        return "?"
    return text if len(text) <= 60 else text[:57] + "..."


def write_atomically(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` via a temporary file and rename: readers see old or new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path
