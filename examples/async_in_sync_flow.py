"""PocoFlow-style async nodes (sync prep/post, async exec_async) inside a synchronous Flow."""

import asyncio

from fake_llm import FakeLLM

from pocketflow_ext import AsyncNode, Flow

llm = FakeLLM()


class FetchSummaries(AsyncNode):
    def prep(self, shared):
        return shared["documents"]

    async def exec_async(self, documents):
        return await asyncio.gather(*(llm.complete_async(d) for d in documents))

    def post(self, shared, prep_res, exec_res):
        shared["summaries"] = exec_res


flow = Flow(start=FetchSummaries())  # a plain, synchronous Flow
shared = {"documents": ["first document about flows", "second document about nodes"]}
flow.run(shared)  # the framework runs the coroutine
print("summaries:", shared["summaries"])


async def inside_a_running_loop():
    # e.g. a notebook cell or a web handler: a sync Flow still runs its async nodes
    shared = {"documents": ["third document"]}
    Flow(start=FetchSummaries()).run(shared)
    return shared["summaries"]


print("from a running loop:", asyncio.run(inside_a_running_loop()))
