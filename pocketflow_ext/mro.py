"""What ``super().method`` is for each class, looked up once per class.

Our mixins override methods upstream calls once per node (``get_next_node``, ``_exec``); a
zero-argument ``super()`` builds a proxy and walks the MRO on every call, which costs more
than the rest of the dormant override.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class NextInMro(dict[type, Callable[..., Any]]):
    """``cache[cls]`` is the ``name`` attribute found after ``mixin`` in ``cls.__mro__``.

    Subscript it (not ``.get``): a hit is one C-level lookup. ``clear()`` it whenever the
    classes behind ``mixin`` change (``instrument()`` patches upstream's methods).
    """

    def __init__(self, mixin: type, name: str) -> None:
        super().__init__()
        self.mixin, self.name = mixin, name

    def __missing__(self, cls: type) -> Callable[..., Any]:
        found = self[cls] = getattr(super(self.mixin, cls), self.name)
        return found
