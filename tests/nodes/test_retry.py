"""RetryMixin: upstream semantics kept; class attributes, backoff, max_delay, jitter, retry_on."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys

import pocketflow
import pytest

from pocketflow_ext import (
    AsyncFlow,
    AsyncNode,
    AsyncParallelBatchNode,
    ConfigurationError,
    Flow,
    Node,
)
from pocketflow_ext.mixins import RetryMixin


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


def test_the_exec_shadow_is_removed_after_the_run() -> None:
    node = Flaky(fails=1, max_retries=2, backoff=2.0)
    run_with_retries(node)
    assert "exec" not in vars(node)


def test_single_attempt_nodes_of_each_kind_reach_their_own_upstream_exec() -> None:
    from pocketflow_ext import AsyncBatchNode, BatchNode

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
    assert Double()._exec([4]) == [8]  # and again, from the per-class lookup


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


def test_a_bad_retry_on_assigned_on_a_node_is_a_configuration_error() -> None:
    node = Node()
    with pytest.raises(ConfigurationError, match="retry_on must be an Exception subclass"):
        node.retry_on = "TimeoutError"  # type: ignore[assignment]


# Whether the retry_on seam is installed is process state, so these start a fresh Python.
_SEAM_CHECK = """
import pocketflow_ext
from pocketflow_ext.mixins import RetryMixin

class Work(pocketflow_ext.Node):
    max_retries = 3
    retry_delay = 0.01
    def exec(self, prep_res):
        return 1

pocketflow_ext.Flow(start=Work()).run({})
print("_exec" in vars(RetryMixin))  # retry configured, retry_on never used: no seam
{use}
print("_exec" in vars(RetryMixin))
"""


@pytest.mark.parametrize(
    "use",
    [
        "Work().retry_on = KeyError",
        "Work(retry_on=KeyError)",
        "class Picky(Work):\n    retry_on = KeyError",
        "Work.retry_on = KeyError\nWork()",
    ],
    ids=["node attribute", "constructor", "class body", "class attribute set later"],
)
def test_the_retry_on_seam_is_installed_only_once_retry_on_is_used(use: str) -> None:
    script = _SEAM_CHECK.replace("{use}", use)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True"]


_LATE_CLASS_SETTING = """
import warnings
import pocketflow_ext

class Picky(pocketflow_ext.Node):
    def exec(self, prep_res):
        self.calls = getattr(self, "calls", 0) + 1
        raise KeyError("not retryable")
    def exec_fallback(self, prep_res, exc):
        return self.calls

node = Picky(max_retries=3)
Picky.retry_on = (TimeoutError,)  # after the node was made, as monkeypatch.setattr would
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    print(node._run({}) is None, node.calls)  # this execution: every attempt
    node.calls = 0
    node._run({})
print(node.calls)  # the next one: one attempt, then the fallback
print([str(w.message) for w in caught])
"""


def test_retry_on_set_on_a_class_after_its_nodes_were_made_warns_and_applies_next_time() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _LATE_CLASS_SETTING], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    first, second, messages = out.stdout.splitlines()
    assert first == "True 3" and second == "1"
    assert "retry_on of Picky was set on the class after its nodes were created" in messages
    assert messages.count("retry_on of Picky") == 1


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
        ({"retry_on": (ValueError, "x")}, "retry_on"),
        ({"retry_on": [ValueError]}, "retry_on"),
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
