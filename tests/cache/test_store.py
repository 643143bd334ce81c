"""The run store's cache methods on both stores (pf_cache) and the SQLite schema version that
adds them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from pocketflow_ext.runstore import RunRow, open_store
from pocketflow_ext.runstore import sqlite_schema as schema

T0, T1, T2 = (
    "2026-01-01T00:00:00.000000+00:00",
    "2026-01-02T00:00:00.000000+00:00",
    "2026-01-03T00:00:00.000000+00:00",
)


def test_put_then_get_returns_the_entry(run_store_url: str) -> None:
    with open_store(run_store_url) as store:
        assert store.cache_get("k") is None
        store.cache_put("k", "Node", '{"a": 1}', T0, None)
        entry = store.cache_get("k")
    assert entry is not None
    assert (entry.key, entry.node, entry.value_text, entry.created_at, entry.expires_at) == (
        "k", "Node", '{"a": 1}', T0, None,
    )  # fmt: skip


def test_a_second_put_of_a_live_key_keeps_the_first(run_store_url: str) -> None:
    with open_store(run_store_url) as store:
        store.cache_put("k", "Node", "1", T0, None)
        store.cache_put("k", "Node", "2", T1, None)
        store.cache_put("j", "Node", "1", T0, T2)
        store.cache_put("j", "Node", "2", T1, T2)  # not expired at T1: kept
        assert store.cache_get("k").value_text == "1"  # type: ignore[union-attr]
        assert store.cache_get("j").value_text == "1"  # type: ignore[union-attr]


def test_an_expired_entry_is_replaced(run_store_url: str) -> None:
    with open_store(run_store_url) as store:
        store.cache_put("k", "Node", "old", T0, T1)
        store.cache_put("k", "Node", "new", T2, None)
        entry = store.cache_get("k")
    assert entry is not None and entry.value_text == "new" and entry.created_at == T2


def test_clear_by_node_age_or_everything_returns_how_many(run_store_url: str) -> None:
    with open_store(run_store_url) as store:
        store.cache_put("a", "A", "1", T0, None)
        store.cache_put("b", "B", "1", T0, None)
        store.cache_put("c", "B", "1", T2, None)
        assert store.cache_clear(node="A") == 1
        assert store.cache_clear(older_than=T1) == 1  # b, created before T1
        assert store.cache_get("c") is not None
        assert store.cache_clear() == 1
        assert store.cache_clear() == 0


def test_new_files_have_the_cache_table_at_the_current_version(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    open_store(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION >= 3
    assert {r[1] for r in conn.execute("PRAGMA table_info(pf_cache)")} == {
        "key", "node", "value_text", "created_at", "expires_at",
    }  # fmt: skip
    conn.close()


def test_a_version_2_file_gains_the_cache_keeping_its_runs(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    with open_store(path) as store:
        store.create_run(RunRow(run_id="r-1", flow_name="f"))
    conn = sqlite3.connect(path)  # make it what a version-2 writer left behind
    conn.execute("DROP TABLE pf_cache")
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
    with open_store(path) as store:
        assert store.schema_version == schema.SCHEMA_VERSION
        assert store.get_run("r-1") is not None
        store.cache_put("k", "N", "1", T0, None)
        assert store.cache_get("k") is not None
