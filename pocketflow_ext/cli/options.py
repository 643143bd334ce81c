"""Options several subcommands share: the recording database and whole-number values.

The database is a file path or a PostgreSQL URL (``postgresql://user@host/db``); without
one, ``$POCKETFLOW_EXT_DB`` names it (the default of ``run``, ``runs``, ``show``,
``monitor`` and ``instrument()``), else ``./pocketflow.db``.
"""

from __future__ import annotations

import argparse
import os

DB_ENV_VAR = "POCKETFLOW_EXT_DB"
DEFAULT_DB = "pocketflow.db"


def default_db() -> str:
    return os.environ.get(DB_ENV_VAR) or DEFAULT_DB


def db_help() -> str:
    return (
        "the recording database: a file path or a postgresql:// URL "
        f"(default: ${DB_ENV_VAR} or ./{DEFAULT_DB})"
    )


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def port(text: str) -> int:
    value = positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"a port is at most 65535, got {value}")
    return value
