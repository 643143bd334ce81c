"""Adopt pocketflow-ext one feature at a time on your existing upstream classes."""

import pocketflow

from pocketflow_ext.mixins import EdgesMixin, HooksMixin, RetryMixin


class Greet(EdgesMixin, pocketflow.Node):  # just .then and the '*' edge
    def post(self, shared, prep_res, exec_res):
        shared["greeted"] = True
        return "anything"


class Flaky(RetryMixin, pocketflow.Node):  # just backoff retries
    max_retries, retry_delay, backoff = 3, 0.001, 2.0
    attempts = 0

    def exec(self, prep_res):
        Flaky.attempts += 1
        if Flaky.attempts < 3:
            raise TimeoutError("slow upstream API")
        return "ok"

    def post(self, shared, prep_res, exec_res):
        shared["flaky"] = exec_res


class ObservedFlow(HooksMixin, pocketflow.Flow):  # just hooks
    pass


greet = Greet()
greet.then("*", Flaky())  # wildcard edge, followed by an *upstream* Flow as well
flow = ObservedFlow(start=greet)
flow.on("node_end", lambda name, action, elapsed, store: print(f"{name} -> {action}"))
shared: dict = {}
flow.run(shared)
print("shared:", shared)
