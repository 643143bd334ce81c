"""RetryMixin: upstream semantics kept; class attributes, backoff, max_delay, jitter, retry_on."""

from __future__ import annotations

import asyncio
import random
import time

import pocketflow
import pytest

import pocketflow_ext
from pocketflow_ext import (
    AsyncBatchNode,
    AsyncFlow,
    AsyncNode,
    AsyncParallelBatchNode,
    BatchNode,
    ConfigurationError,
    Flow,
    Node,
)
from pocketflow_ext.mixins import AsyncRetryMixin, RetryMixin


class Flaky(Node):
    """Fails ``fails`` times with ``error`` then returns "ok"; records attempts and fallbacks."""

    def __init__(self, fails: int = 10**9, error: type[Exception] = ValueError, **kwargs):
        super().__init__(**kwargs)
        self.fails, self.error = fails, error

    def prep(self, shared):
        return shared

    def exec(self, shared):
        shared.setdefault("attempts", []).append(self.cur_retry)
        if len(shared["attempts"]) <= self.fails:
            raise self.error(f"failure {len(shared['attempts'])}")
        return "ok"

    def exec_fallback(self, shared, exc):
        shared["fallback"] = str(exc)
        return "fallback"

    def post(self, shared, prep_res, exec_res):
        shared["result"] = exec_res


def run_with_retries(node: Node) -> tuple[dict, list[tuple]]:
    shared: dict = {}
    retries: list[tuple] = []
    flow = Flow(start=node)
    flow.on(
        "node_retry",
        lambda name, attempt, exc, delay_s, store: retries.append(
            (name, attempt, str(exc), round(delay_s, 6))
        ),
    )
    flow.run(shared)
    return shared, retries


# ── upstream semantics ────────────────────────────────────────────────────────
def test_upstream_max_retries_and_exec_fallback_keep_their_meaning() -> None:
    shared, _ = run_with_retries(Flaky(max_retries=3))
    assert shared["attempts"] == [0, 1, 2]  # max_retries counts attempts; cur_retry is set
    assert shared == {**shared, "result": "fallback", "fallback": "failure 3"}


def test_a_recovering_node_returns_its_result_without_fallback() -> None:
    shared, retries = run_with_retries(Flaky(fails=2, max_retries=3))
    assert shared["result"] == "ok" and "fallback" not in shared
    assert [r[1] for r in retries] == [1, 2]


def test_max_retries_one_means_a_single_attempt() -> None:
    shared, retries = run_with_retries(Flaky(fails=1))
    assert shared["attempts"] == [0] and shared["result"] == "fallback" and retries == []


def test_without_a_fallback_the_last_exception_propagates() -> None:
    class NoFallback(Flaky):
        exec_fallback = Node.exec_fallback

    with pytest.raises(ValueError, match="failure 2"):
        Flow(start=NoFallback(max_retries=2)).run({})


def test_a_raising_fallback_is_reported_once_as_node_error(events) -> None:
    class BadFallback(Flaky):
        def exec_fallback(self, shared, exc):
            raise RuntimeError("fallback broke")

    with pytest.raises(RuntimeError, match="fallback broke"):
        Flow(start=BadFallback(max_retries=2, backoff=2.0)).run({})
    assert [e.kind for e in events if e.kind.startswith("node")] == [
        "node_start",
        "node_retry",
        "node_error",
    ]


def _failure(pf, fallback_raises: bool) -> tuple:
    """What a single-attempt node built on ``pf`` raises: type, text, context, cause."""

    class Once(pf.Node):
        def exec(self, prep_res):
            raise KeyError("exec failed")

        if fallback_raises:

            def exec_fallback(self, prep_res, exc):
                raise RuntimeError("fallback failed")

    with pytest.raises(Exception) as caught:
        pf.Flow(start=Once()).run({})
    exc = caught.value
    context = exc.__context__
    return (type(exc), str(exc), type(context), str(context), exc.__cause__)


@pytest.mark.parametrize("fallback_raises", [False, True], ids=["default fallback", "own"])
def test_a_single_attempt_raises_exactly_what_upstream_raises(fallback_raises: bool) -> None:
    assert _failure(pocketflow_ext, fallback_raises) == _failure(pocketflow, fallback_raises)


def test_retrying_leaves_no_trace_on_the_mixin_classes_or_the_node() -> None:
    before = {cls: dict(vars(cls)) for cls in (RetryMixin, AsyncRetryMixin, Node, Flaky)}
    node = Flaky(fails=1, error=TimeoutError, max_retries=3, backoff=2.0, retry_on=TimeoutError)
    node.run({})  # not in a flow, which would run a copy
    node.retry_on = KeyError
    node.run({})
    assert {cls: dict(vars(cls)) for cls in before} == before
    assert set(vars(node)) == {
        *vars(Flaky(max_retries=3, backoff=2.0, retry_on=TimeoutError)),
        "cur_retry",  # upstream's attempt counter, as upstream leaves it
    }


def test_async_nodes_count_attempts_in_cur_retry_as_upstreams_main_branch_does() -> None:
    seen: list[int] = []

    class Counting(AsyncNode):
        async def exec_async(self, prep_res):
            seen.append(self.cur_retry)
            raise TimeoutError("again")

        async def exec_fallback_async(self, prep_res, exc):
            return "gave up"

    asyncio.run(AsyncFlow(start=Counting(max_retries=3)).run_async({}))
    assert seen == [0, 1, 2]


def test_single_attempt_nodes_of_each_kind_reach_their_own_upstream_exec() -> None:
    class Double(BatchNode):
        def exec(self, item):
            return item * 2

    class Triple(Node):
        def exec(self, prep_res):
            return prep_res * 3

    class AsyncDouble(AsyncBatchNode):
        async def exec_async(self, item):
            return item * 2

    assert Double()._exec([1, 2]) == [2, 4]
    assert Triple()._exec(5) == 15
    assert asyncio.run(AsyncDouble()._exec([3])) == [6]


# ── PocoFlow-style class attributes ───────────────────────────────────────────
class ClassConfigured(Flaky):
    max_retries = 3
    retry_delay = 0.001


def test_class_attributes_are_not_clobbered_by_upstreams_constructor() -> None:
    node = ClassConfigured()
    assert (node.max_retries, node.wait) == (3, 0.001)
    shared, retries = run_with_retries(node)
    assert len(shared["attempts"]) == 3 and [r[3] for r in retries] == [0.001, 0.001]


def test_constructor_arguments_win_over_class_attributes() -> None:
    node = ClassConfigured(max_retries=2, wait=0.002)
    assert (node.max_retries, node.wait) == (2, 0.002)
    assert ClassConfigured(retry_delay=0.005).wait == 0.005


def test_a_class_attribute_wait_is_honoured_too() -> None:
    class Waits(Flaky):
        wait = 0.003

    assert Waits().wait == 0.003


def test_class_settings_count_wherever_the_class_was_built() -> None:
    # Whose setting it is depends on the class, not on the module it was created in.
    built_inside = type("Step", (Flaky,), {"max_retries": 3, "__module__": "pocketflow_ext.x"})
    assert built_inside().max_retries == 3


def test_class_settings_from_a_mixin_listed_after_the_node_class_are_honoured() -> None:
    class Defaults:
        max_retries = 4
        retry_delay = 0.002

    class Step(Flaky, Defaults):
        pass

    assert (Step().max_retries, Step().wait) == (4, 0.002)


def test_retry_mixin_alone_on_an_upstream_node_honours_class_attributes() -> None:
    class Plain(RetryMixin, pocketflow.Node):
        max_retries = 2
        backoff = 3.0

        def exec(self, prep_res):
            raise KeyError("x")

        def exec_fallback(self, prep_res, exc):
            return "fell back"

        def post(self, shared, prep_res, exec_res):
            shared["r"] = exec_res

    shared: dict = {}
    pocketflow.Flow(start=Plain()).run(shared)
    assert shared == {"r": "fell back"} and Plain().max_retries == 2


# ── delays: reported in node_retry, asserted exactly ──────────────────────────
def test_backoff_multiplies_the_delay_each_attempt() -> None:
    _, retries = run_with_retries(Flaky(max_retries=4, wait=0.001, backoff=2.0))
    assert [r[3] for r in retries] == [0.001, 0.002, 0.004]
    assert [r[:3] for r in retries] == [
        ("Flaky", 1, "failure 1"),
        ("Flaky", 2, "failure 2"),
        ("Flaky", 3, "failure 3"),
    ]


def test_max_delay_caps_the_backoff() -> None:
    _, retries = run_with_retries(Flaky(max_retries=5, wait=0.001, backoff=3.0, max_delay=0.005))
    assert [r[3] for r in retries] == [0.001, 0.003, 0.005, 0.005]


def test_jitter_adds_at_most_its_amount_and_never_touches_global_random() -> None:
    random.seed(1234)
    state = random.getstate()
    node = Flaky(max_retries=6, wait=0.001, jitter=0.002)
    delays = [node.retry_delay_for(a) for a in range(1, 200)]
    assert all(0.001 <= d <= 0.003 for d in delays) and len(set(delays)) > 1
    _, retries = run_with_retries(Flaky(max_retries=3, wait=0.001, jitter=0.002))
    assert len(retries) == 2 and all(0.001 <= r[3] <= 0.003 for r in retries)
    assert random.getstate() == state


def test_each_failed_attempt_sleeps_exactly_the_reported_delay(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    _, retries = run_with_retries(Flaky(fails=2, max_retries=3, wait=0.01, jitter=0.004))
    assert [r[1] for r in retries] == [1, 2]
    assert [round(d, 6) for d in slept] == [r[3] for r in retries]  # jitter included


def test_no_wait_means_no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    shared, retries = run_with_retries(Flaky(fails=2, max_retries=3))
    assert shared["result"] == "ok" and [r[3] for r in retries] == [0, 0] and slept == []


def test_reading_wait_in_user_code_reports_nothing() -> None:
    class Reader(Node):
        def exec(self, prep_res):
            try:
                raise KeyError("x")
            except KeyError:
                return self.wait

    shared, retries = run_with_retries(Reader(wait=0.5))
    assert retries == []


def test_the_reported_delay_is_the_one_slept() -> None:
    slept: list[float] = []

    class Measured(Flaky):
        def retry_delay_for(self, attempt: int) -> float:
            delay = super().retry_delay_for(attempt)
            slept.append(delay)
            return delay

    _, retries = run_with_retries(Measured(max_retries=3, wait=0.001, backoff=4.0))
    assert slept == [0.001, 0.004] and [r[3] for r in retries] == slept


# ── retry_on ─────────────────────────────────────────────────────────────────
def test_an_exception_outside_retry_on_goes_to_fallback_at_once() -> None:
    shared, retries = run_with_retries(
        Flaky(error=KeyError, max_retries=5, wait=0.001, retry_on=(TimeoutError, ValueError))
    )
    assert shared["attempts"] == [0] and shared["result"] == "fallback" and retries == []


def test_an_exception_in_retry_on_is_retried() -> None:
    shared, retries = run_with_retries(
        Flaky(fails=2, error=TimeoutError, max_retries=5, retry_on=TimeoutError)
    )
    assert shared["result"] == "ok" and len(retries) == 2


def test_retry_on_subclasses_count_as_matching() -> None:
    shared, _ = run_with_retries(
        Flaky(fails=1, error=ConnectionResetError, max_retries=2, retry_on=OSError)
    )
    assert shared["result"] == "ok"


def test_a_non_matching_exception_without_fallback_propagates_after_one_attempt() -> None:
    class NoFallback(Flaky):
        exec_fallback = Node.exec_fallback

    shared: dict = {}
    with pytest.raises(KeyError):
        Flow(start=NoFallback(error=KeyError, max_retries=4, retry_on=ValueError)).run(shared)
    assert shared["attempts"] == [0]


def test_retry_on_assigned_on_a_node_after_construction_is_honoured() -> None:
    node = Flaky(error=KeyError, max_retries=5)
    node.retry_on = TimeoutError
    shared, retries = run_with_retries(node)
    assert shared["attempts"] == [0] and shared["result"] == "fallback" and retries == []


def test_retry_on_from_the_class_body_is_honoured() -> None:
    class OnlyTimeouts(Flaky):
        retry_on = (TimeoutError,)

    shared, _ = run_with_retries(OnlyTimeouts(error=KeyError, max_retries=5))
    assert shared["attempts"] == [0] and shared["result"] == "fallback"


def test_retry_on_set_on_a_class_after_its_nodes_were_made_applies_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Picky(Flaky):
        pass

    node = Picky(error=KeyError, max_retries=3)
    monkeypatch.setattr(Picky, "retry_on", (TimeoutError,), raising=False)
    shared, retries = run_with_retries(node)
    assert shared["attempts"] == [0] and shared["result"] == "fallback" and retries == []


def test_a_bad_retry_on_set_on_a_class_later_is_a_configuration_error_at_the_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Picky(Flaky):
        pass

    node = Picky(max_retries=3)
    monkeypatch.setattr(Picky, "retry_on", "TimeoutError", raising=False)
    with pytest.raises(ConfigurationError, match="retry_on must be an Exception subclass"):
        run_with_retries(node)


def test_a_bad_retry_on_assigned_on_a_node_is_a_configuration_error() -> None:
    node = Node()
    with pytest.raises(ConfigurationError, match="retry_on must be an Exception subclass"):
        node.retry_on = "TimeoutError"  # type: ignore[assignment]


def test_retry_extras_work_when_the_node_runs_alone() -> None:
    shared: dict = {}
    Flaky(fails=1, max_retries=2, backoff=2.0).run(shared)
    assert shared["result"] == "ok" and len(shared["attempts"]) == 2


# ── async ────────────────────────────────────────────────────────────────────
class AsyncFlaky(AsyncNode):
    def __init__(self, fails: int = 10**9, **kwargs):
        super().__init__(**kwargs)
        self.fails = fails

    async def prep_async(self, shared):
        return shared

    async def exec_async(self, shared):
        shared["tries"] = shared.get("tries", 0) + 1
        await asyncio.sleep(0)
        if shared["tries"] <= self.fails:
            raise TimeoutError(f"try {shared['tries']}")
        return "ok"

    async def exec_fallback_async(self, shared, exc):
        return f"fallback after {exc}"

    async def post_async(self, shared, prep_res, exec_res):
        shared["result"] = exec_res


def test_async_nodes_retry_with_backoff_and_report_each_failure(events) -> None:
    shared: dict = {}
    flow = AsyncFlow(start=AsyncFlaky(max_retries=3, wait=0.001, backoff=2.0))
    asyncio.run(flow.run_async(shared))
    assert shared == {"tries": 3, "result": "fallback after try 3"}
    retries = [e for e in events if e.kind == "node_retry"]
    assert [(e.attempt, e.delay_s, e.error) for e in retries] == [
        (1, 0.001, "TimeoutError: try 1"),
        (2, 0.002, "TimeoutError: try 2"),
    ]


def test_async_retry_on_sends_other_errors_to_fallback_at_once() -> None:
    shared: dict = {}
    node = AsyncFlaky(max_retries=5, retry_on=KeyError)
    asyncio.run(AsyncFlow(start=node).run_async(shared))
    assert shared == {"tries": 1, "result": "fallback after try 1"}


def test_parallel_batch_items_count_their_attempts_independently(events) -> None:
    class Items(AsyncParallelBatchNode):
        async def prep_async(self, shared):
            return [0, 1, 2]

        async def exec_async(self, item):
            tries = self.tries[item] = self.tries.get(item, 0) + 1
            await asyncio.sleep(0)
            if tries <= 2:
                raise TimeoutError(f"item {item} try {tries}")
            return item * 10

        async def post_async(self, shared, prep_res, exec_res):
            shared["out"] = exec_res

    node = Items(max_retries=3, backoff=2.0)
    node.tries = {}
    shared: dict = {}
    asyncio.run(AsyncFlow(start=node).run_async(shared))
    assert shared["out"] == [0, 10, 20]
    attempts = sorted((e.error, e.attempt) for e in events if e.kind == "node_retry")
    assert attempts == sorted(
        (f"TimeoutError: item {i} try {t}", t) for i in range(3) for t in (1, 2)
    )


def test_async_attempts_are_numbered_and_backed_off_per_node(events) -> None:
    class Slow(AsyncNode):
        max_retries = 4
        retry_delay = 0.001
        backoff = 2.0

        async def exec_async(self, prep_res):
            if self.cur_retry < 3:
                raise TimeoutError("slow")
            return "ok"

    AsyncFlow(start=Slow()).run({})
    assert [(e.attempt, e.delay_s) for e in events if e.kind == "node_retry"] == [
        (1, 0.001),
        (2, 0.002),
        (3, 0.004),
    ]


# ── batches: each item has its own attempts ───────────────────────────────────
def _items_node(base: type, *, is_async: bool) -> type:
    """Items 0..2: item 1 times out once, item 2 raises KeyError (outside retry_on)."""

    def attempt(self, item):
        self.tries[item] = self.tries.get(item, 0) + 1
        if item == 1 and self.tries[item] == 1:
            raise TimeoutError("item 1 timed out")
        if item == 2:
            raise KeyError("item 2 is broken")
        return item * 10

    def fallback(self, item, exc):
        return f"fallback {item}"

    def prep(self, shared):
        return [0, 1, 2]

    def post(self, shared, prep_res, exec_res):
        shared["out"] = exec_res

    if not is_async:
        body = {"exec": attempt, "exec_fallback": fallback, "prep": prep, "post": post}
    else:

        async def exec_async(self, item):
            await asyncio.sleep(0)
            return attempt(self, item)

        async def fallback_async(self, item, exc):
            return fallback(self, item, exc)

        async def prep_async(self, shared):
            return prep(self, shared)

        async def post_async(self, shared, prep_res, exec_res):
            post(self, shared, prep_res, exec_res)

        body = {
            "exec_async": exec_async,
            "exec_fallback_async": fallback_async,
            "prep_async": prep_async,
            "post_async": post_async,
        }

    def __init__(self, *args, **kwargs):
        base.__init__(self, *args, **kwargs)
        self.tries = {}

    return type("Items", (base,), {"__init__": __init__, **body})


BATCH_KINDS = [
    pytest.param(BatchNode, False, id="BatchNode"),
    pytest.param(AsyncBatchNode, True, id="AsyncBatchNode"),
    pytest.param(AsyncParallelBatchNode, True, id="AsyncParallelBatchNode"),
]


@pytest.mark.parametrize("base, is_async", BATCH_KINDS)
def test_each_item_of_a_batch_retries_on_its_own_and_honours_retry_on(
    base: type, is_async: bool, events
) -> None:
    node = _items_node(base, is_async=is_async)(max_retries=3, wait=0.001, retry_on=TimeoutError)
    shared: dict = {}
    (AsyncFlow if is_async else Flow)(start=node).run(shared)
    assert shared["out"] == [0, 10, "fallback 2"]
    assert node.tries == {0: 1, 1: 2, 2: 1}  # KeyError: no second attempt
    retries = [e for e in events if e.kind == "node_retry"]
    assert [(e.attempt, e.error, e.delay_s) for e in retries] == [
        (1, "TimeoutError: item 1 timed out", 0.001)
    ]


# ── the mixins alone, on upstream classes ─────────────────────────────────────
MIXIN_ALONE = [
    pytest.param((RetryMixin, pocketflow.Node), False, id="Node"),
    pytest.param((pocketflow.BatchNode, RetryMixin, pocketflow.Node), False, id="BatchNode"),
    pytest.param((AsyncRetryMixin, pocketflow.AsyncNode), True, id="AsyncNode"),
    pytest.param(
        (pocketflow.AsyncBatchNode, AsyncRetryMixin, RetryMixin, pocketflow.AsyncNode),
        True,
        id="AsyncBatch",
    ),
    pytest.param(
        (pocketflow.AsyncParallelBatchNode, AsyncRetryMixin, RetryMixin, pocketflow.AsyncNode),
        True,
        id="AsyncParallelBatch",
    ),
]


@pytest.mark.parametrize("bases, is_async", MIXIN_ALONE)
def test_the_retry_mixins_alone_honour_retry_on_under_upstream_flows(
    bases: tuple, is_async: bool
) -> None:
    base = type("Base", bases, {})
    batch = issubclass(base, pocketflow.BatchNode)
    items = _items_node(base, is_async=is_async)
    if not batch:  # one item: the one that times out once
        prep = (lambda self, shared: 1) if not is_async else None

        async def prep_async(self, shared):
            return 1

        def post(self, shared, prep_res, exec_res):
            shared["out"] = exec_res

        async def post_async(self, shared, prep_res, exec_res):
            shared["out"] = exec_res

        items = type(
            "One",
            (items,),
            {"prep_async": prep_async, "post_async": post_async}
            if is_async
            else {"prep": prep, "post": post},
        )
    node = items(max_retries=3, retry_on=TimeoutError, backoff=2.0)
    shared: dict = {}
    if is_async:
        asyncio.run(pocketflow.AsyncFlow(start=node).run_async(shared))
    else:
        pocketflow.Flow(start=node).run(shared)
    assert shared["out"] == ([0, 10, "fallback 2"] if batch else 10)


@pytest.mark.parametrize(
    "bases, problem, fix",
    [
        ((RetryMixin, pocketflow.BatchNode), "handed the whole batch",
         "X(pocketflow.BatchNode, RetryMixin, pocketflow.Node)"),
        ((AsyncRetryMixin, pocketflow.AsyncParallelBatchNode), "handed the whole batch",
         "X(pocketflow.AsyncParallelBatchNode, AsyncRetryMixin, RetryMixin, pocketflow.AsyncNode)"),
        ((pocketflow.AsyncBatchNode, AsyncRetryMixin, pocketflow.AsyncNode), "never runs",
         "X(pocketflow.AsyncBatchNode, AsyncRetryMixin, RetryMixin, pocketflow.AsyncNode)"),
        ((pocketflow.Node, RetryMixin), "upstream's Node._exec would run",
         "X(RetryMixin, pocketflow.Node)"),
        ((RetryMixin, pocketflow.AsyncNode), "X is an async node",
         "X(AsyncRetryMixin, pocketflow.AsyncNode)"),
        ((AsyncRetryMixin, pocketflow.Node), "X is not an async node",
         "X(RetryMixin, pocketflow.Node)"),
        ((Node, pocketflow.BatchNode), "handed the whole batch",
         "X(pocketflow.BatchNode, RetryMixin, pocketflow.Node)"),
    ],
    ids=["before BatchNode", "before AsyncParallelBatchNode", "async batch without RetryMixin",
         "after Node", "sync on async", "async on sync", "drop-in Node with upstream BatchNode"],
)  # fmt: skip
def test_a_retry_mixin_that_upstream_would_bypass_is_an_error_naming_the_fix(
    bases: tuple, problem: str, fix: str
) -> None:
    with pytest.raises(ConfigurationError, match="the retry settings of X would be ignored") as e:
        type("X", bases, {})
    assert problem in str(e.value) and fix in str(e.value)


# ── instrument(): upstream nodes run the same attempts ────────────────────────
def test_instrument_runs_upstream_attempts_through_the_same_functions(events) -> None:
    class Plain(pocketflow.Node):
        def exec(self, prep_res):
            if self.cur_retry < 2:
                raise ValueError(f"attempt {self.cur_retry + 1}")
            return "ok"

        def post(self, shared, prep_res, exec_res):
            shared["result"] = exec_res

    class PlainAsync(pocketflow.AsyncNode):
        async def exec_async(self, prep_res):
            self.calls = getattr(self, "calls", 0) + 1
            if self.calls < 4:
                raise TimeoutError("slow")
            return "ok"

    original = vars(pocketflow.Node)["_exec"], vars(pocketflow.AsyncNode)["_exec"]
    shared: dict = {}
    with pocketflow_ext.instrument():
        pocketflow.Flow(start=Plain(max_retries=3, wait=0.001)).run(shared)
        asyncio.run(pocketflow.AsyncFlow(start=PlainAsync(max_retries=4)).run_async({}))
    assert (vars(pocketflow.Node)["_exec"], vars(pocketflow.AsyncNode)["_exec"]) == original
    assert shared == {"result": "ok"}
    retries = [(e.flow_name, e.attempt, e.delay_s) for e in events if e.kind == "node_retry"]
    assert retries == [
        ("Flow", 1, 0.001),
        ("Flow", 2, 0.001),
        ("AsyncFlow", 1, 0),
        ("AsyncFlow", 2, 0),
        ("AsyncFlow", 3, 0),
    ]


def test_a_wrapper_put_on_upstreams_batch_loop_later_is_honoured() -> None:
    class Double(BatchNode):
        def exec(self, item):
            return item * 2

    assert Double()._exec([1, 2]) == [2, 4]
    seen: list = []
    original = vars(pocketflow.BatchNode)["_exec"]

    def traced(self, items):  # what a tracing integration does after the first run
        seen.append(items)
        return original(self, items)

    try:
        pocketflow.BatchNode._exec = traced
        assert Double()._exec([3]) == [6]
    finally:
        pocketflow.BatchNode._exec = original
    assert seen == [[3]]


# ── bad configuration ────────────────────────────────────────────────────────
@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"max_retries": 0}, "max_retries"),
        ({"max_retries": "3"}, "max_retries"),
        ({"max_retries": True}, "max_retries"),
        ({"wait": -1}, "wait"),
        ({"retry_delay": "1"}, "retry_delay"),
        ({"backoff": 0.5}, "backoff"),
        ({"max_delay": -0.1}, "max_delay"),
        ({"jitter": -1}, "jitter"),
        ({"retry_on": "ValueError"}, "retry_on"),
        ({"retry_on": (ValueError, 3)}, "retry_on"),
        ({"retry_on": KeyboardInterrupt}, "retry_on"),
        ({"retry_on": ()}, "retry_on"),
    ],
)
def test_bad_retry_settings_are_configuration_errors(kwargs: dict, word: str) -> None:
    with pytest.raises(ConfigurationError, match=word):
        Node(**kwargs)


@pytest.mark.parametrize(
    "attrs, word",
    [
        ({"backoff": 0.5}, "Broken.backoff"),
        ({"backoff": "2"}, "Broken.backoff"),
        ({"jitter": -1}, "Broken.jitter"),
        ({"max_delay": "x"}, "Broken.max_delay"),
        ({"retry_on": (ValueError, "x")}, "Broken.retry_on"),
        ({"retry_on": [ValueError]}, "Broken.retry_on"),
    ],
)
def test_bad_retry_class_attributes_are_configuration_errors(attrs: dict, word: str) -> None:
    broken = type("Broken", (Node,), {"max_retries": 2, **attrs})
    with pytest.raises(ConfigurationError, match=word):
        broken()


def test_a_bad_class_attribute_is_reported_with_the_class_name() -> None:
    class Broken(Node):
        max_retries = 0

    with pytest.raises(ConfigurationError, match="Broken"):
        Broken()
