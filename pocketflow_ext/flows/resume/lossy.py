"""Finding the values a checkpoint could not save (``Unserialisable`` markers) in a
restored store: a resume refuses to run on them, a Parallel group re-runs their branch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...store.codec import Unserialisable


def holds_marker(value: Any) -> bool:
    """Whether ``value`` is, or holds anywhere (keys too), a value the checkpoint could
    not save as JSON."""
    # A loop, not recursion: a checkpoint may nest as deep as JSON decoding allows.
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, Unserialisable):
            return True
        if isinstance(item, Mapping):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            pending.extend(item)
    return False
