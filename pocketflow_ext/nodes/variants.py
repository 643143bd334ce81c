"""Variants of a node class with extra layers (``when=``, ``cache=``) in front.

A node configured with a predicate or a cache becomes an instance of such a variant when
it is made, so only those nodes run the extra code: every other node of the class runs
exactly as before. A variant has its class's name, and copies and pickles of its
instances refer to the class itself (by reference, as for any node) plus the layers.
"""

from __future__ import annotations

import threading
from typing import Any

_variants: dict[tuple[type, tuple[type, ...]], type] = {}
_lock = threading.Lock()


class Layer:
    """Base of the layers a variant puts in front of a node class."""

    variant_of: tuple[type, tuple[type, ...]] | None = None  # (class, layers) of a variant

    def __reduce__(self) -> Any:
        made_of = type(self).variant_of
        if made_of is None:  # a class listing a layer among its bases pickles its own way
            return super().__reduce__()
        # object.__getstate__ is new in Python 3.11; before it, the state is the __dict__.
        state = self.__getstate__() if hasattr(self, "__getstate__") else self.__dict__
        return (_instance, made_of, state)


def layers_of(cls: type) -> tuple[type[Layer], ...]:
    made_of = getattr(cls, "variant_of", None)
    if made_of is not None:
        return made_of[1]
    return tuple(
        k for k in cls.__mro__ if k is not Layer and isinstance(k, type) and issubclass(k, Layer)
    )


def base_class(cls: type) -> type:
    """The class a variant was made of (``cls`` itself when it is no variant)."""
    made_of = getattr(cls, "variant_of", None)
    return made_of[0] if made_of is not None else cls


def with_layer(node: Any, layer: type[Layer]) -> None:
    """Make ``node`` an instance of its class's variant that has ``layer`` too."""
    cls = type(node)
    if issubclass(cls, layer):
        return
    base = base_class(cls)
    wanted = tuple(sorted({*layers_of(cls), layer}, key=lambda k: k.__qualname__))
    node.__class__ = variant(base, wanted)


def variant(base: type, layers: tuple[type, ...]) -> type:
    key = (base, layers)
    cls = _variants.get(key)
    if cls is None:
        with _lock:
            cls = _variants.get(key)
            if cls is None:
                cls = _variants[key] = type(
                    base.__name__,
                    (*layers, base),
                    {
                        "__module__": base.__module__,
                        "__qualname__": base.__qualname__,
                        "variant_of": key,
                    },
                )
    return cls


def _instance(base: type, layers: tuple[type, ...]) -> Any:
    return object.__new__(variant(base, layers))
