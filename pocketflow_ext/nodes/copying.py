"""CopyMixin: upstream's per-step ``copy.copy`` of a node, without the pickle protocol.

Upstream's loop copies every node before it runs it (``copy.copy(node)``). For an object
with no copy method of its own, ``copy.copy`` goes through the pickle protocol
(``__reduce_ex__(4)``, ``copyreg.__newobj__``, ``copy._reconstruct``): most of upstream's
own cost per node. A class whose copying nobody customised copies to exactly what that
protocol makes, a new instance of the class with the same ``__dict__`` entries, so
``__copy__`` makes that directly. Any customisation anywhere in the class chain (a
``__reduce__``/``__reduce_ex__``, ``__getstate__``/``__setstate__``, ``__getnewargs__``,
``__slots__``, a ``copyreg`` registration) is checked on every copy and takes the
standard path, so the result is always what ``copy.copy`` would have made.
"""

from __future__ import annotations

import copy
import copyreg
from typing import Any


class _Plain:
    pass


_PLAIN_SIZE = _Plain.__basicsize__  # an instance with a __dict__ and no slots
_OBJECT_REDUCE_EX = object.__reduce_ex__
_OBJECT_REDUCE = object.__reduce__
_OBJECT_GETSTATE = getattr(object, "__getstate__", None)  # Python 3.11+
_registered = copyreg.dispatch_table


class CopyMixin:
    """A node that ``copy.copy`` (upstream's copy of each node it runs) copies cheaply."""

    def __copy__(self) -> Any:
        cls = type(self)
        if (
            cls.__basicsize__ == _PLAIN_SIZE
            and cls.__reduce_ex__ is _OBJECT_REDUCE_EX
            and cls.__reduce__ is _OBJECT_REDUCE
            and getattr(cls, "__getstate__", None) is _OBJECT_GETSTATE
            and getattr(cls, "__setstate__", None) is None
            and getattr(cls, "__getnewargs_ex__", None) is None
            and getattr(cls, "__getnewargs__", None) is None
            and cls not in _registered
        ):
            clone = cls.__new__(cls)
            clone.__dict__.update(self.__dict__)
            return clone
        return _standard_copy(self)


def _standard_copy(x: Any) -> Any:
    """What ``copy.copy`` does for an object without ``__copy__``."""
    cls = type(x)
    reductor = _registered.get(cls)
    rv = reductor(x) if reductor is not None else x.__reduce_ex__(4)
    if isinstance(rv, str):
        return x
    return copy._reconstruct(x, None, *rv)  # type: ignore[attr-defined]
