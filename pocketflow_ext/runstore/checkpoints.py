"""Delta checkpoint rows: their format, and the full store rebuilt from them.

A run's checkpoints are *full* rows (the whole store as JSON) and *delta* rows (only the
top-level keys a node added or changed, plus the keys it removed in ``deleted_json``),
each delta applying on top of the checkpoint of its ``parent_step``. The recorder writes
them (``recording/checkpoints.py``); every run store rebuilds the full store with
:func:`store_at`. ``docs/schema.md`` is the human-readable contract.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..store.codec import loads

FULL = "full"
DELTA = "delta"
MAX_CHAIN = 1000
"""Most deltas after one full snapshot, so loading any step reads at most this many + 1 rows."""


def reconstruct(rows: Iterable[Mapping[str, Any]]) -> dict[Any, Any]:
    """The full store from a full snapshot row followed by the delta rows after it, in order.

    Rows are mappings with ``step``, ``store_json``, ``kind`` (None for rows written
    before delta checkpoints: full) and ``deleted_json``; ``sqlite3.Row`` works as is.
    """
    rows = list(rows)
    if not rows:
        raise ValueError("no checkpoint rows to rebuild the store from")
    store: dict[Any, Any] | None = None
    for row, (data, removed) in zip(rows, _decode_rows(rows), strict=True):
        kind = row["kind"] or FULL
        if kind == FULL:
            store = data
            continue
        if kind != DELTA:
            raise ValueError(f"checkpoint of step {_step(row)} has unknown kind {kind!r}")
        if store is None:
            raise ValueError(
                f"checkpoint of step {_step(row)} is a delta with no full snapshot before it"
            )
        for key in removed:
            store.pop(_hashable(key), None)
        store.update(data)
    assert store is not None  # the first row is full, or the loop raised
    return store


def _decode_rows(rows: list[Mapping[str, Any]]) -> list[tuple[dict[Any, Any], list[Any]]]:
    """Each row's store object and removed keys. One ``json.loads`` for the whole chain:
    a chain is mostly small deltas, and a call per row would cost more than the parsing."""
    texts = []
    for row in rows:
        texts.append(row["store_json"])
        texts.append(row["deleted_json"] or "[]")
    try:
        values = loads("[" + ", ".join(texts) + "]")
    except (TypeError, ValueError, RecursionError):  # TypeError: a column that is not text
        values = None
    if values is None or len(values) != 2 * len(rows):  # find and name the damaged row
        values = []
        for row in rows:
            values.append(_decode(row["store_json"], row, "store_json"))
            values.append(_decode(row["deleted_json"] or "[]", row, "deleted_json"))
    decoded = []
    for i, row in enumerate(rows):
        data, removed = values[2 * i], values[2 * i + 1]
        if not isinstance(data, dict):
            raise ValueError(
                f"checkpoint of step {_step(row)} holds {type(data).__name__}, not a JSON object"
            )
        if not isinstance(removed, list):
            raise ValueError(f"checkpoint of step {_step(row)}: deleted_json is not a list")
        decoded.append((data, removed))
    return decoded


def chain(rows: Mapping[int, Mapping[str, Any]], step: int) -> list[Mapping[str, Any]]:
    """The rows to apply, in order, for the store at ``step``: the nearest full snapshot
    it builds on, then every delta on the way (followed through ``parent_step``)."""
    path: list[Mapping[str, Any]] = []
    current: int | None = step
    while True:
        row = rows.get(current)  # type: ignore[arg-type]
        if row is None:
            if current == step:
                raise KeyError(f"no checkpoint for step {step}")
            raise ValueError(
                f"the checkpoint of step {step} builds on step {current}, which is missing "
                "(its row was lost); steps from the next full snapshot on load normally"
            )
        path.append(row)
        if (row["kind"] or FULL) != DELTA:
            break
        current = row["parent_step"]
        if len(path) > len(rows):
            raise ValueError(f"the checkpoints before step {step} form a loop")
    path.reverse()
    return path


def store_at(rows: Mapping[int, Mapping[str, Any]], step: int) -> dict[Any, Any]:
    """The full store after ``step``, from a run's checkpoint rows keyed by step."""
    return reconstruct(chain(rows, step))


def _decode(text: Any, row: Mapping[str, Any], column: str) -> Any:
    if not isinstance(text, str):
        raise ValueError(f"checkpoint of step {_step(row)}: {column} is not text")
    try:
        return loads(text)
    except (ValueError, RecursionError) as exc:
        raise ValueError(
            f"checkpoint of step {_step(row)}: {column} is not valid JSON: {exc}"
        ) from None


def _step(row: Mapping[str, Any]) -> Any:
    try:
        return row["step"]
    except (KeyError, IndexError):
        return "?"


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key
