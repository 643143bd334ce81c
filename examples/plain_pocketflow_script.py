"""A plain PocketFlow script: nothing in it knows about pocketflow-ext.

Run it as is, or recorded and traced without changing a line:

    python examples/plain_pocketflow_script.py "2 + 3" "capital of France"
    pocketflow-ext run examples/plain_pocketflow_script.py "2 + 3" "capital of France"
    pocketflow-ext runs

Questions come from the arguments, or one per line from stdin when the only argument is
"-". The "LLM" is a dictionary, so it runs offline. It has branching (math or lookup), a
loop (the draft is revised until every answer is in), a BatchFlow over the questions, a
nested flow per question and an AsyncFlow with a retried citation fetch.
"""

import asyncio
import sys

import pocketflow

FACTS = {
    "capital of france": "Paris",
    "largest planet": "Jupiter",
    "author of hamlet": "William Shakespeare",
}
DEFAULT_QUESTIONS = ["2 + 3", "capital of France", "6 * 7", "largest planet"]


def fake_llm(question):
    return FACTS.get(question.strip().lower(), "I don't know")


class Classify(pocketflow.Node):
    def prep(self, shared):
        return self.params["question"]

    def exec(self, question):
        parts = question.split()
        return "math" if len(parts) == 3 and parts[1] in "+-*" else "lookup"

    def post(self, shared, question, kind):
        return kind


class Calculate(pocketflow.Node):
    def prep(self, shared):
        return self.params["question"]

    def exec(self, question):
        left, op, right = question.split()
        a, b = int(left), int(right)
        return {"+": a + b, "-": a - b, "*": a * b}[op]

    def post(self, shared, question, result):
        shared["answers"][question] = str(result)


class Lookup(pocketflow.Node):
    def prep(self, shared):
        return self.params["question"]

    def exec(self, question):
        return fake_llm(question)

    def post(self, shared, question, answer):
        shared["answers"][question] = answer


class AnswerOne(pocketflow.Flow):
    """Answers the question in its params: math is calculated, anything else looked up."""


class AnswerAll(pocketflow.BatchFlow):
    def prep(self, shared):
        return [{"question": q} for q in shared["questions"]]


class Draft(pocketflow.Node):
    """Adds one answer per pass; loops until the draft holds every answer."""

    def prep(self, shared):
        return shared.get("draft", []), shared["questions"], shared["answers"]

    def exec(self, inputs):
        draft, questions, answers = inputs
        question = questions[len(draft)]
        return [*draft, f"{question} -> {answers[question]}"]

    def post(self, shared, inputs, draft):
        shared["draft"] = draft
        return "revise" if len(draft) < len(shared["questions"]) else "done"


class Publish(pocketflow.Node):
    def post(self, shared, prep_res, exec_res):
        shared["report"] = "\n".join(shared["draft"])


class FetchCitation(pocketflow.AsyncNode):
    """The first attempt times out (as remote calls do); upstream's retry recovers."""

    def __init__(self):
        super().__init__(max_retries=3)
        self.attempts = 0

    async def prep_async(self, shared):
        return len(shared["answers"])

    async def exec_async(self, count):
        await asyncio.sleep(0)
        self.attempts += 1
        if self.attempts == 1:
            raise TimeoutError("citation service did not answer")
        return f"{count} answers checked against the fact sheet"

    async def post_async(self, shared, count, citation):
        shared["citation"] = citation


def build_report_flow():
    classify, calculate, lookup = Classify(), Calculate(), Lookup()
    classify - "math" >> calculate
    classify - "lookup" >> lookup
    answer_all = AnswerAll(start=AnswerOne(start=classify))
    draft, publish = Draft(), Publish()
    answer_all >> draft
    draft - "revise" >> draft
    draft - "done" >> publish
    return pocketflow.Flow(start=answer_all)


def build_citation_flow():
    return pocketflow.AsyncFlow(start=FetchCitation())


def read_questions(args):
    if args == ["-"]:
        return [line.strip() for line in sys.stdin if line.strip()]
    return args or DEFAULT_QUESTIONS


def main(args):
    shared = {"questions": read_questions(args), "answers": {}}
    build_report_flow().run(shared)
    asyncio.run(build_citation_flow().run_async(shared))
    print(shared["report"])
    print(f"citation: {shared['citation']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
