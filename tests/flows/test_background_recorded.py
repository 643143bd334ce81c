"""Background runs of a recording flow: status from the database, run ids, cancel."""

from __future__ import annotations

import threading

import pytest

from pocketflow_ext import ConfigurationError, Flow, Node, RunCancelled, WorkflowDB
from pocketflow_ext.errors import RunExistsError

pytestmark = pytest.mark.timeout(60)


# Events live here, not in the store, so checkpoints hold only JSON: the store names its gate.
GATES: dict[str, tuple[threading.Event, threading.Event]] = {}


class Gate(Node):
    def post(self, shared, prep_res, exec_res):
        entered, gate = GATES[shared["gate"]]
        entered.set()
        gate.wait()


class Done(Node):
    def post(self, shared, prep_res, exec_res):
        shared["done"] = True


def recorded_flow(db_path, **kwargs) -> Flow:
    gate = Gate()
    gate >> Done()
    return Flow(start=gate, db_path=str(db_path), flow_name="job", **kwargs)


class Gated(dict):
    """A store whose run blocks in Gate until ``open()``; ``entered`` is set once it is there."""

    def __init__(self) -> None:
        super().__init__(gate=f"gate-{len(GATES)}")
        GATES[self["gate"]] = (threading.Event(), threading.Event())

    @property
    def entered(self) -> threading.Event:
        return GATES[self["gate"]][0]

    def open(self) -> None:
        GATES[self["gate"]][1].set()


def gated_store() -> Gated:
    return Gated()


def status_in_db(db_path, run_id: str) -> str:
    with WorkflowDB(db_path) as db:
        run = db.get_run(run_id)
    assert run is not None, f"run {run_id} is not recorded"
    return run["status"]


def test_status_is_read_from_the_database_while_the_run_goes_on(run_store_url: str, tmp_path):
    flow = recorded_flow(run_store_url)
    store = gated_store()
    handle = flow.run_background(store)
    store.entered.wait()
    assert handle.status == "running" == status_in_db(flow.db.db_path, handle.run_id)
    # Whatever the database says is what the handle reports, e.g. a monitor's view.
    flow.db.update_run(handle.run_id, status="queued")
    assert handle.status == "queued"
    store.open()
    handle.wait()
    assert handle.status == "completed" == status_in_db(flow.db.db_path, handle.run_id)


def test_cancelled_background_run_is_recorded_cancelled(run_store_url: str, tmp_path):
    flow = recorded_flow(run_store_url)
    store = gated_store()
    handle = flow.run_background(store)
    store.entered.wait()
    handle.cancel()
    store.open()
    with pytest.raises(RunCancelled):
        handle.wait()
    assert "done" not in store
    assert status_in_db(flow.db.db_path, handle.run_id) == "cancelled"


def test_concurrent_recorded_runs_get_their_own_rows_and_cancel_flags(run_store_url: str, tmp_path):
    flow = recorded_flow(run_store_url)
    stores = [gated_store() for _ in range(5)]
    handles = [flow.run_background(s) for s in stores]
    for s in stores:
        s.entered.wait()
    handles[2].cancel()
    for s in stores:
        s.open()
    for h in handles:
        try:
            h.wait()
        except RunCancelled:
            pass
    statuses = [status_in_db(flow.db.db_path, h.run_id) for h in handles]
    assert statuses == ["completed", "completed", "cancelled", "completed", "completed"]


def test_a_run_id_given_to_the_flow_names_its_first_background_run(run_store_url: str, tmp_path):
    flow = recorded_flow(run_store_url, run_id="job-nightly")
    store = gated_store()
    store.open()
    handle = flow.run_background(store)
    assert handle.run_id == "job-nightly"
    handle.wait()
    assert status_in_db(flow.db.db_path, "job-nightly") == "completed"


def test_a_recorded_run_id_is_refused_before_the_run_starts(run_store_url: str, tmp_path):
    flow = recorded_flow(run_store_url)
    store = gated_store()
    store.open()
    first = flow.run_background(store)
    first.wait()
    with pytest.raises(RunExistsError, match=first.run_id):
        flow.run_background(gated_store(), run_id=first.run_id)


def test_a_malformed_run_id_is_refused_before_the_run_starts(run_store_url: str, tmp_path):
    flow = recorded_flow(run_store_url)
    with pytest.raises(ConfigurationError, match="malformed run_id"):
        flow.run_background(gated_store(), run_id="a/b")
