"""The result cache: ``exec`` results kept in the run store, keyed on input and code."""

from .policy import Cache

__all__ = ["Cache"]
