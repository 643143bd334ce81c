"""What changed in the store between two checkpoints: keys added, changed and removed."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NamedTuple

from ..store.codec import encode


class KeyChange(NamedTuple):
    key: str
    change: str  # "added" | "changed" | "removed"
    before: Any
    after: Any


def _canonical(value: Any) -> str:
    # Compare the recorded JSON form: decoded values may not define == (or define it oddly).
    encoded, _ = encode(value)
    return json.dumps(encoded, sort_keys=True, ensure_ascii=False, default=str)


def diff_stores(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[KeyChange]:
    """Changes from ``before`` to ``after``, in the key order of ``after`` then removed keys."""
    changes = [KeyChange(k, "added", None, v) for k, v in after.items() if k not in before]
    changes += [
        KeyChange(k, "changed", before[k], v)
        for k, v in after.items()
        if k in before and _canonical(before[k]) != _canonical(v)
    ]
    changes += [KeyChange(k, "removed", v, None) for k, v in before.items() if k not in after]
    order = {k: i for i, k in enumerate(dict.fromkeys([*after, *before]))}
    return sorted(changes, key=lambda c: order[c.key])
