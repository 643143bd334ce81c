"""instrument()/uninstrument(): unmodified pocketflow classes report into the event stream."""

from __future__ import annotations

import asyncio
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pocketflow
import pytest

import pocketflow_ext
from pocketflow_ext.errors import ConfigurationError, HookError
from pocketflow_ext.instrument.patches import SEAMS
from pocketflow_ext.stream import scope


@pytest.fixture(autouse=True)
def _always_uninstrument() -> Iterator[None]:
    yield
    pocketflow_ext.uninstrument()


def _originals() -> dict[tuple[type, str], Any]:
    return {(cls, name): cls.__dict__[name] for cls, name, _ in SEAMS}


class Count(pocketflow.Node):
    """Defined before any instrument() call, like user code imported first."""

    def post(self, shared: dict, prep_res: Any, exec_res: Any) -> str:
        shared["n"] = shared.get("n", 0) + 1
        return "again" if shared["n"] < 3 else "done"


class Done(pocketflow.Node):
    def post(self, shared: dict, prep_res: Any, exec_res: Any) -> None:
        shared["done"] = True


def loop_flow() -> pocketflow.Flow:
    count, done = Count(), Done()
    count - "again" >> count
    count - "done" >> done
    return pocketflow.Flow(start=count)


def kinds(events: list[pocketflow_ext.Event]) -> list[tuple[str, str]]:
    return [(e.kind, e.path) for e in events]


def test_uninstrument_puts_back_the_identical_upstream_functions() -> None:
    before = _originals()
    pocketflow_ext.instrument()
    assert all(cls.__dict__[name] is not before[(cls, name)] for cls, name, _ in SEAMS)
    pocketflow_ext.uninstrument()
    assert _originals() == before
    assert all(_originals()[key] is fn for key, fn in before.items())


def test_importing_pocketflow_ext_patches_nothing() -> None:
    assert not pocketflow_ext.is_instrumented()
    for cls, name, _ in SEAMS:
        assert type(cls.__dict__[name]).__name__ == "function"
    assert scope.global_subscribers() == ()


def test_calling_instrument_and_uninstrument_twice_is_harmless(events: list) -> None:
    before = _originals()
    pocketflow_ext.instrument()
    pocketflow_ext.instrument()
    loop_flow().run({})
    assert [k for k, _ in kinds(events)].count("node_start") == 4  # not doubled
    pocketflow_ext.uninstrument()
    pocketflow_ext.uninstrument()
    assert _originals() == before
    assert not pocketflow_ext.is_instrumented()


def test_a_class_defined_before_instrument_reports_every_node_execution(events: list) -> None:
    flow = loop_flow()  # built before instrument() too
    pocketflow_ext.instrument()
    shared: dict = {}
    flow.run(shared)
    assert shared == {"n": 3, "done": True}
    assert kinds(events) == [
        ("flow_start", "Flow"),
        *[("node_start", "Flow/Count"), ("node_end", "Flow/Count")] * 3,
        ("node_start", "Flow/Done"),
        ("node_end", "Flow/Done"),
        ("flow_end", "Flow"),
    ]
    assert [e.action for e in events if e.kind == "node_end"] == ["again", "again", "done", None]


def test_a_user_subclass_of_flow_is_observed_under_its_own_name(events: list) -> None:
    class Pipeline(pocketflow.Flow):
        pass

    pocketflow_ext.instrument()
    Pipeline(start=Done()).run({})
    assert kinds(events) == [
        ("flow_start", "Pipeline"),
        ("node_start", "Pipeline/Done"),
        ("node_end", "Pipeline/Done"),
        ("flow_end", "Pipeline"),
    ]


def test_nested_and_batch_flows_report_nested_paths_and_params(events: list) -> None:
    class Items(pocketflow.BatchFlow):
        def prep(self, shared: dict) -> list[dict]:
            return [{"i": 1}, {"i": 2}]

    class Collect(pocketflow.Node):
        def post(self, shared: dict, prep_res: Any, exec_res: Any) -> None:
            shared.setdefault("seen", []).append(self.params["i"])

    inner = pocketflow.Flow(start=Collect())
    outer = pocketflow.Flow(start=Items(start=inner))
    pocketflow_ext.instrument()
    shared: dict = {}
    outer.run(shared)
    assert shared["seen"] == [1, 2]
    ends = [e for e in events if e.kind == "node_end"]
    assert [e.path for e in ends] == [
        "Flow/Items/Flow/Collect",
        "Flow/Items/Flow",
        "Flow/Items/Flow/Collect",
        "Flow/Items/Flow",
        "Flow/Items",
    ]
    assert [dict(e.params or {}) for e in ends[:2]] == [{"i": 1}, {"i": 1}]
    assert {e.run_id for e in events} == {events[0].run_id}


def test_async_flow_kinds_report_one_start_and_end_per_node(events: list) -> None:
    class Work(pocketflow.AsyncNode):
        async def exec_async(self, prep_res: Any) -> Any:
            await asyncio.sleep(0)

        async def post_async(self, shared: dict, prep_res: Any, exec_res: Any) -> None:
            shared.setdefault("done", []).append(self.params.get("i"))

    class Batch(pocketflow.AsyncBatchFlow):
        async def prep_async(self, shared: dict) -> list[dict]:
            return [{"i": 1}, {"i": 2}]

    class Parallel(pocketflow.AsyncParallelBatchFlow):
        async def prep_async(self, shared: dict) -> list[dict]:
            return [{"i": 3}, {"i": 4}, {"i": 5}]

    pocketflow_ext.instrument()
    shared: dict = {}
    asyncio.run(pocketflow.AsyncFlow(start=Work()).run_async(shared))
    asyncio.run(Batch(start=Work()).run_async(shared))
    asyncio.run(Parallel(start=Work()).run_async(shared))
    assert sorted(shared["done"], key=str) == [1, 2, 3, 4, 5, None]
    starts = [e for e in events if e.kind == "node_start"]
    ends = [e for e in events if e.kind == "node_end"]
    assert len(starts) == len(ends) == 6
    assert sorted(e.step for e in ends if e.flow_name == "Parallel") == [0, 1, 2]
    assert [e.status for e in events if e.kind == "flow_end"] == ["completed"] * 3


def test_upstream_retries_are_reported_without_changing_their_outcome(events: list) -> None:
    class Flaky(pocketflow.Node):
        def __init__(self) -> None:
            super().__init__(max_retries=3)
            self.calls = 0

        def exec(self, prep_res: Any) -> str:
            self.calls += 1
            if self.calls < 3:
                raise ValueError(f"attempt {self.calls}")
            return "ok"

        def post(self, shared: dict, prep_res: Any, exec_res: Any) -> None:
            shared["result"], shared["calls"] = exec_res, self.calls

    pocketflow_ext.instrument()
    shared: dict = {}
    pocketflow.Flow(start=Flaky()).run(shared)
    assert shared == {"result": "ok", "calls": 3}
    retries = [e for e in events if e.kind == "node_retry"]
    assert [(e.attempt, e.error) for e in retries] == [
        (1, "ValueError: attempt 1"),
        (2, "ValueError: attempt 2"),
    ]


def test_retries_of_parallel_batch_items_are_counted_per_item(events: list) -> None:
    class Items(pocketflow.AsyncParallelBatchNode):
        def __init__(self) -> None:
            super().__init__(max_retries=2)
            self.failed: set[int] = set()

        async def prep_async(self, shared: dict) -> list[int]:
            return [1, 2, 3]

        async def exec_async(self, item: int) -> int:
            await asyncio.sleep(0)
            if item != 2 and item not in self.failed:
                self.failed.add(item)
                raise TimeoutError(f"item {item}")
            return item * 10

        async def post_async(self, shared: dict, prep_res: Any, exec_res: Any) -> None:
            shared["out"] = exec_res

    pocketflow_ext.instrument()
    shared: dict = {}
    asyncio.run(pocketflow.AsyncFlow(start=Items()).run_async(shared))
    assert shared["out"] == [10, 20, 30]
    retries = [e for e in events if e.kind == "node_retry"]
    assert sorted(e.error or "" for e in retries) == [
        "TimeoutError: item 1",
        "TimeoutError: item 3",
    ]
    assert {e.attempt for e in retries} == {1}


def test_a_failing_node_reports_node_error_and_a_failed_flow(events: list) -> None:
    class Boom(pocketflow.Node):
        def exec(self, prep_res: Any) -> None:
            raise KeyError("missing")

    pocketflow_ext.instrument()
    with pytest.raises(KeyError, match="missing"):
        pocketflow.Flow(start=Boom()).run({})
    assert kinds(events)[-2:] == [("node_error", "Flow/Boom"), ("flow_end", "Flow")]
    assert events[-1].status == "failed"
    assert events[-2].error == "KeyError: 'missing'"


def test_drop_in_classes_are_not_observed_twice(events: list) -> None:
    flow = pocketflow_ext.Flow(start=pocketflow_ext.Node())
    flow.run({})
    plain = kinds(events)
    events.clear()
    pocketflow_ext.instrument()
    flow.run({})
    assert kinds(events) == plain


def test_upstream_warnings_and_results_are_unchanged() -> None:
    class Stop(pocketflow.Node):
        def post(self, shared: dict, prep_res: Any, exec_res: Any) -> str:
            return "nowhere"

    def run() -> tuple[Any, list[str]]:
        stop = Stop()
        stop - "elsewhere" >> Done()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = pocketflow.Flow(start=stop).run({})
        return result, [str(w.message) for w in caught]

    plain = run()
    with pocketflow_ext.instrument():
        assert run() == plain
    assert plain[1] == ["Flow ends: 'nowhere' not found in ['elsewhere']"]


def test_context_manager_restores_upstream_on_exit() -> None:
    before = _originals()
    with pocketflow_ext.instrument() as active:
        assert pocketflow_ext.is_instrumented()
        assert active.db is None
    assert not pocketflow_ext.is_instrumented()
    assert _originals() == before


def test_hooks_get_pocoflow_signatures_with_names_relative_to_the_top_flow() -> None:
    calls: list[tuple] = []
    inner = pocketflow.Flow(start=Done())
    outer = pocketflow.Flow(start=inner)
    pocketflow_ext.instrument(
        hooks={
            "flow_start": lambda name, store: calls.append(("flow_start", name)),
            "node_end": [
                lambda name, action, elapsed, store: calls.append(("node_end", name)),
                lambda name, action, elapsed, store: calls.append(("second", name)),
            ],
            "flow_end": lambda steps, store: calls.append(("flow_end", steps)),
        }
    )
    outer.run({})
    assert calls == [
        ("flow_start", "Flow"),
        ("node_end", "Flow/Done"),
        ("second", "Flow/Done"),
        ("node_end", "Flow"),
        ("second", "Flow"),
        ("flow_end", 1),
    ]


def test_bad_arguments_are_refused_before_anything_is_patched() -> None:
    with pytest.raises(ConfigurationError, match="db_path must be a file path"):
        pocketflow_ext.instrument(db_path=42)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="trace mode must be one of"):
        pocketflow_ext.instrument(trace="loud")
    assert not pocketflow_ext.is_instrumented()


def test_unknown_hook_event_is_refused_before_anything_is_patched() -> None:
    with pytest.raises(HookError, match="node_finish"):
        pocketflow_ext.instrument(hooks={"node_finish": print})
    with pytest.raises(TypeError, match="callable"):
        pocketflow_ext.instrument(hooks={"node_end": "print"})
    assert not pocketflow_ext.is_instrumented()


def test_trace_option_prints_the_run_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    pocketflow_ext.instrument(trace="plain")
    loop_flow().run({})
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 10
    assert " node_end Flow/Count " in lines[2] and "action=again" in lines[2]
    assert " flow_end Flow " in lines[-1] and "status=completed" in lines[-1]


def test_trace_is_off_by_default_and_env_variable_switches_it_on(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POCKETFLOW_EXT_TRACE", raising=False)
    pocketflow_ext.instrument()
    loop_flow().run({})
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("POCKETFLOW_EXT_TRACE", "plain")
    pocketflow_ext.instrument()
    loop_flow().run({})
    assert "flow_start Flow" in capsys.readouterr().err


def test_db_path_records_every_top_level_run_with_one_node_end_per_execution(
    tmp_path: Path,
) -> None:
    active = pocketflow_ext.instrument(db_path=tmp_path / "runs.db")
    loop_flow().run({})
    pocketflow.Flow(start=Done()).run({})
    runs = active.db.list_runs()
    assert sorted((r["flow_name"], r["status"], r["total_steps"]) for r in runs) == [
        ("Flow", "completed", 1),
        ("Flow", "completed", 4),
    ]
    looped = next(r for r in runs if r["total_steps"] == 4)
    ends = [e for e in active.db.get_events(looped["run_id"]) if e["event"] == "node_end"]
    assert [(e["path"], e["action"]) for e in ends] == [
        ("Flow/Count", "again"),
        ("Flow/Count", "again"),
        ("Flow/Count", "done"),
        ("Flow/Done", None),
    ]


def test_a_failed_run_is_recorded_as_failed_with_its_error(tmp_path: Path) -> None:
    class Boom(pocketflow.Node):
        def exec(self, prep_res: Any) -> None:
            raise RuntimeError("model offline")

    active = pocketflow_ext.instrument(db_path=tmp_path / "runs.db")
    with pytest.raises(RuntimeError):
        pocketflow.Flow(start=Boom()).run({})
    (run,) = active.db.list_runs()
    assert run["status"] == "failed"
    assert run["error_msg"] == "RuntimeError: model offline"


def test_a_flow_recording_itself_is_not_recorded_twice(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    active = pocketflow_ext.instrument(db_path=db)
    own = pocketflow_ext.Flow(start=pocketflow_ext.Node(), db_path=db, flow_name="Own")
    own.run({})
    assert [r["flow_name"] for r in active.db.list_runs()] == ["Own"]


def test_drop_in_flows_without_their_own_database_are_recorded_too(tmp_path: Path) -> None:
    active = pocketflow_ext.instrument(db_path=tmp_path / "runs.db")
    pocketflow_ext.Flow(start=pocketflow_ext.Node(), flow_name="DropIn").run({})
    (run,) = active.db.list_runs()
    assert (run["flow_name"], run["status"], run["total_steps"]) == ("DropIn", "completed", 1)


@pytest.mark.timeout(60)
def test_runs_in_concurrent_threads_are_recorded_separately(tmp_path: Path) -> None:
    active = pocketflow_ext.instrument(db_path=tmp_path / "runs.db")
    results: list[dict] = []

    def one_run() -> None:
        shared: dict = {}
        loop_flow().run(shared)
        results.append(shared)

    threads = [threading.Thread(target=one_run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [{"n": 3, "done": True}] * 8
    runs = active.db.list_runs()
    assert len({r["run_id"] for r in runs}) == 8
    for run in runs:
        assert (run["status"], run["total_steps"]) == ("completed", 4)
        ends = [e for e in active.db.get_events(run["run_id"]) if e["event"] == "node_end"]
        assert [e["step"] for e in ends] == [0, 1, 2, 3]


def test_drop_in_flows_stop_calling_instruments_wrapper_after_uninstrument(events: list) -> None:
    class Step(pocketflow_ext.Node):
        def exec(self, prep_res: Any) -> None:
            raise ValueError("once")

        def exec_fallback(self, prep_res: Any, exc: Exception) -> str:
            return "fell back"

    with pocketflow_ext.instrument():
        pocketflow_ext.Flow(start=Step(max_retries=2)).run({})
    during = len(events)
    pocketflow_ext.Flow(start=Step(max_retries=2)).run({})
    # The same events again (the flow reports itself), none doubled by a leftover wrapper.
    assert [e.kind for e in events[during:]] == [e.kind for e in events[:during]]
    assert [e.kind for e in events[:during]].count("node_retry") == 1
