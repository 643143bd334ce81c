"""pf_cache in SQLite files: the schema version that adds it (the cache methods' contract is
in tests/runstore/test_contract.py, run on every store)."""

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
