"""Choosing the run store for a path or URL: ``open_store`` and the key writers share it by."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigurationError, RecordingError
from .base import RunStore
from .location import is_url, masked
from .sqlite import SQLiteRunStore

__all__ = ["is_url", "masked", "open_store", "store_key"]


def _checked(path_or_url: str | os.PathLike[str]) -> str:
    if not isinstance(path_or_url, (str, os.PathLike)) or not str(path_or_url):
        raise ConfigurationError(
            f"db_path must be a file path such as 'runs.db' (or a postgresql:// URL), "
            f"got {path_or_url!r}"
        )
    return os.fspath(path_or_url)


def store_key(path_or_url: str | os.PathLike[str]) -> str:
    """What identifies a store: the resolved file path, or the URL as given."""
    location = _checked(path_or_url)
    if is_url(location):
        return location
    return str(Path(location).expanduser().resolve())


def open_store(path_or_url: str | os.PathLike[str], *, readonly: bool = False) -> RunStore:
    """The run store at ``path_or_url``: an SQLite file (created and migrated unless
    ``readonly``), or a PostgreSQL database (a ``postgresql://``/``postgres://`` URL or a
    libpq keyword string; needs ``pip install "pocketflow-ext[postgres]"``).

    >>> store = open_store("runs.db", readonly=True)   # doctest: +SKIP
    >>> [run["run_id"] for run in store.list_runs(limit=5)]   # doctest: +SKIP
    """
    location = _checked(path_or_url)
    if is_url(location):
        # Imported here: recording to SQLite never loads psycopg.
        try:
            from .postgres import PostgresRunStore
        except ImportError as exc:
            raise RecordingError(
                f"cannot open {masked(location)}: the PostgreSQL run store needs psycopg 3 and "
                f'psycopg_pool ({exc}); install them with pip install "pocketflow-ext[postgres]"'
            ) from None
        return PostgresRunStore(location, readonly=readonly)
    return SQLiteRunStore(location, readonly=readonly)
