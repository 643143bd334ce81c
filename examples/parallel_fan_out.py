"""Flowkit's fan-out and fan-in in pocketflow-ext: ``extract >> [a, b, c]``, ``[a, b, c] >> aggregate``.

Flowkit passes task results as arguments; here nodes read and write the shared store.
Each branch works on its own copy of the store and the group joins their writes in
branch order, so ``aggregate`` sees every result whichever branch finished first.
"""

import operator
import time

from pocketflow_ext import Flow, Node


class Extract(Node):
    def post(self, shared, prep_res, exec_res):
        shared["data"] = [3, 1, 4, 1, 5, 9, 2, 6]


class Process(Node):
    """One way of processing the data; sleeps like a call to a service would."""

    def __init__(self, name, method, seconds):
        super().__init__(name=name)
        self.method, self.seconds = method, seconds

    def prep(self, shared):
        return shared["data"]

    def exec(self, data):
        time.sleep(self.seconds)
        return self.method(data)

    def post(self, shared, prep_res, exec_res):
        shared[f"result_{self.name}"] = exec_res
        shared["finished"] = [self.name]  # combined by the group's reducer


class Aggregate(Node):
    def post(self, shared, prep_res, exec_res):
        shared["report"] = {k: v for k, v in shared.items() if k.startswith("result_")}


extract = Extract()
a = Process("a", sum, 0.03)  # slowest: finishes last
b = Process("b", max, 0.02)
c = Process("c", sorted, 0.01)  # fastest: finishes first
aggregate = Aggregate()

# Flowkit: extract >> [a, b, c]; [a, b, c] >> aggregate
group = extract >> [a, b, c]
[a, b, c] >> aggregate  # the same group joins into aggregate
group.reducers = {"finished": operator.add}  # the branches' parts, in branch order

flow = Flow(start=extract, flow_name="fan_out")
shared = {"finished": []}
flow.run(shared)
print("report:", shared["report"])
print("joined in branch order:", shared["finished"])  # a, b, c although c finished first

# Flowkit's Keras-style pipeline: .add(fetch_user).branch(orders, recommendations).merge(combine)


class Fetch(Node):
    def __init__(self, key, value):
        super().__init__(name=f"fetch_{key}")
        self.key, self.value = key, value

    def post(self, shared, prep_res, exec_res):
        shared[self.key] = self.value


class Combine(Node):
    def post(self, shared, prep_res, exec_res):
        shared["combined"] = {k: shared[k] for k in ("user", "orders", "recommendations")}


user = Fetch("user", {"id": 1, "name": "Alice"})
user >> [Fetch("orders", ["order1", "order2"]), Fetch("recommendations", ["item1"])] >> Combine()
shared = {}
Flow(start=user, flow_name="user_pipeline").run(shared)
print("combined:", shared["combined"])
