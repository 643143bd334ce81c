"""Whether a flow's hooks can be pickled into another process, said before pickle fails.

A flow carries its hooks and subscribers; pickle sends a function by reference (its module
and qualified name), which a lambda or a function defined inside another function does not
have. Pickle would fail deep inside the flow's state without saying which hook of which
flow; this check names both and says what to do. It applies whatever pickler is used
(cloudpickle could send such a function by value), so a flow that pickles in one place
pickles everywhere.
"""

from __future__ import annotations

import pickle
import sys
import types
from typing import Any

from .observe import flow_label


def check_hooks_pickle(flow: Any) -> None:
    """Raise ``pickle.PicklingError`` naming the first hook of ``flow`` pickle cannot send."""
    for event, callback in getattr(flow, "_listeners", ()):
        if isinstance(callback, types.FunctionType) and not _found_by_name(callback):
            what = f"the {event!r} hook" if event is not None else "the subscriber"
            raise pickle.PicklingError(
                f"{what} {callback.__qualname__} of flow {flow_label(flow)!r} cannot be "
                "pickled into another process: pickle sends functions by module and name, "
                "and a lambda or a function defined inside another function has none. "
                "Register a function defined at module level (or a picklable callable object)."
            )


def _found_by_name(function: types.FunctionType) -> bool:
    found: Any = sys.modules.get(function.__module__ or "")
    for part in function.__qualname__.split("."):
        found = getattr(found, part, None)
    return found is function
