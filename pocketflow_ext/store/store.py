"""Store: typed, observable shared state that is also a ``dict`` proxying the caller's dict."""

from __future__ import annotations

import copy
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import Any

from ..errors import StoreTypeError, StoreValidationError
from ..logging import get_logger
from .codec import Unserialisable, dumps_store, loads

_log = get_logger("store")

Observer = Callable[[str, Any, Any], Any]
SchemaType = type | tuple[type, ...]


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

# The dict's own storage holds only this entry; the data lives in the proxied dict. A
# non-empty storage makes C code that short-cuts empty dicts (json's encoder) fall back
# to our items().
_STORAGE_MARK = object()


def _type_label(expected: SchemaType) -> str:
    if isinstance(expected, tuple):
        return " | ".join(t.__name__ for t in expected)
    return expected.__name__


def _check_schema(schema: Mapping[str, Any] | None) -> dict[str, SchemaType]:
    checked: dict[str, SchemaType] = {}
    for key, expected in (schema or {}).items():
        items = expected if isinstance(expected, tuple) else (expected,)
        items = tuple(type(None) if t is None else t for t in items)
        if not items or not all(isinstance(t, type) for t in items):
            raise TypeError(
                f"schema entry {key!r} must be a type or a tuple of types (e.g. str or "
                f"(int, float)); got {expected!r}. For generics like list[str] use list."
            )
        checked[key] = items if len(items) > 1 else items[0]
    return checked


class Store(dict):
    """A dict whose writes are type-checked against an optional schema and observed.

    ``Store(data)`` wraps ``data`` without copying: writes through the Store land in
    ``data`` and writes to ``data`` are seen by the Store. Pass it anywhere a PocketFlow
    ``shared`` dict goes.

    >>> shared = {"query": ""}
    >>> store = Store(shared, schema={"query": str})
    >>> store["query"] = "hello"; shared["query"]
    'hello'
    """

    MISSING = MISSING
    # Slots, not an instance __dict__: a dict subclass's attribute reads are several times
    # slower through __dict__, and every node reads and writes the store.
    __slots__ = ("_data", "_schema", "_name", "_observers")

    def __init__(
        self,
        data: MutableMapping[str, Any] | None = None,
        schema: Mapping[str, Any] | None = None,
        name: str = "store",
    ) -> None:
        super().__init__()
        dict.__setitem__(self, _STORAGE_MARK, None)
        if isinstance(data, Store):
            data = data._data
        if data is None:
            data = {}
        if not isinstance(data, MutableMapping):
            raise TypeError(
                f"Store data must be a dict (or another mutable mapping), got "
                f"{type(data).__name__}; wrap it with dict(...) first"
            )
        if not isinstance(name, str):
            raise TypeError(f"Store name must be a string, got {type(name).__name__}")
        self._data: MutableMapping[str, Any] = data
        self._schema = _check_schema(schema)
        self._name = name
        self._observers: tuple[Observer, ...] = ()
        for key, value in data.items():
            self._check(key, value)

    # ── identity ─────────────────────────────────────────────────────────────
    @property
    def name(self) -> str:
        return self._name

    @property
    def schema(self) -> dict[str, SchemaType]:
        return dict(self._schema)

    def as_dict(self) -> MutableMapping[str, Any]:
        """The proxied dict itself (no copy); writes to it bypass type checks and observers."""
        return self._data

    # ── reads ────────────────────────────────────────────────────────────────
    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __reversed__(self) -> Iterator[str]:
        return reversed(list(self._data))

    def __len__(self) -> int:
        return len(self._data)

    def keys(self):
        return self._data.keys()

    def values(self):
        return self._data.values()

    def items(self):
        return self._data.items()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Store):
            other = other._data
        return dict(self._data) == other if isinstance(other, Mapping) else NotImplemented

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    __hash__ = None

    def __repr__(self) -> str:
        return f"Store({dict(self._data)!r}, name={self._name!r})"

    def __or__(self, other: Any) -> dict[str, Any]:  # type: ignore[override]
        if not isinstance(other, Mapping):
            return NotImplemented
        return {**self._data, **other}

    def __ror__(self, other: Any) -> dict[str, Any]:  # type: ignore[override]
        if not isinstance(other, Mapping):
            return NotImplemented
        return {**other, **self._data}

    # ── writes: every path checks the schema, then notifies observers ─────────
    def _check(self, key: Any, value: Any) -> None:
        expected = self._schema.get(key)
        if (
            expected is not None
            and not isinstance(value, expected)
            and not isinstance(value, Unserialisable)
        ):
            raise StoreTypeError(
                f"store {self._name!r}: key {key!r} expects {_type_label(expected)}, got "
                f"{type(value).__name__} ({_short(value)}); convert the value or widen the "
                f"schema, e.g. schema={{{key!r}: ({_type_label(expected).replace(' | ', ', ')}, "
                f"{type(value).__name__})}}"
            )

    def _notify(self, key: Any, old: Any, new: Any) -> None:
        for observer in self._observers:
            try:
                observer(key, old, new)
            except Exception:
                _log.exception(
                    "store %r: observer %r raised on key %r; the write stands",
                    self._name,
                    observer,
                    key,
                )

    def __setitem__(self, key: str, value: Any) -> None:
        # The hot path (every node writes): the full check only runs when the type is off.
        expected = self._schema.get(key)
        if expected is not None and not isinstance(value, expected):
            self._check(key, value)
        data = self._data
        if self._observers:
            old = data.get(key, MISSING)
            data[key] = value
            self._notify(key, old, value)
        else:
            data[key] = value

    def __delitem__(self, key: str) -> None:
        old = self._data[key]
        del self._data[key]
        self._notify(key, old, MISSING)

    def update(self, *args: Any, **kwargs: Any) -> None:
        if len(args) > 1:
            raise TypeError(f"update expected at most 1 positional argument, got {len(args)}")
        pairs = list(_pairs(args[0]) if args else []) + list(kwargs.items())
        for key, value in pairs:  # check all first: a bad value leaves the store unchanged
            self._check(key, value)
        for key, value in pairs:
            old = self._data.get(key, MISSING)
            self._data[key] = value
            self._notify(key, old, value)

    def __ior__(self, other: Any) -> Store:
        self.update(other)
        return self

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key in self._data:
            return self._data[key]
        self[key] = default
        return default

    def pop(self, key: str, *default: Any) -> Any:
        if key not in self._data:
            if default:
                return default[0]
            raise KeyError(key)
        old = self._data.pop(key)
        self._notify(key, old, MISSING)
        return old

    def popitem(self) -> tuple[str, Any]:
        if not self._data:
            raise KeyError(f"popitem(): store {self._name!r} is empty")
        key, old = self._data.popitem()
        self._notify(key, old, MISSING)
        return key, old

    def clear(self) -> None:
        removed = list(self._data.items())
        self._data.clear()
        for key, old in removed:
            self._notify(key, old, MISSING)

    # ── observers ─────────────────────────────────────────────────────────────
    def add_observer(self, callback: Observer) -> None:
        """Call ``callback(key, old, new)`` after every write (``Store.MISSING`` for absent)."""
        if not callable(callback):
            raise TypeError(
                f"observer must be callable as callback(key, old, new), got {type(callback).__name__}"
            )
        self._observers = (*self._observers, callback)

    def remove_observer(self, callback: Observer) -> None:
        if callback not in self._observers:
            raise ValueError(f"store {self._name!r}: {callback!r} is not a registered observer")
        self._observers = tuple(o for o in self._observers if o is not callback)

    # ── validation ──────────────────────────────────────────────────────────
    def validate(self) -> Store:
        """Raise if a schema key is missing or a value (written around the Store) has the wrong type."""
        missing = [k for k in self._schema if k not in self._data]
        if missing:
            raise StoreValidationError(
                f"store {self._name!r}: required key(s) missing: {', '.join(map(repr, missing))}; "
                "set them before running the flow"
            )
        for key, value in self._data.items():
            self._check(key, value)
        return self

    # ── copies and pickling ─────────────────────────────────────────────────
    def copy(self) -> Store:
        """A new Store over a shallow copy of the data, with the same schema (no observers)."""
        return Store(dict(self._data), self._schema, self._name)

    __copy__ = copy

    def __deepcopy__(self, memo: dict[int, Any]) -> Store:
        return Store(copy.deepcopy(dict(self._data), memo), self._schema, self._name)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Store, (dict(self._data), self._schema, self._name))

    # ── JSON snapshots ────────────────────────────────────────────────────────
    def snapshot(self, path: str | os.PathLike[str]) -> Path:
        """Write the store to ``path`` as JSON, atomically (never a half-written file).

        Values JSON cannot hold are written as explicit ``unserialisable`` markers with
        their type and repr, and a warning names their keys.
        """
        text, lossy = dumps_store(self._data)
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
        cls, path: str | os.PathLike[str], schema: Mapping[str, Any] | None = None
    ) -> Store:
        """Load a snapshot written by ``snapshot`` (or by PocoFlow)."""
        path = Path(path)
        try:
            payload = loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(f"no store snapshot at {path}") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not a store snapshot (invalid JSON: {exc})") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
            raise ValueError(f"{path} is not a store snapshot: expected an object with 'data'")
        return cls(payload["data"], schema, payload.get("name", "store"))


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
