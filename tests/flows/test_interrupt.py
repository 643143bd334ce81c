"""interrupt(): a durable pause answered from another process, in the same process, and
in the background; halts; events; errors."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from pocketflow_ext import (
    Flow,
    Node,
    ResumeError,
    WaitingForAnswer,
    WorkflowDB,
    interrupt,
)

# Process 1 runs to the interrupt; process 2 answers. Every node appends its name to a
# side-channel file, so which process ran which node is visible.
APPROVAL = """
import json, sys
from pocketflow_ext import Flow, Node, WaitingForAnswer, interrupt

COUNTS = sys.argv[2]

def ran(name):
    with open(COUNTS, "a") as f:
        f.write(name + "\\n")

class Draft(Node):
    def post(self, shared, prep_res, exec_res):
        ran("Draft")
        shared["draft"] = "Cats are great."

class Review(Node):
    def prep(self, shared):
        ran("Review")
        return interrupt({"question": "Publish this?", "draft": shared["draft"]})

    def post(self, shared, prep_res, exec_res):
        shared["verdict"] = prep_res

class Publish(Node):
    def post(self, shared, prep_res, exec_res):
        ran("Publish")
        shared["published"] = shared["verdict"] == "yes"

def build(db):
    draft = Draft()
    draft >> Review() >> Publish()
    return Flow(start=draft, db_path=db, flow_name="article")

db = sys.argv[1]
if sys.argv[3] == "start":
    try:
        build(db).run({})
    except WaitingForAnswer as waiting:
        print(waiting.run_id)
else:
    flow = build(db)
    if len(sys.argv) > 6:  # racing answerers: all start answering at once
        import os, time
        while not os.path.exists(sys.argv[6]):
            time.sleep(0.01)
    store = flow.resume(sys.argv[4], answer=json.loads(sys.argv[5]))
    print(json.dumps(dict(store), sort_keys=True))
"""


def _python(script: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=120
    )


def test_a_run_paused_in_one_process_is_answered_in_another(
    tmp_path: Path, run_store_url: str
) -> None:
    script = tmp_path / "approval.py"
    script.write_text(APPROVAL)
    db, counts = str(run_store_url), tmp_path / "counts"

    first = _python(script, db, str(counts), "start")
    assert first.returncode == 0, first.stderr
    run_id = first.stdout.strip()
    with WorkflowDB(db, readonly=True) as runs:
        paused = runs.get_run(run_id)
    assert paused["status"] == "waiting"
    assert json.loads(paused["question"]) == {
        "question": "Publish this?",
        "draft": "Cats are great.",
    }
    assert paused["error_msg"] is None and paused["traceback"] is None
    assert counts.read_text().split() == ["Draft", "Review"]

    second = _python(script, db, str(counts), "answer", run_id, '"yes"')
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["published"] is True
    # Draft ran once (process 1); Review ran again from its start; then Publish.
    assert counts.read_text().split() == ["Draft", "Review", "Review", "Publish"]
    with WorkflowDB(db, readonly=True) as runs:
        answering = runs.get_run(paused["run_id"])["resumed_by"][0]
        continued = runs.get_run(answering)
    assert continued["status"] == "completed" and continued["resumed_from"] == run_id
    assert json.loads(continued["answer"]) == "yes"


def test_exactly_one_of_several_answering_processes_wins(
    tmp_path: Path, run_store_url: str
) -> None:
    script = tmp_path / "approval.py"
    script.write_text(APPROVAL)
    counts, go = tmp_path / "counts", tmp_path / "go"
    run_id = _python(script, run_store_url, str(counts), "start").stdout.strip()
    answerers = [
        subprocess.Popen(
            [sys.executable, str(script), run_store_url, str(counts), "answer", run_id]
            + [json.dumps(f"answer {i}"), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    go.touch()  # every answerer has built its flow and opened the store by now or soon
    results = [(p.wait(timeout=120), *p.communicate()) for p in answerers]
    winners = [out for code, out, _err in results if code == 0]
    assert len(winners) == 1, results
    losers = [err for code, _out, err in results if code != 0]
    assert all("not waiting" in err or "answered already" in err for err in losers), losers
    # The paused node ran once more (for the winner) and Publish once: no double answer.
    assert counts.read_text().split() == ["Draft", "Review", "Review", "Publish"]
    with WorkflowDB(run_store_url, readonly=True) as runs:
        (answering,) = runs.get_run(run_id)["resumed_by"]
        assert runs.get_run(answering)["answer"] == json.dumps(json.loads(winners[0])["verdict"])


class Count(Node):
    """Counts its executions in ``shared["ran"]``."""

    def post(self, shared: Any, prep_res: Any, exec_res: Any) -> None:
        shared.setdefault("ran", []).append(self.name)


class AskTwice(Node):
    def exec(self, prep_res: Any) -> Any:
        return [interrupt("first?"), interrupt("second?")]

    def post(self, shared: Any, prep_res: Any, exec_res: Any) -> None:
        shared["answers"] = exec_res


def _two_questions(db: str) -> Flow:
    first = Count(name="First")
    first >> AskTwice()
    return Flow(start=first, db_path=db, flow_name="twice")


def _pause(flow: Flow, store: dict[str, Any] | None = None) -> WaitingForAnswer:
    with pytest.raises(WaitingForAnswer) as caught:
        flow.run({} if store is None else store)
    return caught.value


def test_several_interrupts_in_one_node_are_answered_in_order(run_store_url: str) -> None:
    waiting = _pause(_two_questions(run_store_url))
    assert waiting.payload == "first?"
    store = _two_questions(run_store_url).resume(waiting.run_id, answers=["a", "b"])
    assert store["answers"] == ["a", "b"] and store["ran"] == ["First"]


def test_too_few_answers_pause_again_at_the_next_question(run_store_url: str) -> None:
    db = run_store_url
    waiting = _pause(_two_questions(db))
    with pytest.raises(WaitingForAnswer) as again:
        _two_questions(db).resume(waiting.run_id, answer="a")
    assert again.value.payload == "second?"
    store = _two_questions(db).resume(again.value.run_id, answers=["a", "b"])
    assert store["answers"] == ["a", "b"] and store["ran"] == ["First"]


def test_a_pause_in_the_first_node_restarts_from_the_store_the_run_began_with(
    run_store_url: str,
) -> None:
    flow = Flow(start=AskTwice(), db_path=run_store_url)
    waiting = _pause(flow, {"topic": "cats"})
    store = flow.resume(waiting.run_id, answers=[1, 2])
    assert dict(store) == {"topic": "cats", "answers": [1, 2]}


def test_answering_a_run_that_is_not_waiting_is_a_clear_error(run_store_url: str) -> None:
    db = run_store_url
    waiting = _pause(_two_questions(db))
    _two_questions(db).resume(waiting.run_id, answers=[1, 2])
    with pytest.raises(ResumeError, match="not waiting for an answer.*runs --status waiting"):
        _two_questions(db).resume(waiting.run_id, answers=[1, 2])
    with pytest.raises(ResumeError, match="is waiting for an answer; answer it"):
        _two_questions(db).resume(_pause(_two_questions(db)).run_id)


def test_exactly_one_of_concurrent_answers_wins(run_store_url: str) -> None:
    db = run_store_url
    run_id = _pause(_two_questions(db)).run_id
    start = threading.Barrier(4)
    outcomes: list[str] = []

    def answer(i: int) -> None:
        flow = _two_questions(db)
        start.wait()
        try:
            flow.resume(run_id, answers=[i, i])
            outcomes.append("won")
        except Exception as exc:
            outcomes.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=answer, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("won") == 1, outcomes
    assert all("not waiting" in o or "answered already" in o for o in outcomes if o != "won"), (
        outcomes
    )


def test_interrupt_is_never_retried_nor_sent_to_exec_fallback(run_store_url: str) -> None:
    calls: list[str] = []

    class Retrying(Node):
        def exec(self, prep_res: Any) -> Any:
            calls.append("exec")
            return interrupt("ok?")

        def exec_fallback(self, prep_res: Any, exc: Exception) -> Any:
            calls.append("fallback")
            return None

    flow = Flow(start=Retrying(max_retries=3), db_path=run_store_url)
    waiting = _pause(flow)
    assert calls == ["exec"]
    assert flow.db.get_run(waiting.run_id)["status"] == "waiting"


def test_hooks_and_subscribers_get_the_pause_and_the_answer(run_store_url: str) -> None:
    db = run_store_url
    seen: list[tuple[Any, ...]] = []
    flow = _two_questions(db)
    flow.on("run_waiting", lambda name, payload, store: seen.append(("waiting", name, payload)))
    flow.on("flow_end", lambda steps, store: seen.append(("end",)))
    kinds: list[tuple[str, Any]] = []
    flow.subscribe(lambda e: kinds.append((e.kind, e.status or e.data)))
    waiting = _pause(flow)
    flow.on("run_answered", lambda name, answer, store: seen.append(("answered", name, answer)))
    flow.resume(waiting.run_id, answers=["x", "y"])
    assert seen[:2] == [("waiting", "AskTwice", "first?"), ("end",)]
    assert ("answered", "AskTwice", "x") in seen and ("answered", "AskTwice", "y") in seen
    assert ("run_waiting", "first?") in kinds and ("flow_end", "waiting") in kinds
    assert ("run_answered", "x") in kinds


def test_a_background_run_waits_and_is_answered_through_its_handle(run_store_url: str) -> None:
    handle = _two_questions(run_store_url).run_background({})
    store = handle.wait(timeout=60)
    assert handle.status == "waiting" and handle.question == "first?"
    assert store == {"ran": ["First"]}
    handle.answer(answers=["a", "b"])
    assert handle.wait(timeout=60)["answers"] == ["a", "b"]
    assert handle.status == "completed" and handle.question is None
    assert handle.wait()["ran"] == ["First"]  # First did not run again


def test_halt_before_pauses_at_a_named_node_and_the_answer_edits_the_store(
    run_store_url: str,
) -> None:
    def build() -> Flow:
        first = Count(name="First")
        first >> Count(name="Review") >> Count(name="Last")
        return Flow(start=first, db_path=run_store_url, halt_before=["Review"])

    waiting = _pause(build())
    assert waiting.payload == {"halted": "before", "node": "Review"}
    store = build().resume(waiting.run_id, answer={"store": {"note": "checked"}})
    assert store["ran"] == ["First", "Review", "Last"] and store["note"] == "checked"


def test_halt_after_pauses_once_the_node_is_checkpointed(run_store_url: str) -> None:
    def build() -> Flow:
        first = Count(name="First")
        first >> Count(name="Second")
        return Flow(start=first, db_path=run_store_url, halt_after=["First"])

    waiting = _pause(build())
    assert waiting.payload == {"halted": "after", "node": "First"}
    assert build().resume(waiting.run_id, answer=None)["ran"] == ["First", "Second"]


def test_a_question_that_is_not_json_is_refused_naming_the_type(run_store_url: str) -> None:
    class Bad(Node):
        def prep(self, shared: Any) -> Any:
            return interrupt(object())

    with pytest.raises(ValueError, match="JSON value.*object"):
        Flow(start=Bad(), db_path=run_store_url).run({})


def test_interrupt_in_an_unrecorded_flow_says_how_to_make_it_durable() -> None:
    with pytest.raises(WaitingForAnswer, match="db_path="):
        Flow(start=AskTwice()).run({})


def test_the_runs_listing_filters_waiting_runs(run_store_url: str) -> None:
    db = run_store_url
    waiting = _pause(_two_questions(db))
    with WorkflowDB(db, readonly=True) as runs:
        assert [r["run_id"] for r in runs.list_runs(status="waiting")] == [waiting.run_id]


@pytest.mark.parametrize("answer", [[1, 2], "not a list"])
def test_answer_and_answers_together_or_a_bad_answers_value_is_refused(
    run_store_url: str, answer: Any
) -> None:
    waiting = _pause(_two_questions(run_store_url))
    flow = _two_questions(run_store_url)
    with pytest.raises(ResumeError, match="answers"):
        if isinstance(answer, list):
            flow.resume(waiting.run_id, answer=1, answers=answer)
        else:
            flow.resume(waiting.run_id, answers=answer)  # type: ignore[arg-type]


def test_a_pause_inside_a_nested_flow_is_answered_there(run_store_url: str) -> None:
    class Ask(Node):
        def prep(self, shared: Any) -> Any:
            return interrupt("inner?")

        def post(self, shared: Any, prep_res: Any, exec_res: Any) -> None:
            shared["answer"] = prep_res

    def build() -> Flow:
        x = Count(name="X")
        x >> Ask()
        inner = Flow(start=x, flow_name="Inner")
        pre = Count(name="Pre")
        pre >> inner >> Count(name="Fin")
        return Flow(start=pre, db_path=run_store_url, flow_name="Outer")

    paused: list[tuple[str, Any]] = []
    flow = build()
    flow.on("run_waiting", lambda name, payload, store: paused.append((name, payload)))
    waiting = _pause(flow)
    assert waiting.path == "Outer/Inner/Ask" and paused == [("Inner/Ask", "inner?")]
    store = build().resume(waiting.run_id, answer=42)
    assert store["ran"] == ["Pre", "X", "Fin"] and store["answer"] == 42


def test_an_async_node_pauses_and_is_answered(run_store_url: str) -> None:
    import asyncio

    from pocketflow_ext import AsyncFlow, AsyncNode

    class AskAsync(AsyncNode):
        async def prep_async(self, shared: Any) -> Any:
            return interrupt("async?")

        async def post_async(self, shared: Any, prep_res: Any, exec_res: Any) -> None:
            shared["answer"] = prep_res

    def build() -> AsyncFlow:
        first = Count(name="First")
        first >> AskAsync()
        return AsyncFlow(start=first, db_path=run_store_url, flow_name="asking")

    with pytest.raises(WaitingForAnswer) as caught:
        asyncio.run(build().run_async({}))
    store = build().resume(str(caught.value.run_id), answer="yes")
    assert dict(store) == {"ran": ["First"], "answer": "yes"}


def test_instrument_halts_an_upstream_flow_before_a_named_node(run_store_url: str) -> None:
    import pocketflow

    from pocketflow_ext import instrument, uninstrument

    class Step(pocketflow.Node):
        def post(self, shared: Any, prep_res: Any, exec_res: Any) -> None:
            shared.setdefault("ran", []).append(type(self).__name__)

    class One(Step):
        pass

    class Two(Step):
        pass

    one = One()
    one >> Two()
    shared: dict[str, Any] = {}
    with instrument(db_path=run_store_url, halt_before=["Two"]):
        with pytest.raises(WaitingForAnswer) as caught:
            pocketflow.Flow(start=one).run(shared)
    uninstrument()
    assert shared == {"ran": ["One"]}
    assert caught.value.payload == {"halted": "before", "node": "Two"}
    with WorkflowDB(run_store_url, readonly=True) as runs:
        assert runs.get_run(str(caught.value.run_id))["status"] == "waiting"
