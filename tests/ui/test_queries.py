"""Read-only queries: pages, counts and filters on both schemas, while a flow writes."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from pocketflow_ext import Flow, Node
from pocketflow_ext.ui.database import open_database
from pocketflow_ext.ui.queries import RunFilter, runs_page


class Tick(Node):
    def post(self, shared, prep_res, exec_res):
        shared["n"] = shared.get("n", 0) + 1


def test_connection_refuses_to_write(recorded_db: Path) -> None:
    conn, _ = open_database(recorded_db)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        conn.execute("DELETE FROM pf_runs")
    conn.close()


@pytest.mark.timeout(120)
def test_pages_are_read_in_one_snapshot_while_a_flow_records(recorded_db: Path) -> None:
    runs = 30
    reading, done = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def record_runs() -> None:
        try:
            reading.wait(30)  # start once the reader is reading, so the two overlap
            for n in range(runs):
                flow = Flow(
                    start=Tick(), db_path=str(recorded_db), flow_name="live", run_id=f"live-{n}"
                )
                flow.run({})
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            done.set()

    writer = threading.Thread(target=record_runs)
    writer.start()
    totals: list[int] = []
    try:
        while True:
            finished = done.is_set()
            conn, schema = open_database(recorded_db)
            try:
                page = runs_page(conn, schema, RunFilter(flows=("live",)), 0, 1000)
            finally:
                conn.close()
            assert page.total == len(page.rows)  # count and rows agree: one snapshot
            totals.append(page.total)
            reading.set()
            if finished:
                break
    finally:
        writer.join(60)
    assert not errors, errors
    assert totals == sorted(totals)  # never a run seen, then gone
    assert totals[-1] == runs


def test_filters_combine_status_flow_and_search(recorded_db: Path) -> None:
    conn, schema = open_database(recorded_db)
    filt = RunFilter(statuses=("completed", "failed"), flows=("writer",), search="bad")
    page = runs_page(conn, schema, filt, 0, 50)
    conn.close()
    assert [r["run_id"] for r in page.rows] == ["writer-bad"] and page.total == 1


def test_pocoflow_rows_read_missing_columns_as_none(pocoflow_db: Path) -> None:
    conn, schema = open_database(pocoflow_db)
    page = runs_page(conn, schema, RunFilter(), 0, 50)
    conn.close()
    assert page.total == 3
    assert all(r["graph"] is None and r["pid"] is None for r in page.rows)
