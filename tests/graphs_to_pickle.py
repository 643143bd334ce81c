"""Flows the pickling tests send to other processes: one per drop-in class, each with hooks,
retry settings, explicit names, ``then`` edges and a wildcard edge. A module (not a test
file), so the other processes import the same classes and hooks by name.

Two items are processed: ``"k"`` raises KeyError, outside ``retry_on``, so it goes to the
fallback at once; ``"t"`` times out twice, then succeeds (retried after wait 0.01 s,
backoff 2, max_delay 0.015 s, plus up to 2 ms jitter). ``"k"`` comes first: a node's very
first failure in a process must already honour ``retry_on``. The subject then returns an action with
no edge of its own, which the ``"*"`` edge follows to ``After``.
"""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import pocketflow_ext as pe

RETRY = {
    "max_retries": 3,
    "wait": 0.01,
    "backoff": 2.0,
    "max_delay": 0.015,
    "jitter": 0.002,
    "retry_on": TimeoutError,
}
ITEMS = ["k", "t"]
DROP_INS = [
    "BaseNode", "Node", "BatchNode", "AsyncNode", "AsyncBatchNode", "AsyncParallelBatchNode",
    "Flow", "BatchFlow", "AsyncFlow", "AsyncBatchFlow", "AsyncParallelBatchFlow",
]  # fmt: skip


# ── hooks: module-level functions, so they travel with their flow ────────────
def on_retry(name: str, attempt: int, exc: BaseException, delay_s: float, store: Any) -> None:
    store.setdefault("retries", []).append((name, attempt, type(exc).__name__, delay_s))


def on_flow_start(flow_name: str, store: Any) -> None:
    store.setdefault("flows", []).append(flow_name)


# ── what the subjects do with an item ─────────────────────────────────────────
def attempt(shared: dict, item: str) -> str:
    tries = shared.setdefault("tries", {})
    tries[item] = tries.get(item, 0) + 1
    if item == "k":
        raise KeyError("not retryable")
    if tries[item] <= 2:
        raise TimeoutError("slow")
    return f"done {item}"


def fallback(shared: dict, item: str) -> str:
    shared.setdefault("fallbacks", []).append(item)
    return f"fallback {item}"


class Item(pe.Node):
    """One item: its own (set when made) or the one a batch flow passes in params."""

    def __init__(self, item: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.item = item

    def prep(self, shared: dict) -> tuple[dict, str]:
        return shared, self.item or self.params["item"]

    def exec(self, prep_res: tuple[dict, str]) -> str:
        return attempt(*prep_res)

    def exec_fallback(self, prep_res: tuple[dict, str], exc: Exception) -> str:
        return fallback(*prep_res)

    def post(self, shared: dict, prep_res: Any, exec_res: Any) -> str:
        return "unexpected"


class Items(pe.BatchNode):
    def prep(self, shared: dict) -> list[tuple[dict, str]]:
        return [(shared, item) for item in ITEMS]

    exec = Item.exec
    exec_fallback = Item.exec_fallback
    post = Item.post


class AsyncAttempts:
    async def exec_async(self, prep_res: tuple[dict, str]) -> str:
        await asyncio.sleep(0)  # let parallel items interleave
        return attempt(*prep_res)

    async def exec_fallback_async(self, prep_res: tuple[dict, str], exc: Exception) -> str:
        return fallback(*prep_res)


class AsyncItem(AsyncAttempts, pe.AsyncNode):
    def __init__(self, item: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.item = item

    prep = Item.prep
    post = Item.post


class AsyncItems(AsyncAttempts, pe.AsyncBatchNode):
    prep = Items.prep
    post = Item.post


class AsyncParallelItems(AsyncAttempts, pe.AsyncParallelBatchNode):
    prep = Items.prep
    post = Item.post


class Mark(pe.BaseNode):
    def post(self, shared: dict, prep_res: Any, exec_res: Any) -> str:
        shared["marked"] = True
        return "unexpected"


class After(pe.Node):
    def post(self, shared: dict, prep_res: Any, exec_res: Any) -> str:
        shared["after"] = True
        return "end"


def each_item(shared: dict) -> list[dict]:
    return [{"item": item} for item in ITEMS]


async def each_item_async(shared: dict) -> list[dict]:
    return each_item(shared)


class EachItem(pe.BatchFlow):
    prep = staticmethod(each_item)


class AsyncEachItem(pe.AsyncBatchFlow):
    prep_async = staticmethod(each_item_async)


class AsyncParallelEachItem(pe.AsyncParallelBatchFlow):
    prep_async = staticmethod(each_item_async)


def _two_items(cls: type, name: str) -> tuple[Any, Any]:
    """``k`` then ``t``, joined by ``then``; returns (first, last)."""
    first, last = cls("k", name="First", **RETRY), cls("t", name=name, **RETRY)
    first.then("unexpected", last)
    return first, last


def build(kind: str) -> Any:
    """The flow whose subject is an instance (for flows: a nested flow) of drop-in ``kind``."""
    is_async = kind.startswith("Async")
    if kind == "BaseNode":
        first = last = Mark(name="Subject")
    elif kind in ("Node", "AsyncNode"):
        first, last = _two_items(AsyncItem if is_async else Item, "Subject")
    elif kind.endswith("BatchNode"):
        cls = {"BatchNode": Items, "AsyncBatchNode": AsyncItems}.get(kind, AsyncParallelItems)
        first = last = cls(name="Subject", **RETRY)
    else:  # a flow, nested in the outer one
        node = AsyncItem if is_async else Item
        if kind.endswith("BatchFlow"):
            flows = {"BatchFlow": EachItem, "AsyncBatchFlow": AsyncEachItem}
            inner = flows.get(kind, AsyncParallelEachItem)(start=node(name="Work", **RETRY))
        else:
            start, _ = _two_items(node, "Work")
            inner = (pe.AsyncFlow if is_async else pe.Flow)(start=start)
        inner.flow_name = "Subject"
        first = last = inner
    last.then("*", After(name="After"))
    outer = (pe.AsyncFlow if is_async else pe.Flow)(start=first, flow_name="Outer")
    return outer.on("node_retry", on_retry).on("flow_start", on_flow_start)


def run(flow: Any) -> dict:
    """Run ``flow`` on a fresh store; the store holds what its hooks and nodes saw, and the
    warnings of the run."""
    shared: dict = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        shared["action"] = flow.run(shared)
    shared["warnings"] = [str(w.message) for w in caught]
    return shared
