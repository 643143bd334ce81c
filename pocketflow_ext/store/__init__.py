"""Typed, observable shared state and its JSON form."""

from .codec import Unserialisable
from .store import MISSING, Store

__all__ = ["MISSING", "Store", "Unserialisable"]
