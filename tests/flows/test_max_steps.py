"""Flow(max_steps=N): a RuntimeError naming the flow and the last nodes; no limit by default."""

from __future__ import annotations

import asyncio

import pytest

from pocketflow_ext import AsyncFlow, AsyncNode, ConfigurationError, Flow, MaxStepsExceeded, Node


class Ping(Node):
    def post(self, shared, prep_res, exec_res):
        shared["n"] = shared.get("n", 0) + 1
        return "again" if shared["n"] < shared.get("stop", 10**9) else "stop"


class Pong(Ping):
    pass


def ping_pong(**kwargs) -> Flow:
    ping, pong = Ping(), Pong()
    ping - "again" >> pong
    pong - "again" >> ping
    return Flow(start=ping, **kwargs)


def test_exceeding_max_steps_raises_a_runtime_error_naming_flow_and_last_nodes() -> None:
    shared: dict = {}
    with pytest.raises(MaxStepsExceeded) as caught:
        ping_pong(flow_name="game", max_steps=7).run(shared)
    message = str(caught.value)
    assert isinstance(caught.value, RuntimeError)
    assert "'game'" in message and "max_steps=7" in message
    assert "Ping -> Pong -> Ping" in message
    assert shared["n"] == 7  # exactly max_steps nodes ran


def test_max_steps_allows_exactly_that_many_nodes() -> None:
    shared = {"stop": 5}
    with pytest.warns(UserWarning, match="Flow ends: 'stop'"):  # upstream's, still a warning
        assert ping_pong(max_steps=5).run(shared) == "stop"
    assert shared["n"] == 5


def test_without_max_steps_there_is_no_limit() -> None:
    shared = {"stop": 3000}
    with pytest.warns(UserWarning, match="Flow ends"):
        # Observed (a hook attached), so the step guard is active but has no limit.
        assert ping_pong().on("node_end", lambda *a: None).run(shared) == "stop"
    assert shared["n"] == 3000


def test_max_steps_ends_the_run_with_flow_end_failed_and_no_dangling_node(events) -> None:
    with pytest.raises(MaxStepsExceeded):
        ping_pong(max_steps=3).run({})
    kinds = [e.kind for e in events]
    assert kinds.count("node_start") == kinds.count("node_end") == 3
    assert events[-1].kind == "flow_end" and events[-1].status == "failed"


def test_max_steps_guards_async_flows_too() -> None:
    class Loop(AsyncNode):
        async def post_async(self, shared, prep_res, exec_res):
            return "again"

    loop = Loop()
    loop - "again" >> loop
    with pytest.raises(MaxStepsExceeded, match="max_steps=4"):
        asyncio.run(AsyncFlow(start=loop, max_steps=4).run_async({}))


@pytest.mark.parametrize("bad", [0, -1, 2.5, "10", True])
def test_max_steps_must_be_a_positive_int(bad) -> None:
    with pytest.raises(ConfigurationError, match="max_steps"):
        Flow(start=Ping(), max_steps=bad)
