"""Pyoco's parallel tasks in pocketflow-ext: independent tasks run at once, traced, and an
LLM batch kept under a rate limit with ``max_concurrency``.

Pyoco finds independent tasks from its DAG; in PocketFlow the graph says it: a list after
``>>`` is a group of branches that run at the same time. The console trace (stderr) shows
them start together; Ctrl+C stops every branch and the run can be resumed.
"""

import asyncio

from fake_llm import FakeLLM

from pocketflow_ext import AsyncFlow, AsyncNode, AsyncParallelBatchNode, Flow, Node


class FetchData(Node):
    def post(self, shared, prep_res, exec_res):
        shared["data"] = {"id": 1, "value": "carrot"}


class Upper(Node):
    def prep(self, shared):
        return shared["data"]["value"]

    def exec(self, value):
        return value.upper()

    def post(self, shared, prep_res, exec_res):
        shared["upper"] = exec_res


class Count(Node):
    def prep(self, shared):
        return shared["data"]["value"]

    def exec(self, value):
        return len(value)

    def post(self, shared, prep_res, exec_res):
        shared["length"] = exec_res


class SaveResult(Node):
    def post(self, shared, prep_res, exec_res):
        print(f"saved: {shared['upper']} ({shared['length']} letters)")


fetch = FetchData()
fetch >> [Upper(), Count()] >> SaveResult()  # Upper and Count are independent: they run at once
flow = Flow(start=fetch, flow_name="hello_parallel").trace("plain")
flow.run({})

# An LLM batch: 12 prompts, at most 3 requests in flight (a rate-limited API).
llm = FakeLLM()
in_flight = {"now": 0, "most": 0}


class Summarise(AsyncParallelBatchNode):
    max_concurrency = 3

    async def prep_async(self, shared):
        return shared["documents"]

    async def exec_async(self, text):
        in_flight["now"] += 1
        in_flight["most"] = max(in_flight["most"], in_flight["now"])
        try:
            return await llm.complete_async(text)
        finally:
            in_flight["now"] -= 1

    async def post_async(self, shared, prep_res, exec_res):
        shared["summaries"] = exec_res


class Report(AsyncNode):
    async def post_async(self, shared, prep_res, exec_res):
        print(f"{len(shared['summaries'])} summaries, at most {in_flight['most']} calls at once")


summarise = Summarise()
summarise >> Report()
documents = [f"document {i} says something worth summarising in a few words" for i in range(12)]
asyncio.run(AsyncFlow(start=summarise).run_async({"documents": documents}))
