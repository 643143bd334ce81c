"""The ``wait`` descriptor: the seam where upstream's retry loop reveals a failed attempt."""

from __future__ import annotations

import pocketflow
import pytest

import pocketflow_ext as pe
from pocketflow_ext.nodes.retry_wait import RetryWait


class Flaky(pe.Node):
    max_retries = 3

    def __init__(self, failures: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.failures = failures

    def exec(self, prep_res):
        if self.failures:
            self.failures -= 1
            raise ConnectionError("try again")
        return "ok"

    def post(self, shared, prep_res, exec_res):
        shared["result"] = exec_res


def test_wait_value_stays_in_the_instance_dict_as_upstream_puts_it() -> None:
    node = Flaky(wait=0.25)
    assert vars(node)["wait"] == 0.25
    assert node.wait == 0.25
    node.wait = 0.5
    assert vars(node)["wait"] == 0.5


def test_wait_class_attribute_is_kept_as_the_default_delay() -> None:
    class Slow(Flaky):
        wait = 0.001

    assert Slow.wait == 0.001
    assert Slow().wait == 0.001
    assert isinstance(Slow.__dict__["wait"], RetryWait)


def test_reading_wait_in_user_code_during_an_exception_reports_nothing() -> None:
    events = []

    class Reader(pe.Node):
        def exec(self, prep_res):
            try:
                raise KeyError("x")
            except KeyError:
                return self.wait  # not upstream's retry loop: just the value

    flow = pe.Flow(start=Reader(wait=0)).on("node_retry", lambda *a: events.append(a))
    flow.run({})
    assert events == []


def test_each_failed_attempt_reports_once_and_sleeps_exactly_the_reported_delay(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slept: list[float] = []
    monkeypatch.setattr(pocketflow.time, "sleep", slept.append)  # upstream's sleep, recorded
    reported = []
    node = Flaky(failures=2, wait=0.01, backoff=3.0, jitter=0.004)
    flow = pe.Flow(start=node).on(
        "node_retry", lambda name, attempt, exc, delay, store: reported.append((attempt, delay))
    )
    shared: dict = {}
    flow.run(shared)
    assert shared["result"] == "ok"
    assert [a for a, _ in reported] == [1, 2]
    assert slept == [d for _, d in reported]  # jitter included: the same delay both times
    assert 0.01 <= reported[0][1] <= 0.014 and 0.03 <= reported[1][1] <= 0.034


def test_async_attempts_are_numbered_from_upstreams_loop() -> None:
    reported = []

    class AsyncFlaky(pe.AsyncNode):
        max_retries = 4
        calls = 0

        async def exec_async(self, prep_res):
            AsyncFlaky.calls += 1
            if AsyncFlaky.calls < 4:
                raise TimeoutError("slow")
            return "ok"

    flow = pe.AsyncFlow(start=AsyncFlaky()).on(
        "node_retry", lambda name, attempt, exc, delay, store: reported.append(attempt)
    )
    flow.run({})
    assert reported == [1, 2, 3]


def test_instrument_adds_the_descriptor_to_upstream_node_and_removes_it_again() -> None:
    assert "wait" not in pocketflow.Node.__dict__
    events = []

    class Plain(pocketflow.Node):
        calls = 0

        def exec(self, prep_res):
            Plain.calls += 1
            if Plain.calls == 1:
                raise ValueError("first call fails")

    with pe.instrument(hooks={"node_retry": lambda *a: events.append(a[1])}):
        assert isinstance(pocketflow.Node.__dict__["wait"], RetryWait)
        pocketflow.Flow(start=Plain(max_retries=2)).run({})
    assert "wait" not in pocketflow.Node.__dict__
    assert events == [1]
