"""Choosing the run store for a path or URL: ``open_store`` and the key writers share it by."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigurationError, RecordingError
from .base import RunStore
from .sqlite import SQLiteRunStore

_POSTGRES = ("postgresql://", "postgres://")


def is_url(location: str) -> bool:
    """Whether ``location`` names a database server (a ``postgresql://`` URL), not a file."""
    return location.lower().startswith(_POSTGRES)


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
    ``readonly``), or a ``postgresql://`` URL.

    >>> store = open_store("runs.db", readonly=True)   # doctest: +SKIP
    >>> [run["run_id"] for run in store.list_runs(limit=5)]   # doctest: +SKIP
    """
    location = _checked(path_or_url)
    if is_url(location):
        raise RecordingError(
            f"cannot open {_without_password(location)}: the PostgreSQL run store is not available in this version of pocketflow-ext; record to an SQLite "
            "file path (e.g. 'runs.db') for now"
        )
    return SQLiteRunStore(location, readonly=readonly)


def _without_password(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}"
