"""Named edges with .then (and the '*' wildcard), hooks on every event, and max_steps."""

from pocketflow_ext import Flow, MaxStepsExceeded, Node


class Draft(Node):
    def post(self, shared, prep_res, exec_res):
        shared["drafts"] = shared.get("drafts", 0) + 1
        return "review"


class Review(Node):
    def post(self, shared, prep_res, exec_res):
        return "approve" if shared["drafts"] >= 2 else "revise"


class Publish(Node):
    def post(self, shared, prep_res, exec_res):
        shared["published"] = True
        return "done"


class Unexpected(Node):
    def post(self, shared, prep_res, exec_res):
        shared["unexpected"] = True


draft, review, publish = Draft(), Review(), Publish()
draft.then("review", review)
review.then("approve", publish).then("revise", draft).then("*", Unexpected())

flow = Flow(start=draft, flow_name="editorial", max_steps=20)
flow.on("node_start", lambda name, store: print(f"> {name}"))
flow.on("node_end", lambda name, action, elapsed, store: print(f"  {name} -> {action}"))
flow.on("flow_end", lambda steps, store: print(f"done in {steps} steps"))

shared: dict = {}
flow.run(shared)
print("published:", shared["published"])

# A loop that never exits is stopped by max_steps with the trail of nodes it ran.
loop = Draft()
loop.then("review", loop)
try:
    Flow(start=loop, flow_name="runaway", max_steps=5).run({})
except MaxStepsExceeded as exc:  # also a RuntimeError
    print("stopped:", exc)
