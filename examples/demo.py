"""Record a few realistic runs into a SQLite file for the monitor: python demo.py demo.db

A small offline "research assistant": plan, a nested drafting flow with a review loop, a
batch of summaries, and a flaky call that is retried. One run fails on purpose so the
monitor has every status to show.
"""

from __future__ import annotations

import sys

from fake_llm import FakeLLM, FlakyError

from pocketflow_ext import BatchFlow, Flow, Node, Store

llm = FakeLLM(fail_first=1)


class Plan(Node):
    def prep(self, shared):
        return shared["topic"]

    def exec(self, topic):
        return [f"{topic}: background", f"{topic}: methods", f"{topic}: outlook"]

    def post(self, shared, prep_res, exec_res):
        shared["sections"] = exec_res
        shared["summaries"] = {}


class Summarise(Node):
    max_retries, retry_delay, backoff, retry_on = 3, 0.05, 2.0, (FlakyError,)

    def prep(self, shared):
        return self.params["section"]

    def exec(self, section):
        return llm.complete(f"Summarise the section '{section}' in plain words for a reader")

    def post(self, shared, prep_res, exec_res):
        shared["summaries"][prep_res] = exec_res


class SummariseAll(BatchFlow):
    def prep(self, shared):
        return [{"section": s} for s in shared["sections"]]


class Draft(Node):
    def post(self, shared, prep_res, exec_res):
        shared["drafts"] = shared.get("drafts", 0) + 1
        shared["draft"] = " / ".join(shared["summaries"].values())
        return "review"


class Review(Node):
    def prep(self, shared):
        return shared["drafts"], shared.get("must_fail", False)

    def exec(self, prep_res):
        drafts, must_fail = prep_res
        if must_fail:
            raise ValueError("reviewer rejected the draft: sources missing")
        return "accept" if drafts >= 2 else "revise"

    def post(self, shared, prep_res, exec_res):
        return exec_res


class Polish(Node):
    def post(self, shared, prep_res, exec_res):
        shared["draft"] = shared["draft"].strip()
        return "approve"  # the Writing flow ends here and hands "approve" to its parent


class Publish(Node):
    def post(self, shared, prep_res, exec_res):
        shared["published"] = True


def build(db_path: str) -> Flow:
    draft, review = Draft(), Review()
    draft.then("review", review)
    review.then("revise", draft).then("accept", Polish())
    writing = Flow(start=draft, flow_name="Writing")
    plan, summarise_all = Plan(), SummariseAll(start=Summarise())
    plan.then("default", summarise_all)
    summarise_all.then("default", writing)
    writing.then("approve", Publish())
    return Flow(start=plan, flow_name="research", db_path=db_path, max_steps=50)


def main(db_path: str) -> None:
    for topic, must_fail in [("solar power", False), ("tidal energy", False), ("fusion", True)]:
        store = Store({"topic": topic, "must_fail": must_fail}, name="research")
        try:
            build(db_path).run(store)
            print(f"{topic}: published={store.get('published', False)}")
        except ValueError as exc:
            print(f"{topic}: failed ({exc})")
    print(f"recorded runs in {db_path}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "demo.db")
