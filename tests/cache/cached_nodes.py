"""Module-level cached nodes for the cache tests (subprocesses import them too)."""

from __future__ import annotations

from pocketflow_ext import Node, node

CALLS: list[str] = []


class Summarise(Node):
    cache = True

    def prep(self, shared):
        CALLS.append("prep")
        return shared["text"]

    def exec(self, text):
        CALLS.append("exec")
        return text.upper()

    def post(self, shared, prep_res, exec_res):
        CALLS.append("post")
        shared["summary"] = exec_res


@node(cache=True, batch="item", reads={"item": "items"})
def square(item):
    CALLS.append(f"square {item}")
    if item == 3 and "crash" in CALLS:
        CALLS.remove("crash")
        raise RuntimeError("crashed on item 3")
    return item * item
