"""Reading through the store: run dicts, pages, filters, events and checkpoints, on our
files and PocoFlow's, read-only and while a flow writes."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path

import pytest

from pocketflow_ext import Flow, Node
from pocketflow_ext.errors import CheckpointDamaged, RecordingError
from pocketflow_ext.runstore import RunFilter, open_store


class Tick(Node):
    def post(self, shared, prep_res, exec_res):
        shared["n"] = shared.get("n", 0) + 1


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_reader_cannot_write(recorded_db: Path) -> None:
    store = open_store(recorded_db, readonly=True)
    with pytest.raises(RecordingError, match="read-only"):
        store.heartbeat(["writer-ok"])
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        store.conn().execute("DELETE FROM pf_runs")  # type: ignore[attr-defined]
    store.close()


def test_run_dicts_carry_the_derived_fields(recorded_db: Path) -> None:
    with open_store(recorded_db, readonly=True) as store:
        ok, bad = store.get_run("writer-ok"), store.get_run("writer-bad")
    assert ok is not None and bad is not None
    assert (ok["status"], ok["steps"], ok["current_node"]) == ("completed", 3, "c")
    assert ok["last_activity_at"] == ok["completed_at"] and ok["duration_s"] >= 0
    assert (bad["status"], bad["steps"], bad["current_node"]) == ("failed", 2, "Boom")
    assert ok["resumed_by"] == [] and ok["resumed_ok"] is False


def test_current_node_of_a_finished_nested_run_is_the_leaf(recorded_db: Path) -> None:
    with open_store(recorded_db, readonly=True) as store:
        run = store.get_run("nested-ok")
    assert run is not None and run["current_node"] == "Inner/y"


def test_first_checkpoint_is_step_0(recorded_db: Path) -> None:
    with open_store(recorded_db, readonly=True) as store:
        steps = [(c["step"], c["node_name"]) for c in store.get_checkpoints("writer-ok")]
        first = store.load_checkpoint("writer-ok", 0)
    assert steps == [(0, "a"), (1, "b"), (2, "c")]
    assert first == {"a": 0}


def test_events_of_several_runs_come_in_recorded_order(recorded_db: Path) -> None:
    with open_store(recorded_db, readonly=True) as store:
        events = store.get_events(["writer-ok", "writer-bad"])
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)
    assert {e["run_id"] for e in events} == {"writer-ok", "writer-bad"}


def test_filters_combine_status_flow_and_search(recorded_db: Path) -> None:
    with open_store(recorded_db, readonly=True) as store:
        filt = RunFilter(statuses=("completed", "failed"), flows=("writer",), search="bad")
        page = store.runs_page(filt, limit=50, offset=0)
        assert store.flow_names() == ["nested", "writer"]
        assert store.status_names() == ["completed", "failed"]
    assert [r["run_id"] for r in page.rows] == ["writer-bad"] and page.total == 1


def test_a_search_term_is_matched_literally(recorded_db: Path) -> None:
    with open_store(recorded_db, readonly=True) as store:
        assert store.count_runs(RunFilter(search="%")) == 0
        assert store.count_runs(RunFilter(search="r-o")) == 1


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
            with open_store(recorded_db, readonly=True) as store:
                page = store.runs_page(RunFilter(flows=("live",)), limit=1000, offset=0)
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


def test_pocoflow_rows_read_missing_columns_as_none(pocoflow_db: Path) -> None:
    before = digest(pocoflow_db)
    with open_store(pocoflow_db, readonly=True) as store:
        page = store.runs_page(RunFilter(), limit=50, offset=0)
        checkpoints = store.get_checkpoints("writer-ok-0001")
        first = store.load_checkpoint("writer-ok-0001", 0)
    assert page.total == 3
    assert all(r["graph"] is None and r["pid"] is None for r in page.rows)
    assert checkpoints[0]["step"] == 0 and checkpoints[0]["path"] is None
    assert first is not None and first["topic"] == "otters"
    assert digest(pocoflow_db) == before  # a reader never migrates


def test_a_damaged_checkpoint_is_reported_with_run_and_step(recorded_db: Path) -> None:
    with sqlite3.connect(recorded_db) as conn:
        conn.execute("UPDATE pf_checkpoints SET store_json = '{nope' WHERE run_id = 'writer-ok'")
    conn.close()
    with open_store(recorded_db, readonly=True) as store:
        with pytest.raises(CheckpointDamaged, match=r"run 'writer-ok' at step 1"):
            store.load_checkpoint("writer-ok", 1)
        assert store.checkpoint_text("writer-ok", 1) == "{nope"
