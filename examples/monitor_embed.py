"""The run monitor embedded in your own Streamlit page, offline.

Record a few runs, then open the page:

    python examples/monitor_embed.py monitor-demo.db
    streamlit run examples/monitor_embed.py --server.address 127.0.0.1 -- monitor-demo.db

(the stand-alone monitor is `pocketflow-ext monitor monitor-demo.db`).
"""

import sys

from fake_llm import FakeLLM

from pocketflow_ext import Flow, Node

DB = sys.argv[1] if len(sys.argv) > 1 else "monitor-demo.db"


class Summarise(Node):
    max_retries = 3  # the fake LLM fails its first call: the timeline shows the retry

    def __init__(self, llm):
        super().__init__()
        self.llm = llm

    def prep(self, store):
        return store["document"]

    def exec(self, text):
        return self.llm.complete(f"Summarise: {text}")

    def post(self, store, prep_res, summary):
        store["summary"] = summary
        return "check"


class Check(Node):
    def post(self, store, prep_res, exec_res):
        if len(store["summary"].split()) < 4:
            raise ValueError(f"summary too short: {store['summary']!r}")
        store["approved"] = True


def record_runs():
    for number, document in enumerate(["PocketFlow models an LLM app as a graph.", "Hi."]):
        summarise = Summarise(FakeLLM(fail_first=1))
        summarise - "check" >> Check()
        flow = Flow(start=summarise, db_path=DB, flow_name="summarise", run_id=f"demo-{number}")
        try:
            flow.run({"document": document})
            print(f"demo-{number}: completed")
        except ValueError as exc:
            print(f"demo-{number}: failed ({exc})")
    # --server.address: Streamlit serves every network interface unless told otherwise.
    print(
        f"recorded into {DB}; view: streamlit run examples/monitor_embed.py "
        f"--server.address 127.0.0.1 -- {DB}"
    )


def page():
    import streamlit as st

    from pocketflow_ext.ui import render_workflow_monitor

    st.title("My summariser")
    st.write("Your own page content goes here; the monitor below reads the runs read-only.")
    render_workflow_monitor(DB, title="Recent runs")


def running_in_streamlit():
    try:
        from streamlit.runtime import exists
    except ImportError:
        return False
    return exists()


if running_in_streamlit():
    page()
elif __name__ == "__main__":
    record_runs()
