"""max_concurrency=: parallel batches keep at most N items (or passes) in flight."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import pocketflow_ext as pf


class Peak:
    def __init__(self) -> None:
        self.running = self.peak = 0

    async def visit(self) -> None:
        self.running += 1
        self.peak = max(self.peak, self.running)
        await asyncio.sleep(0.005)
        self.running -= 1


def test_a_parallel_batch_node_keeps_at_most_n_items_in_flight() -> None:
    peak = Peak()

    class Fetch(pf.AsyncParallelBatchNode):
        async def prep_async(self, shared: Any) -> Any:
            return list(range(40))

        async def exec_async(self, item: Any) -> Any:
            await peak.visit()
            return item * 2

        async def post_async(self, shared: Any, prep_res: Any, exec_res: Any) -> Any:
            shared["out"] = exec_res

    shared: dict[str, Any] = {}
    asyncio.run(pf.AsyncFlow(start=Fetch(max_concurrency=4)).run_async(shared))
    assert shared["out"] == [i * 2 for i in range(40)]  # upstream's gather keeps item order
    assert peak.peak == 4


def test_the_limit_also_works_as_a_class_attribute_and_counts_retries_in_flight() -> None:
    peak, tries = Peak(), {}

    class Fetch(pf.AsyncParallelBatchNode):
        max_concurrency = 2
        max_retries = 2

        async def prep_async(self, shared: Any) -> Any:
            return list(range(6))

        async def exec_async(self, item: Any) -> Any:
            await peak.visit()
            tries[item] = tries.get(item, 0) + 1
            if tries[item] == 1:
                raise OSError("first try fails")
            return item

    asyncio.run(pf.AsyncFlow(start=Fetch()).run_async({}))
    assert peak.peak == 2 and set(tries.values()) == {2}


def test_a_parallel_batch_flow_keeps_at_most_n_passes_in_flight() -> None:
    peak = Peak()

    class Visit(pf.AsyncNode):
        async def exec_async(self, prep_res: Any) -> Any:
            await peak.visit()

        async def post_async(self, shared: Any, prep_res: Any, exec_res: Any) -> Any:
            shared.setdefault("seen", []).append(self.params["i"])

    class Each(pf.AsyncParallelBatchFlow):
        async def prep_async(self, shared: Any) -> Any:
            return [{"i": i} for i in range(12)]

    shared: dict[str, Any] = {}
    asyncio.run(Each(start=Visit(), max_concurrency=3).run_async(shared))
    assert sorted(shared["seen"]) == list(range(12)) and peak.peak == 3


def test_without_a_limit_every_item_starts_at_once_as_upstream_does() -> None:
    peak = Peak()

    class Fetch(pf.AsyncParallelBatchNode):
        async def prep_async(self, shared: Any) -> Any:
            return list(range(10))

        async def exec_async(self, item: Any) -> Any:
            await peak.visit()

    asyncio.run(pf.AsyncFlow(start=Fetch()).run_async({}))
    assert peak.peak == 10


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "3"])
def test_a_bad_limit_is_refused(bad: Any) -> None:
    with pytest.raises(pf.ConfigurationError, match="max_concurrency must be an int >= 1"):
        pf.AsyncParallelBatchNode(max_concurrency=bad)
    with pytest.raises(pf.ConfigurationError, match="max_concurrency must be an int >= 1"):
        pf.AsyncParallelBatchFlow(max_concurrency=bad)


def test_a_bad_limit_given_as_a_class_attribute_is_refused_when_the_node_is_made() -> None:
    class Stuck(pf.AsyncParallelBatchNode):
        max_concurrency = 0  # would hang every item on its semaphore

    class StuckFlow(pf.AsyncParallelBatchFlow):
        max_concurrency = 0

    with pytest.raises(pf.ConfigurationError, match="max_concurrency must be an int >= 1"):
        Stuck()
    with pytest.raises(pf.ConfigurationError, match="max_concurrency must be an int >= 1"):
        StuckFlow()


def test_one_node_run_on_two_event_loops_gets_a_limit_on_each() -> None:
    class Fetch(pf.AsyncParallelBatchNode):
        async def prep_async(self, shared: Any) -> Any:
            return [1, 2, 3]

        async def exec_async(self, item: Any) -> Any:
            await asyncio.sleep(0)
            return item

        async def post_async(self, shared: Any, prep_res: Any, exec_res: Any) -> Any:
            shared["out"] = exec_res

    node = Fetch(max_concurrency=1)
    for _ in range(2):  # a semaphore bound to the first loop would fail on the second
        shared: dict[str, Any] = {}
        asyncio.run(node.run_async(shared))
        assert shared["out"] == [1, 2, 3]
