"""Logging through dd-logging under the ``pocketflow_ext`` namespace; silent until set up."""

from __future__ import annotations

import logging as _stdlib_logging
from pathlib import Path

import dd_logging

from .errors import ConfigurationError

ROOT = "pocketflow_ext"


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
) -> Path:
    """Write ``pocketflow_ext.*`` logs to ``<log_dir>/<run_name>-<timestamp>.log`` (or ``.jsonl``).

    ``log_format`` is ``"text"``, ``"jsonl"`` or ``"both"``; ``console=True`` also logs to
    stderr. Returns the path of the main log file. Safe to call again (replaces handlers).
    """
    if log_level is not None and (
        not isinstance(log_level, str) or log_level.lower() not in dd_logging.LOG_LEVELS
    ):
        raise ConfigurationError(
            f"log_level must be one of {', '.join(dd_logging.LOG_LEVELS)} (or None for the "
            f"default), got {log_level!r}"
        )
    return dd_logging.setup_logging(
        run_name,
        root_name=ROOT,
        adapter=adapter,
        model=model,
        log_level=log_level,
        log_dir=log_dir,
        console=console,
        log_format=log_format,
    )


def disable_logging() -> None:
    """Remove handlers installed by ``setup_logging`` (back to silent)."""
    dd_logging.disable_logging(ROOT)
    get_logger()  # disable_logging drops the NullHandler too


get_logger()  # install the NullHandler at import time
