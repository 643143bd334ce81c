"""The README's quick start, runnable offline: python quickstart.py [DB_PATH]"""

import sys

from fake_llm import FakeLLM

from pocketflow_ext import Flow, Node, Store

llm = FakeLLM()


class Summarise(Node):
    max_retries = 3  # retry exec() on failure
    retry_delay = 0.5

    def prep(self, store):
        return store["document"]

    def exec(self, text):
        return llm.complete(f"Summarise: {text}")

    def post(self, store, prep_res, summary):
        store["summary"] = summary
        return "done"


store = Store(
    {"document": "PocketFlow models an LLM app as a graph of small nodes.", "summary": ""},
    schema={"document": str, "summary": str},
)
flow = Flow(
    start=Summarise(),
    flow_name="summarise",
    db_path=sys.argv[1] if len(sys.argv) > 1 else "pocketflow.db",
)
flow.on("node_end", lambda name, action, elapsed, store: print(f"{name} -> {action}"))
flow.run(store)
print(store["summary"])
