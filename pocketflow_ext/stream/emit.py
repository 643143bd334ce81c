"""``emit(topic, data)``: a node reports something of its own (LLM tokens, progress) into
its run's event stream, as a ``custom`` event."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigurationError
from . import dispatch
from .scope import current_frame


def emit(topic: str, data: Any = None, *, record: bool = False) -> None:
    """Send a ``custom`` event from the node running now: ``flow.stream()`` yields it,
    ``flow.on("custom", cb)`` hooks get ``(name, topic, data, store)`` and subscribers an
    :class:`~pocketflow_ext.Event` with ``topic`` and ``data``.

    Not recorded unless ``record=True`` (tokens would swamp the run store); a recorded one
    is a ``custom`` row in ``pf_events`` with ``{"topic", "data"}`` as its params. Outside
    an observed run (nothing listens) it does nothing.

    >>> from pocketflow_ext import emit
    >>> emit("token", "Hel")  # inside a node's exec: a no-op when nothing listens
    """
    if not isinstance(topic, str) or not topic:
        raise ConfigurationError(
            f"emit() topic must be a non-empty string such as 'token', got {topic!r}"
        )
    frame = current_frame()
    if frame is None:
        return
    dispatch.custom(frame, topic, data, record)
