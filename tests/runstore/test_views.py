"""What both stores share in reading (``runstore/views.py``): the runs page's capped
count, and the lookups of who resumed or forked a page's runs going through their index,
on both stores."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from pocketflow_ext.runstore import RunFilter, RunRow, open_store, views
from pocketflow_ext.runstore.runs import iso


def record(url: str, count: int) -> None:
    with open_store(url) as store:
        store.write(
            [RunRow(f"r-{i:03d}", "many", started_at=iso(1_000_000 + i)) for i in range(count)]
        )
        store.write([RunRow("again", "many", started_at=iso(2_000_000), resumed_from="r-009")])


def test_the_runs_page_counts_only_so_far_past_its_end(
    run_store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    record(run_store_url, 20)  # 21 runs
    monkeypatch.setattr(views, "COUNT_AHEAD", 5)
    with open_store(run_store_url, readonly=True) as store:
        first = store.runs_page(RunFilter(), limit=3, offset=0)
        assert (first.total, first.more) == (8, True)  # 3 on the page + 5 ahead, and more
        assert [r["run_id"] for r in first.rows] == ["again", "r-019", "r-018"]
        far = store.runs_page(RunFilter(), limit=3, offset=13)  # 13 + 3 + 5 = 21: all
        assert (far.total, far.more) == (21, False)
        assert store.count_runs(RunFilter()) == 21  # count_runs counts them all
        resumed = store.get_run("r-009")
    assert resumed is not None and resumed["resumed_by"] == ["again"]


def test_sqlite_reads_who_resumed_a_page_through_its_index_after_analyze(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    record(str(path), 300)
    with sqlite3.connect(path) as conn:
        conn.execute("ANALYZE")  # with statistics SQLite judged the index (nearly all NULL) useless
    with open_store(path, readonly=True) as store:
        conn = store.conn()  # type: ignore[attr-defined]
        statements: list[str] = []
        conn.set_trace_callback(statements.append)
        page = store.runs_page(RunFilter(), limit=50, offset=0)
        conn.set_trace_callback(None)
        links = [s for s in statements if "_from IN" in s]
        assert len(links) == 2  # resumed_from, forked_from
        for sql in links:
            plan = " ".join(str(row[3]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
            assert "USING INDEX pf_runs_resumed_from" in plan or (
                "USING INDEX pf_runs_forked_from" in plan
            ), plan
            assert "SCAN pf_runs" not in plan, plan
    assert page.rows[0]["run_id"] == "again"
