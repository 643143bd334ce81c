"""Logging through dd-logging under the ``pocketflow_ext`` namespace; silent until set up.

Records written while a run is going on carry its ``run_id`` and the running node's
``node_path`` (:class:`RunContextFilter`, on the handlers ``setup_logging`` installs), so
a line of the JSONL log leads back to its run.
"""

from __future__ import annotations

import logging as _stdlib_logging
from pathlib import Path

import dd_logging

from .errors import ConfigurationError
from .stream.scope import current_frame

ROOT = "pocketflow_ext"
_OWNED = "_pocketflow_ext_handler"  # marks handlers this module put on the root logger


def get_logger(name: str = "") -> _stdlib_logging.Logger:
    """``pocketflow_ext.<name>``; the namespace has a NullHandler so nothing prints by default."""
    return dd_logging.get_logger(name, ROOT)


def setup_logging(
    run_name: str = "run",
    *,
    log_level: str | None = None,
    log_dir: str | Path | None = None,
    log_format: str | None = None,
    console: bool = False,
    adapter: str = "",
    model: str = "",
    capture: bool = False,
) -> Path:
    """Write ``pocketflow_ext.*`` logs to ``<log_dir>/<run_name>-<timestamp>.log`` (or ``.jsonl``).

    ``log_format`` is ``"text"``, ``"jsonl"`` or ``"both"``; ``console=True`` also logs to
    stderr. Returns the path of the main log file. Safe to call again (replaces handlers).

    Every record carries ``run_id`` and ``node_path`` when written inside a run.
    ``capture=True`` also writes the records of every other logger (your own
    ``logging`` calls) to the same files, by adding the handlers to the root logger and
    lowering its level to ``log_level`` if needed; call it after your own
    ``logging.basicConfig``, which does nothing once the root logger has a handler.
    """
    if log_level is not None and (
        not isinstance(log_level, str) or log_level.lower() not in dd_logging.LOG_LEVELS
    ):
        raise ConfigurationError(
            f"log_level must be one of {', '.join(dd_logging.LOG_LEVELS)} (or None for the "
            f"default), got {log_level!r}"
        )
    _release_root()  # an earlier capture's handlers: dd-logging closes them now
    path = dd_logging.setup_logging(
        run_name,
        root_name=ROOT,
        adapter=adapter,
        model=model,
        log_level=log_level,
        log_dir=log_dir,
        console=console,
        log_format=log_format,
    )
    handlers = [h for h in get_logger().handlers if not isinstance(h, _stdlib_logging.NullHandler)]
    for handler in handlers:
        handler.addFilter(RunContextFilter())
    if capture:
        root = _stdlib_logging.getLogger()
        for handler in handlers:
            if not isinstance(handler, _stdlib_logging.FileHandler):
                continue  # the console handler stays ours: the script owns its console
            setattr(handler, _OWNED, True)
            root.addHandler(handler)
        level = min(h.level for h in handlers)
        if root.getEffectiveLevel() > level:
            root.setLevel(level)
    return path


class RunContextFilter(_stdlib_logging.Filter):
    """Adds ``run_id`` and ``node_path`` to records written inside a run (any logger, any
    thread or task the run's context reaches), unless the record already has them. Put
    it on your own handlers too: ``handler.addFilter(RunContextFilter())``. Costs one
    context-variable read per record that reaches the handler; none when logging is off.
    """

    def filter(self, record: _stdlib_logging.LogRecord) -> bool:
        frame = current_frame()
        if frame is not None:
            level = frame.level
            if not hasattr(record, "run_id"):
                record.run_id = level.run.run_id
            if not hasattr(record, "node_path"):
                record.node_path = frame.path if frame.node is not None else level.path
        return True


def _release_root() -> None:
    """Take the handlers an earlier ``setup_logging(capture=True)`` put on the root off it."""
    root = _stdlib_logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _OWNED, False):
            root.removeHandler(handler)


def disable_logging() -> None:
    """Remove handlers installed by ``setup_logging`` (back to silent)."""
    _release_root()
    dd_logging.disable_logging(ROOT)
    get_logger()  # disable_logging drops the NullHandler too


get_logger()  # install the NullHandler at import time
