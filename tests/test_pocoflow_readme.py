"""Code from PocoFlow's README ports by changing ``from pocoflow import`` to
``from pocketflow_ext import``: each test is one README section, kept as close to the
original as runnable code allows (a fake LLM instead of a real one, paths under tmp_path).
Step numbers included: the first node's checkpoint is step 0, as PocoFlow numbers it."""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path

import pytest

from pocketflow_ext import AsyncNode, Flow, Node, Store, WorkflowDB


class FakeLLM:
    def __init__(self) -> None:
        self.calls = 0
        self.fail_first = 0

    def summarise(self, text: str) -> str:
        return f"summary of {text}"

    def call(self, prompt: str) -> str:
        self.calls += 1
        if self.calls <= self.fail_first:
            raise ConnectionError("rate limited")
        return f"answer to {prompt}"


llm = FakeLLM()


class SummariseNode(Node):
    def prep(self, store):
        return store["document"]

    def exec(self, text):
        return llm.summarise(text)

    def post(self, store, prep, summary):
        store["summary"] = summary
        return "done"


class CallLLMNode(Node):
    max_retries = 3
    retry_delay = 0.0

    def prep(self, store):
        return store["prompt"]

    def exec(self, prompt):
        return llm.call(prompt)

    def post(self, store, prep, response):
        store["response"] = response
        return "done"


def test_quick_start(tmp_path: Path) -> None:
    db_path = str(tmp_path / "pocoflow.db")
    store = Store({"document": "...", "summary": ""})
    Flow(start=SummariseNode(), db_path=db_path, flow_name="summarise").run(store)
    assert store["summary"] == "summary of ..."
    (run,) = WorkflowDB(db_path).list_runs()
    assert (run["flow_name"], run["status"], run["total_steps"]) == ("summarise", "completed", 1)


def test_node_class_attributes_retry_exec() -> None:
    llm.calls, llm.fail_first = 0, 2
    store = Store({"prompt": "hi", "response": ""})
    Flow(start=CallLLMNode()).run(store)
    assert (store["response"], llm.calls) == ("answer to hi", 3)


def test_store_typed_observed_snapshot_restore(tmp_path: Path) -> None:
    store = Store(
        data={"query": "", "result": ""},
        schema={"query": str, "result": str},
        name="my_pipeline",
    )
    store["query"] = "explain quantum entanglement"
    with pytest.raises(TypeError):
        store["query"] = 42
    seen = []
    store.add_observer(lambda key, old, new: seen.append((key, old, new)))
    store["result"] = "spooky"
    assert seen == [("result", "", "spooky")]
    store.snapshot(tmp_path / "run_42" / "step_002.json")
    store2 = Store.restore(tmp_path / "run_42" / "step_002.json")
    assert dict(store2) == {"query": "explain quantum entanglement", "result": "spooky"}


class Route(Node):
    def post(self, store, prep, exec_res):
        store["path"] = [*store.get("path", []), "a"]
        return store["route"]


class Mark(Node):
    def __init__(self, mark: str) -> None:
        super().__init__()
        self.mark = mark

    def post(self, store, prep, exec_res):
        store["path"] = [*store["path"], self.mark]


@pytest.mark.parametrize(("route", "expected"), [("ok", "b"), ("error", "c"), ("other", "f")])
def test_flow_named_edges_wildcard_persistence_and_hooks(
    tmp_path: Path, route: str, expected: str
) -> None:
    a, b, c, fallback = Route(), Mark("b"), Mark("c"), Mark("f")
    a.then("ok", b)
    a.then("error", c)
    a.then("*", fallback)
    flow = Flow(
        start=a,
        flow_name="my_pipeline",
        db_path=str(tmp_path / "pocoflow.db"),
        checkpoint_dir=str(tmp_path / "ckpt"),
        max_steps=50,
    )
    log: list[str] = []
    flow.on("node_start", lambda name, store: log.append(f"start {name}"))
    flow.on("node_end", lambda name, action, elapsed, store: log.append(f"end {name} {action}"))
    flow.on("node_error", lambda name, exc, store: log.append(f"error {name}"))
    flow.on("flow_end", lambda steps, store: log.append(f"done in {steps} steps"))
    store = Store({"route": route})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the wildcard handles every action: no "Flow ends"
        flow.run(store)
    assert store["path"] == ["a", expected]
    assert log[0] == "start Route" and log[-1] == "done in 2 steps"
    assert list((tmp_path / "ckpt").rglob("*.json")), "checkpoint_dir also holds JSON snapshots"


class FetchNode(AsyncNode):
    def prep(self, store):
        return store["urls"]

    async def exec_async(self, urls):
        async def fetch(url: str) -> str:
            await asyncio.sleep(0)
            return f"<html>{url}</html>"

        return await asyncio.gather(*[fetch(u) for u in urls])

    def post(self, store, prep, results):
        store["pages"] = results
        return "done"


def test_async_node_with_sync_prep_and_post_in_a_sync_flow() -> None:
    store = Store({"urls": ["a", "b"]})
    Flow(start=FetchNode()).run(store)
    assert store["pages"] == ["<html>a</html>", "<html>b</html>"]


class Step(Node):
    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key

    def post(self, store, prep, exec_res):
        store[self.key] = True
        return "default"


def test_workflow_db_reads_steps_numbered_from_zero(tmp_path: Path) -> None:
    db_path = str(tmp_path / "pocoflow.db")
    first, second, third = Step("one"), Step("two"), Step("three")
    first >> second >> third
    flow = Flow(start=first, db_path=db_path, flow_name="my_pipeline")
    flow.run(Store({}))
    db = WorkflowDB(db_path)
    (run,) = db.list_runs()
    assert (run["status"], run["total_steps"]) == ("completed", 3)
    events = [(e["event"], e["node_name"]) for e in db.get_events(run["run_id"])]
    assert events[0] == ("flow_start", "my_pipeline") and events[-1][0] == "flow_end"
    assert [c["step"] for c in db.get_checkpoints(run["run_id"])] == [0, 1, 2]
    assert dict(db.load_checkpoint(run["run_id"], step=0)) == {"one": True}
    assert dict(db.load_checkpoint(run["run_id"], step=2)) == {
        "one": True,
        "two": True,
        "three": True,
    }


class Slow(Node):
    def exec(self, prep_res):
        return "ok"

    def post(self, store, prep, exec_res):
        store["done"] = True


def test_long_running_workflow_in_the_background(tmp_path: Path) -> None:
    flow = Flow(start=Slow(), db_path=str(tmp_path / "pocoflow.db"), flow_name="research")
    store = Store({})
    handle = flow.run_background(store)
    assert handle.run_id.startswith("research-")
    result = handle.wait(timeout=60)
    assert handle.status == "completed" and result["done"] is True


class Crash(Node):
    crash = True

    def post(self, store, prep, exec_res):
        if Crash.crash:
            raise RuntimeError("crashed")
        store["crash_done"] = True


def test_resume_after_crash_from_the_last_checkpoint(tmp_path: Path) -> None:
    db_path = str(tmp_path / "pocoflow.db")

    def build() -> tuple[Flow, Node]:
        first, crash = Step("one"), Crash()
        first >> crash
        return Flow(start=first, db_path=db_path, flow_name="my_pipeline"), crash

    flow, _ = build()
    with pytest.raises(RuntimeError, match="crashed"):
        flow.run(Store({}))

    db = WorkflowDB(db_path)
    runs = [r for r in db.list_runs() if r["status"] == "failed"]
    failed = runs[0]
    checkpoints = db.get_checkpoints(failed["run_id"])
    last = checkpoints[-1]
    store = db.load_checkpoint(failed["run_id"], step=last["step"])
    assert last["step"] == 0 and dict(store) == {"one": True}

    Crash.crash = False
    try:
        flow, node_after_crash = build()
        flow.run(store, resume_from=node_after_crash)
    finally:
        Crash.crash = True
    assert dict(store) == {"one": True, "crash_done": True}
