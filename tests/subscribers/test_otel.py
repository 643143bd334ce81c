"""OpenTelemetryTracer with the SDK's in-memory exporter: span tree, parents, attributes,
retries as span events, errors, timing order, branches in threads, live mode nesting."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from pocketflow_ext import AsyncFlow, AsyncNode, AsyncParallelBatchFlow, Event, Flow, Node
from pocketflow_ext.subscribers.otel import OpenTelemetryTracer


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> TracerProvider:
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    return tracer_provider


def spans_by_name(exporter: InMemorySpanExporter) -> dict[str, list[ReadableSpan]]:
    out: dict[str, list[ReadableSpan]] = {}
    for span in exporter.get_finished_spans():
        out.setdefault(span.name, []).append(span)
    return out


def parent_of(span: ReadableSpan, spans: list[ReadableSpan]) -> ReadableSpan | None:
    if span.parent is None:
        return None
    return next(s for s in spans if s.context.span_id == span.parent.span_id)


def tree(exporter: InMemorySpanExporter) -> dict[str, str | None]:
    """Each span's name -> its parent's name, for span names that occur once."""
    spans = list(exporter.get_finished_spans())
    return {s.name: (p.name if (p := parent_of(s, spans)) is not None else None) for s in spans}


class Draft(Node):
    max_retries = 2

    def exec(self, prep_res: Any) -> str:
        if self.cur_retry == 0:
            raise TimeoutError("slow model")
        return "draft"

    def post(self, shared: Any, prep_res: Any, exec_res: Any) -> str:
        return "review"


class Review(Node):
    def post(self, shared: Any, prep_res: Any, exec_res: Any) -> str:
        return "ok"


def writing_flow(tracer: OpenTelemetryTracer) -> Flow:
    draft = Draft()
    inner = Flow(start=Review(), flow_name="Editing")
    draft - "review" >> inner
    return Flow(start=draft, flow_name="Writing").subscribe(tracer)


def test_one_span_per_run_and_per_node_nested_by_path(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = OpenTelemetryTracer(provider)
    writing_flow(tracer).run({})
    tracer.flush()
    spans = list(exporter.get_finished_spans())
    by_kind = {(s.name, s.attributes["pocketflow.kind"]): s for s in spans}
    assert sorted(by_kind) == [
        ("Writing", "run"),
        ("Writing/Draft", "node"),
        ("Writing/Editing", "flow"),  # the nested flow's own level...
        ("Writing/Editing", "node"),  # ...inside the node it runs as
        ("Writing/Editing/Review", "node"),
    ]
    run = by_kind[("Writing", "run")]
    assert run.parent is None
    assert parent_of(by_kind[("Writing/Draft", "node")], spans) is run
    assert parent_of(by_kind[("Writing/Editing", "node")], spans) is run
    level = by_kind[("Writing/Editing", "flow")]
    assert parent_of(level, spans) is by_kind[("Writing/Editing", "node")]
    assert parent_of(by_kind[("Writing/Editing/Review", "node")], spans) is level
    assert len({s.context.trace_id for s in spans}) == 1


def test_spans_carry_run_flow_path_action_and_attempts(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = OpenTelemetryTracer(provider)
    writing_flow(tracer).run({})
    tracer.flush()
    draft = spans_by_name(exporter)["Writing/Draft"][0]
    run = spans_by_name(exporter)["Writing"][0]
    assert draft.attributes["pocketflow.flow"] == "Writing"
    assert draft.attributes["pocketflow.node"] == "Draft"
    assert draft.attributes["pocketflow.path"] == "Writing/Draft"
    assert draft.attributes["pocketflow.action"] == "review"
    assert draft.attributes["pocketflow.attempts"] == 2
    assert draft.attributes["pocketflow.step"] == 0
    assert draft.attributes["pocketflow.run_id"] == run.attributes["pocketflow.run_id"]
    assert run.attributes["pocketflow.status"] == "completed"
    assert run.attributes["pocketflow.steps"] == 2


def test_a_retry_is_a_span_event_with_its_attempt_and_error(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = OpenTelemetryTracer(provider)
    writing_flow(tracer).run({})
    tracer.flush()
    (retry,) = spans_by_name(exporter)["Writing/Draft"][0].events
    assert retry.name == "retry"
    assert retry.attributes["pocketflow.attempt"] == 1
    assert retry.attributes["exception.message"] == "TimeoutError: slow model"


def test_a_failing_node_and_its_run_have_status_error_and_the_exception(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    class Broken(Node):
        def exec(self, prep_res: Any) -> None:
            raise KeyError("missing")

    tracer = OpenTelemetryTracer(provider)
    with pytest.raises(KeyError):
        Flow(start=Broken()).subscribe(tracer).run({})
    tracer.flush()
    spans = spans_by_name(exporter)
    node, run = spans["Flow/Broken"][0], spans["Flow"][0]
    for span in (node, run):
        assert span.status.status_code is StatusCode.ERROR
        assert "KeyError" in (span.status.description or "")
    assert [e.name for e in node.events] == ["exception"]
    assert run.attributes["pocketflow.status"] == "failed"


def test_spans_start_and_end_in_the_order_the_nodes_ran(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = OpenTelemetryTracer(provider)
    writing_flow(tracer).run({})
    tracer.flush()
    spans = spans_by_name(exporter)
    run, draft = spans["Writing"][0], spans["Writing/Draft"][0]
    review = spans["Writing/Editing/Review"][0]
    assert run.start_time <= draft.start_time <= draft.end_time <= review.start_time
    assert review.end_time <= run.end_time


def test_parallel_batch_items_in_tasks_each_get_a_span_under_the_run(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    class Fetch(AsyncNode):
        async def exec_async(self, prep_res: Any) -> None:
            await asyncio.sleep(0.01)

    class Pages(AsyncParallelBatchFlow):
        async def prep_async(self, shared: Any) -> list[dict[str, int]]:
            return [{"page": i} for i in range(3)]

    tracer = OpenTelemetryTracer(provider)
    asyncio.run(Pages(start=Fetch()).subscribe(tracer).run_async({}))
    tracer.flush()
    spans = list(exporter.get_finished_spans())
    fetches = [s for s in spans if s.name == "Pages/Fetch"]
    (run,) = [s for s in spans if s.name == "Pages"]
    assert len(fetches) == 3
    assert all(parent_of(s, spans) is run for s in fetches)
    assert len({s.attributes["pocketflow.step"] for s in fetches}) == 3


@pytest.mark.parametrize("live", [False, True], ids=["built-at-end", "live"])
def test_parallel_branch_paths_hang_under_their_group_whatever_the_order(live: bool) -> None:
    """Branches of a parallel group (paths ``Flow/Parallel/b/Fetch``) interleave; parents
    come from the paths, so each branch's nodes sit under the group's span."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = OpenTelemetryTracer(provider, live=live)
    started: dict[int, float] = {}

    def event(kind: str, path: str, ts: float, step: int | None = None) -> Event:
        if kind == "node_start":
            started[step or 0] = ts
        elapsed = ts - started[step or 0] if kind == "node_end" else None
        return Event(kind=kind, run_id="r", flow_name="Flow", path=path, ts=ts, step=step,
                     node=path.rsplit("/", 1)[-1], elapsed_s=elapsed,
                     status="completed" if kind == "flow_end" else None)  # fmt: skip

    feed = [
        event("flow_start", "Flow", 1.0),
        event("node_start", "Flow/Parallel", 1.0, 0),
        event("node_start", "Flow/Parallel/a/Fetch", 1.1, 1),
        event("node_start", "Flow/Parallel/b/Fetch", 1.1, 2),
        event("node_end", "Flow/Parallel/b/Fetch", 2.0, 2),
        event("node_start", "Flow/Parallel/b/Parse", 2.0, 3),
        event("node_end", "Flow/Parallel/a/Fetch", 3.0, 1),
        event("node_end", "Flow/Parallel/b/Parse", 3.0, 3),
        event("node_end", "Flow/Parallel", 4.0, 0),
        event("flow_end", "Flow", 4.0),
    ]

    def deliver() -> None:
        for e in feed:
            if tracer.wants(e.kind):
                tracer(e)

    # Fed from one context here; real branches each run in their own (live mode makes a
    # node's span current in its context).
    contextvars.copy_context().run(deliver)
    tracer.flush()
    assert tree(exporter) == {
        "Flow": None,
        "Flow/Parallel": "Flow",
        "Flow/Parallel/a/Fetch": "Flow/Parallel",
        "Flow/Parallel/b/Fetch": "Flow/Parallel",
        "Flow/Parallel/b/Parse": "Flow/Parallel",
    }
    fetch = next(s for s in exporter.get_finished_spans() if s.name == "Flow/Parallel/a/Fetch")
    assert (fetch.start_time, fetch.end_time) == (1_100_000_000, 3_000_000_000)


def test_spans_are_built_from_the_ends_so_node_starts_are_not_needed() -> None:
    tracer = OpenTelemetryTracer(TracerProvider())
    assert not tracer.wants("node_start") and tracer.wants("node_end")
    assert OpenTelemetryTracer(TracerProvider(), live=True).wants("node_start")


def test_a_node_looping_through_a_nested_flow_gets_one_subtree_per_pass(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    class Again(Node):
        def post(self, shared: Any, prep_res: Any, exec_res: Any) -> str:
            shared["n"] = shared.get("n", 0) + 1
            return "again" if shared["n"] < 3 else "stop"

    inner = Flow(start=Again(), flow_name="Pass")
    inner - "again" >> inner
    inner - "stop" >> Node(name="Done")  # a quiet exit: no upstream "Flow ends" warning
    tracer = OpenTelemetryTracer(provider)
    Flow(start=inner, flow_name="Loop").subscribe(tracer).run({})
    tracer.flush()
    spans = list(exporter.get_finished_spans())
    levels = [s for s in spans if s.attributes["pocketflow.kind"] == "flow"]
    agains = [s for s in spans if s.name == "Loop/Pass/Again"]
    assert len(levels) == 3 and len(agains) == 3
    # each pass's node sits in its own pass's level, which sits in its own node span
    assert {parent_of(s, spans).context.span_id for s in agains} == {
        s.context.span_id for s in levels
    }
    for level in levels:
        node = parent_of(level, spans)
        assert node.attributes["pocketflow.kind"] == "node"
        assert node.start_time <= level.start_time and level.end_time <= node.end_time


def test_a_run_started_inside_a_callers_span_becomes_its_child(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = OpenTelemetryTracer(provider, live=True)
    with provider.get_tracer("app").start_as_current_span("request"):
        Flow(start=Review()).subscribe(tracer).run({})
    assert tree(exporter)["Flow"] == "request"


def test_live_spans_make_spans_of_the_nodes_own_code_their_children(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    app = provider.get_tracer("app")

    class CallModel(Node):
        def exec(self, prep_res: Any) -> None:
            with app.start_as_current_span("http POST /v1/chat"):
                pass

    tracer = OpenTelemetryTracer(provider, live=True)
    Flow(start=CallModel()).subscribe(tracer).run({})
    assert tree(exporter)["http POST /v1/chat"] == "Flow/CallModel"
    assert trace.get_current_span() is trace.INVALID_SPAN  # the node's context was restored


def test_async_nodes_get_spans_too(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    class Think(AsyncNode):
        async def exec_async(self, prep_res: Any) -> None:
            await asyncio.sleep(0)

    tracer = OpenTelemetryTracer(provider)
    asyncio.run(AsyncFlow(start=Think()).subscribe(tracer).run_async({}))
    tracer.flush()
    assert tree(exporter) == {"AsyncFlow": None, "AsyncFlow/Think": "AsyncFlow"}


def test_the_builder_thread_exports_each_run_when_it_ends(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = OpenTelemetryTracer(provider, build_every=0.05)
    Flow(start=Review()).subscribe(tracer).run({})
    for _ in range(200):  # the builder wakes when the run ends; no flush() here
        if len(exporter.get_finished_spans()) == 2:
            break
        asyncio.run(asyncio.sleep(0.01))
    assert sorted(s.name for s in exporter.get_finished_spans()) == ["Flow", "Flow/Review"]


def test_a_bad_build_interval_is_refused() -> None:
    from pocketflow_ext import ConfigurationError

    with pytest.raises(ConfigurationError, match="build_every must be a number of seconds"):
        OpenTelemetryTracer(TracerProvider(), build_every=0)


def test_at_exit_an_unfinished_run_is_built_with_its_open_spans_marked(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = OpenTelemetryTracer(provider, build_every=None)
    base = dict(run_id="r", flow_name="Flow")
    tracer(Event(kind="flow_start", path="Flow", ts=1.0, **base))
    tracer(Event(kind="node_end", path="Flow/A", ts=2.0, step=0, elapsed_s=0.5, **base))
    tracer.flush()
    assert exporter.get_finished_spans() == ()  # the run has not ended
    tracer.flush(unfinished=True)  # what interpreter exit does
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert spans["Flow"].attributes["pocketflow.status"] == "unfinished"
    assert spans["Flow"].end_time == 2_000_000_000
    assert spans["Flow/A"].start_time == 1_500_000_000


def test_a_flow_run_in_a_worker_thread_by_a_node_nests_under_that_node(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    inner = Flow(start=Review(), flow_name="Inner")

    class Delegate(Node):
        def exec(self, prep_res: Any) -> None:
            # The run's context goes with the work item, as the docs ask of executors.
            context = contextvars.copy_context()
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                pool.submit(context.run, inner.run, {}).result()

    tracer = OpenTelemetryTracer(provider)
    Flow(start=Delegate(), flow_name="Outer").subscribe(tracer).run({})
    tracer.flush()
    spans = list(exporter.get_finished_spans())
    by_kind = {(s.name, s.attributes["pocketflow.kind"]): s for s in spans}
    node = by_kind[("Outer/Delegate", "node")]
    level = by_kind[("Outer/Delegate", "flow")]  # the flow started inside the node's code
    review = by_kind[("Outer/Delegate/Review", "node")]
    assert parent_of(level, spans) is node and parent_of(review, spans) is level
