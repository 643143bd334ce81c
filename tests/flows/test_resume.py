"""flow.resume(run_id): continue a recorded run after its last completed node."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest

from pocketflow_ext import (
    AsyncFlow,
    AsyncNode,
    BatchFlow,
    Flow,
    Node,
    ResumeError,
    RunCancelled,
    RunNotFound,
    WorkflowDB,
)

pytestmark = pytest.mark.timeout(60)


class Step(Node):
    """Appends its name to ``trail``; raises while ``broken['on']`` is set."""

    def __init__(self, label: str, broken: dict | None = None, action: str | None = None):
        super().__init__()
        self.name = label
        self.broken = broken
        self.action = action

    def post(self, shared, prep_res, exec_res):
        if self.broken is not None and self.broken["on"]:
            raise RuntimeError(f"{self.name} is broken")
        shared.setdefault("trail", []).append(self.name)
        return self.action


class AStep(AsyncNode):
    """Async twin of Step: appends its name; raises while ``broken['on']`` is set."""

    def __init__(self, label: str, broken: dict | None = None) -> None:
        super().__init__()
        self.name, self.broken = label, broken

    async def post_async(self, shared, prep_res, exec_res):
        if self.broken is not None and self.broken["on"]:
            raise RuntimeError("broken")
        shared.setdefault("trail", []).append(self.name)


def chain(db_path, broken: dict, name: str = "report") -> Flow:
    a, b, c = Step("A"), Step("B", broken), Step("C")
    a >> b >> c
    return Flow(start=a, db_path=str(db_path), flow_name=name)


def failed_run(flow: Flow, store: dict | None = None) -> str:
    store = {} if store is None else store
    with pytest.raises(RuntimeError, match="broken"):
        flow.run(store)
    return only_run(flow.db_path)["run_id"]


def only_run(db_path) -> dict:
    with WorkflowDB(db_path) as db:
        (run,) = db.list_runs()
    return run


def runs_by_id(db_path) -> dict[str, dict]:
    with WorkflowDB(db_path) as db:
        return {r["run_id"]: r for r in db.list_runs()}


def test_resume_continues_after_the_last_completed_node(tmp_path):
    broken = {"on": True}
    flow = chain(tmp_path / "runs.db", broken)
    run_id = failed_run(flow)
    broken["on"] = False
    store = flow.resume(run_id)
    assert store["trail"] == ["A", "B", "C"]  # A ran once, before the failure


def test_resumed_run_is_a_new_completed_run_linked_to_the_original(tmp_path):
    broken = {"on": True}
    flow = chain(tmp_path / "runs.db", broken)
    run_id = failed_run(flow)
    broken["on"] = False
    flow.resume(run_id)
    runs = runs_by_id(flow.db_path)
    (new_id,) = set(runs) - {run_id}
    assert runs[new_id]["resumed_from"] == run_id
    assert runs[new_id]["status"] == "completed"
    assert runs[run_id]["status"] == "failed"
    with WorkflowDB(flow.db_path) as db:
        ends = [e["path"] for e in db.get_events(new_id) if e["event"] == "node_end"]
    assert ends == ["report/B", "report/C"]


def test_resume_follows_the_action_the_last_node_returned(tmp_path):
    broken = {"on": True}
    start = Step("Start", action="right")
    start - "left" >> Step("Left")
    start - "right" >> Step("Right", broken)
    flow = Flow(start=start, db_path=str(tmp_path / "runs.db"), flow_name="branch")
    run_id = failed_run(flow)
    broken["on"] = False
    assert flow.resume(run_id)["trail"] == ["Start", "Right"]


def test_resume_of_a_completed_run_is_refused(tmp_path):
    flow = chain(tmp_path / "runs.db", {"on": False})
    flow.run({})
    with pytest.raises(ResumeError, match="completed"):
        flow.resume(only_run(flow.db_path)["run_id"])


def test_resume_of_an_unknown_run_id_is_refused(tmp_path):
    flow = chain(tmp_path / "runs.db", {"on": False})
    with pytest.raises(RunNotFound, match="report-00000000"):
        flow.resume("report-00000000")


def test_resume_with_a_graph_that_lost_the_node_is_refused(tmp_path):
    broken = {"on": True}
    run_id = failed_run(chain(tmp_path / "runs.db", broken))
    a, c = Step("Renamed"), Step("C")
    a >> c
    changed = Flow(start=a, db_path=str(tmp_path / "runs.db"), flow_name="report")
    with pytest.raises(ResumeError, match="no longer has a node named 'A'"):
        changed.resume(run_id)


def test_resume_with_another_flow_is_refused(tmp_path):
    run_id = failed_run(chain(tmp_path / "runs.db", {"on": True}))
    other = chain(tmp_path / "runs.db", {"on": False}, name="other")
    with pytest.raises(ResumeError, match="recorded by flow 'report', not 'other'"):
        other.resume(run_id)


def test_resume_of_a_run_without_any_checkpoint_is_refused(tmp_path):
    broken = {"on": True}
    a = Step("A", broken)
    a >> Step("B")
    flow = Flow(start=a, db_path=str(tmp_path / "runs.db"), flow_name="early")
    run_id = failed_run(flow)
    with pytest.raises(ResumeError, match="no checkpoint"):
        flow.resume(run_id)


def test_a_resumed_run_that_failed_at_once_resumes_from_the_original_point(tmp_path):
    broken = {"on": True}
    flow = chain(tmp_path / "runs.db", broken)
    first = failed_run(flow)
    with pytest.raises(RuntimeError, match="broken"):
        flow.resume(first)
    (second,) = set(runs_by_id(flow.db_path)) - {first}
    broken["on"] = False
    assert flow.resume(second)["trail"] == ["A", "B", "C"]
    assert {r["resumed_from"] for r in runs_by_id(flow.db_path).values()} == {None, first, second}


def test_resume_without_a_database_is_refused():
    flow = Flow(start=Step("A"))
    with pytest.raises(ResumeError, match="db_path"):
        flow.resume("report-12345678")


def test_resume_with_db_path_reads_that_database(tmp_path):
    broken = {"on": True}
    run_id = failed_run(chain(tmp_path / "runs.db", broken))
    broken["on"] = False
    a, b, c = Step("A"), Step("B"), Step("C")
    a >> b >> c
    plain = Flow(start=a, flow_name="report")
    assert plain.resume(run_id, db_path=tmp_path / "runs.db")["trail"] == ["A", "B", "C"]


def test_resume_enters_a_nested_flow_after_its_last_completed_node(tmp_path, events):
    broken = {"on": True}
    x, y = Step("X"), Step("Y", broken)
    x >> y
    inner = Flow(start=x, flow_name="Inner")
    prepare = Step("Prepare")
    prepare >> inner >> Step("Finish")
    outer = Flow(start=prepare, db_path=str(tmp_path / "runs.db"), flow_name="outer")
    run_id = failed_run(outer)
    broken["on"] = False
    events.clear()
    store = outer.resume(run_id)
    assert store["trail"] == ["Prepare", "X", "Y", "Finish"]
    started = [e.path for e in events if e.kind == "node_start"]
    assert started == ["outer/Inner", "outer/Inner/Y", "outer/Finish"]


def test_resume_inside_a_batch_flow_is_refused(tmp_path):
    broken = {"on": True}

    class Items(BatchFlow):
        def prep(self, shared):
            return [{"i": 1}, {"i": 2}]

    a = Step("A")
    a >> Step("B", broken)
    batch = Items(start=a, flow_name="Items")
    outer = Flow(start=batch, db_path=str(tmp_path / "runs.db"), flow_name="outer")
    run_id = failed_run(outer)
    with pytest.raises(ResumeError, match="BatchFlow 'outer/Items'"):
        outer.resume(run_id)


def test_resume_asks_for_values_the_checkpoint_could_not_save(tmp_path):
    broken = {"on": True}
    flow = chain(tmp_path / "runs.db", broken)
    lock = threading.Lock()
    with pytest.warns(UserWarning):
        run_id = failed_run(flow, {"lock": lock})
    broken["on"] = False
    with pytest.raises(ResumeError, match=r"overrides=\{'lock': \.\.\.\}"):
        flow.resume(run_id)
    with pytest.warns(UserWarning, match="'lock'"):  # the new run cannot save it either
        store = flow.resume(run_id, overrides={"lock": lock})
    assert store["lock"] is lock and store["trail"] == ["A", "B", "C"]


def test_a_cancelled_background_run_can_be_resumed(tmp_path):
    entered, gate = threading.Event(), threading.Event()

    class Wait(Step):
        def post(self, shared, prep_res, exec_res):
            entered.set()
            gate.wait()
            return super().post(shared, prep_res, exec_res)

    first = Wait("First")
    first >> Step("Second")
    flow = Flow(start=first, db_path=str(tmp_path / "runs.db"), flow_name="slow")
    handle = flow.run_background({})
    entered.wait()
    handle.cancel()
    gate.set()
    with pytest.raises(RunCancelled):
        handle.wait()
    assert runs_by_id(flow.db_path)[handle.run_id]["status"] == "cancelled"
    resumed = flow.resume_background(handle.run_id)
    assert resumed.wait()["trail"] == ["First", "Second"]
    assert runs_by_id(flow.db_path)[resumed.run_id]["resumed_from"] == handle.run_id


def test_async_flow_resumes(tmp_path):
    broken = {"on": True}

    a = AStep("A")
    a >> AStep("B", broken)
    flow = AsyncFlow(start=a, db_path=str(tmp_path / "runs.db"), flow_name="async")
    with pytest.raises(RuntimeError):
        asyncio.run(flow.run_async({}))
    broken["on"] = False
    assert flow.resume(only_run(flow.db_path)["run_id"])["trail"] == ["A", "B"]


def test_resume_with_db_path_continues_a_failed_run(tmp_path):
    broken = {"on": True}
    flow = chain(tmp_path / "runs.db", broken)
    run_id = failed_run(flow)
    broken["on"] = False
    store = flow.resume(run_id, db_path=tmp_path / "runs.db")
    assert store["trail"] == ["A", "B", "C"]
    assert {r["status"] for r in runs_by_id(flow.db_path).values()} == {"failed", "completed"}


def test_resume_of_a_running_run_is_refused(tmp_path):
    entered, gate = threading.Event(), threading.Event()

    class Hold(Step):
        def post(self, shared, prep_res, exec_res):
            entered.set()
            gate.wait()

    flow = Flow(start=Hold("Hold"), db_path=str(tmp_path / "runs.db"), flow_name="busy")
    handle = flow.run_background({})
    entered.wait()
    try:
        with pytest.raises(ResumeError, match="is running"):
            flow.resume(handle.run_id)
    finally:
        gate.set()
        handle.wait()


@pytest.mark.filterwarnings("ignore:Flow ends")  # upstream's warning for the loop's exit
def test_a_nested_flow_started_mid_graph_restarts_from_its_start_when_looped_back(tmp_path):
    broken = {"on": True}
    x, y = Step("X"), Step("Y", broken)
    x >> y
    inner = Flow(start=x, flow_name="Inner")
    laps = {"n": 0}

    class Again(Node):
        def post(self, shared, prep_res, exec_res):
            laps["n"] += 1
            return "again" if laps["n"] == 1 else "stop"

    again = Again()
    inner >> again
    again - "again" >> inner
    outer = Flow(start=inner, db_path=str(tmp_path / "runs.db"), flow_name="loop")
    run_id = failed_run(outer)
    broken["on"] = False
    assert outer.resume(run_id)["trail"] == ["X", "Y", "X", "Y"]


def test_resume_inside_a_flow_run_from_a_nodes_own_code_is_refused(tmp_path):
    broken = {"on": True}
    x = Step("X")
    x >> Step("Y", broken)
    sub = Flow(start=x, flow_name="sub")

    class Caller(Node):
        def exec(self, prep_res):
            sub.run({})

    outer = Flow(start=Caller(), db_path=str(tmp_path / "runs.db"), flow_name="calls")
    run_id = failed_run(outer)
    with pytest.raises(ResumeError, match="ran from its own code"):
        outer.resume(run_id)


def test_resume_after_the_last_node_of_a_nested_flow_is_refused(tmp_path):
    class Crash(Flow):
        def post(self, shared, prep_res, exec_res):
            raise RuntimeError("broken post")

    inner = Crash(start=Step("X"), flow_name="Inner")
    inner >> Step("Finish")
    outer = Flow(start=inner, db_path=str(tmp_path / "runs.db"), flow_name="outer")
    run_id = failed_run(outer)
    with pytest.raises(ResumeError, match="last node of nested flow 'outer/Inner'"):
        outer.resume(run_id)


def test_async_flow_resumes_inside_a_nested_async_flow(tmp_path):
    broken = {"on": True}

    x = AStep("X")
    x >> AStep("Y", broken)
    inner = AsyncFlow(start=x, flow_name="Inner")
    inner >> AStep("Finish")
    outer = AsyncFlow(start=inner, db_path=str(tmp_path / "runs.db"), flow_name="outer")
    with pytest.raises(RuntimeError):
        asyncio.run(outer.run_async({}))
    broken["on"] = False
    assert outer.resume(only_run(outer.db_path)["run_id"])["trail"] == ["X", "Y", "Finish"]


DAMAGE = {
    "invalid JSON": '{"trail": ["A"',
    "not an object": '["A"]',
    "nested past the recursion limit": "[" * 100_000 + "]" * 100_000,
}


@pytest.mark.parametrize("text", DAMAGE.values(), ids=DAMAGE.keys())
def test_a_damaged_checkpoint_is_a_resume_error_naming_run_and_step(tmp_path, text):
    broken = {"on": True}
    flow = chain(tmp_path / "runs.db", broken)
    run_id = failed_run(flow)
    with sqlite3.connect(tmp_path / "runs.db") as conn:
        conn.execute("UPDATE pf_checkpoints SET store_json = ? WHERE run_id = ?", (text, run_id))
    conn.close()
    broken["on"] = False
    with pytest.raises(ResumeError, match=rf"run {run_id!r} at step 0 .* is damaged"):
        flow.resume(run_id)


def test_resuming_a_run_already_resumed_successfully_warns(tmp_path):
    broken = {"on": True}
    flow = chain(tmp_path / "runs.db", broken)
    run_id = failed_run(flow)
    broken["on"] = False
    flow.resume(run_id)
    with pytest.warns(UserWarning, match="already resumed and completed"):
        assert flow.resume(run_id)["trail"] == ["A", "B", "C"]
