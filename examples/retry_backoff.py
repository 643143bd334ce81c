"""Retries with exponential backoff, jitter, retry_on, and a node_retry hook per failure."""

from fake_llm import FakeLLM, FlakyError

from pocketflow_ext import Flow, Node

llm = FakeLLM(fail_first=2)  # the first two calls are rate limited


class Summarise(Node):
    max_retries = 4  # attempts, as in upstream PocketFlow
    retry_delay = 0.01  # PocoFlow's name for upstream's `wait`
    backoff = 2.0  # 0.01 s, 0.02 s, 0.04 s ...
    max_delay = 0.05
    jitter = 0.005  # up to 5 ms of random extra delay per retry
    retry_on = (FlakyError,)  # anything else goes to exec_fallback at once

    def prep(self, shared):
        return shared["document"]

    def exec(self, text):
        return llm.complete(text)

    def exec_fallback(self, prep_res, exc):
        return f"(no summary: {exc})"

    def post(self, shared, prep_res, exec_res):
        shared["summary"] = exec_res


flow = Flow(start=Summarise(), flow_name="summarise")
flow.on(
    "node_retry",
    lambda name, attempt, exc, delay, store: print(f"retry {name} after attempt {attempt}: {exc}"),
)
shared = {"document": "PocketFlow keeps workflows small: nodes prepare, execute and post."}
flow.run(shared)
print("summary:", shared["summary"])
print("llm calls:", llm.calls)
