"""Test databases on the PostgreSQL test server, and raw SQL on either store for tests that
must damage or inspect rows behind the store's back (the package itself never does this
outside ``runstore/``)."""

from __future__ import annotations

import os
import secrets
import sqlite3
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from pocketflow_ext.runstore.location import is_url


def is_postgres(url: str) -> bool:
    return is_url(str(url))


def execute(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run one statement (``?`` placeholders) on the store at ``url``, committed; its rows."""
    if is_postgres(url):
        import psycopg

        with psycopg.connect(str(url), autocommit=True) as conn:
            cur = conn.execute(sql.replace("?", "%s"), params)  # type: ignore[arg-type]
            return list(cur.fetchall()) if cur.description else []
    conn = sqlite3.connect(url)
    try:
        with conn:
            return list(conn.execute(sql, params).fetchall())
    finally:
        conn.close()


def _server() -> str:
    server = os.environ.get("POCKETFLOW_EXT_TEST_PG_URL")
    if not server:
        message = (
            "PostgreSQL tests need a server: run `bash .ci/run`, or "
            '`eval "$(bash .ci/postgres start)"` before pytest, or set '
            "POCKETFLOW_EXT_TEST_PG_URL=postgresql://user:password@host:port/db"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return server


@contextmanager
def fresh_database(template: str | None = None) -> Iterator[str]:
    """The URL of a new database on the test server, dropped afterwards: empty, or a copy
    of the database ``template`` names (nobody may be connected to it)."""
    server = _server()
    psycopg = pytest.importorskip("psycopg", reason='needs pip install -e ".[postgres]"')
    name = f"pfx_test_{secrets.token_hex(6)}"
    copy = f' TEMPLATE "{urllib.parse.urlsplit(template).path.lstrip("/")}"' if template else ""
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"{copy}')
    try:
        yield urllib.parse.urlunsplit(urllib.parse.urlsplit(server)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
