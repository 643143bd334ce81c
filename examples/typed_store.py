"""Typed, observable shared state: a Store checks every write and writes through to your dict."""

from pocketflow_ext import Flow, Node, Store, StoreTypeError


class Count(Node):
    def prep(self, shared):
        return shared["text"]

    def exec(self, text):
        return len(text.split())

    def post(self, shared, prep_res, exec_res):
        shared["words"] = exec_res


shared = {"text": "the quick brown fox", "words": 0}
store = Store(shared, schema={"text": str, "words": int}, name="counter")
store.add_observer(lambda key, old, new: print(f"observer: {key}: {old!r} -> {new!r}"))

Flow(start=Count()).run(store)
print("words in the caller's dict:", shared["words"])  # written through to the dict you passed

try:
    store["words"] = "four"
except StoreTypeError as exc:  # also a TypeError
    print("rejected:", exc)

path = store.snapshot("counter_snapshot.json")
print("restored:", dict(Store.restore(path, schema={"text": str, "words": int})))
path.unlink()
