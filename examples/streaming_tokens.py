"""Stream a run to the caller: tokens from emit() as they arrive, each node's writes, and
leaving the loop early to cancel the run. Offline: the "LLM" yields canned tokens."""

import asyncio

from pocketflow_ext import AsyncFlow, AsyncNode, Flow, Node, emit


def fake_llm_tokens(prompt):
    yield from ["Pocket", "Flow ", "is ", "a ", "100-line ", "LLM ", "framework."]


class Answer(Node):
    def prep(self, shared):
        return shared["question"]

    def exec(self, question):
        words = []
        for token in fake_llm_tokens(question):
            emit("token", token)  # reaches flow.stream(), hooks and subscribers; not recorded
            words.append(token)
        return "".join(words)

    def post(self, shared, prep_res, answer):
        shared["answer"] = answer
        return "cite"


class Cite(Node):
    def post(self, shared, prep_res, exec_res):
        shared["sources"] = ["README.md"]


answer = Answer()
answer - "cite" >> Cite()
flow = Flow(start=answer, flow_name="qa")

shared = {"question": "What is PocketFlow?"}
print("tokens: ", end="")
for event in flow.stream(shared):
    if event.kind == "custom" and event.topic == "token":
        print(event.data, end="", flush=True)
    elif event.kind == "node_end":
        print(f"\n{event.node} wrote {sorted(event.data)}", end="")
print()
print("answer:", shared["answer"])

# Leaving the loop cancels the run before its next node: Cite never runs.
cut_short = {"question": "again?"}
for event in flow.stream(cut_short):
    if event.kind == "custom":
        break
print("after break:", sorted(cut_short))


class AsyncAnswer(AsyncNode):
    async def exec_async(self, prep_res):
        for token in fake_llm_tokens(""):
            emit("token", token)
            await asyncio.sleep(0)


async def main():
    tokens = [
        e.data async for e in AsyncFlow(start=AsyncAnswer()).astream({}) if e.kind == "custom"
    ]
    print("async tokens:", len(tokens))


asyncio.run(main())
