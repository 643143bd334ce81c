"""Raw SQL on either store, for tests that must damage or inspect rows behind the store's
back (the package itself never does this outside ``runstore/``)."""

from __future__ import annotations

import sqlite3
from typing import Any

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
