"""Write tracking: the keys written or removed since the recorder last asked."""

from __future__ import annotations

import threading

import pytest

from pocketflow_ext import Store


def test_every_write_path_is_tracked_once_tracking_started() -> None:
    store = Store({"a": 1, "b": 2, "c": 3, "d": 4, "e": 5})
    store["before"] = 0  # not tracked yet
    store.start_tracking()
    store["a"] = 10
    store.update(f=6)
    store |= {"g": 7}
    store.setdefault("h", 8)
    store.setdefault("h", 99)  # present: not a write
    del store["b"]
    store.pop("c")
    store.pop("missing", None)  # absent: not a write
    key, _ = store.popitem()
    assert store.take_written() == {"a", "f", "g", "h", "b", "c", key}


def test_take_written_starts_over_after_each_call() -> None:
    store = Store()
    store.start_tracking()
    store["x"] = 1
    assert store.take_written() == {"x"}
    assert store.take_written() == set()
    store["y"] = 2
    store["y"] = 3
    assert store.take_written() == {"y"}


def test_clear_reports_every_removed_key() -> None:
    store = Store({"a": 1, "b": 2})
    store.start_tracking()
    store.clear()
    assert store.take_written() == {"a", "b"}


def test_tracking_works_alongside_observers_and_write_through() -> None:
    shared: dict = {}
    store = Store(shared, schema={"n": int})
    seen: list = []
    store.add_observer(lambda key, old, new: seen.append(key))
    store.start_tracking()
    store["n"] = 1
    assert store.take_written() == {"n"} and seen == ["n"] and shared == {"n": 1}


def test_a_refused_write_is_not_tracked() -> None:
    store = Store(schema={"n": int})
    store.start_tracking()
    with pytest.raises(TypeError):
        store["n"] = "x"
    assert store.take_written() == set()


def test_starting_twice_keeps_what_was_gathered_and_stop_forgets() -> None:
    store = Store()
    store.start_tracking()
    store["a"] = 1
    store.start_tracking()
    assert store.take_written() == {"a"}
    store.stop_tracking()
    store["b"] = 2
    with pytest.raises(RuntimeError, match="start_tracking"):
        store.take_written()


def test_no_write_from_another_thread_is_lost_between_takes() -> None:
    store = Store()
    store.start_tracking()
    done = threading.Event()
    written = 20_000

    def writer() -> None:
        for i in range(written):
            store[f"k{i}"] = i
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    taken: set = set()
    while not done.is_set():
        taken |= store.take_written()
    thread.join()
    taken |= store.take_written()
    assert len(taken) == written


# ── in_place="declared" and touch(): what recording trusts instead of reading values ──
def test_touch_marks_a_key_written_and_tells_observers() -> None:
    seen: list[tuple[str, object, object]] = []
    store = Store({"items": [1]}, in_place="declared")
    assert store.in_place == "declared"
    store.start_tracking()
    store.add_observer(lambda key, old, new: seen.append((key, old, new)))
    store["items"].append(2)
    store.touch("items")
    assert store.take_written() == {"items"}
    assert seen == [("items", [1, 2], [1, 2])]


def test_in_place_and_touch_say_what_is_wrong() -> None:
    with pytest.raises(ValueError, match=r"in_place must be one of 'detect', 'declared'"):
        Store({}, in_place="never")
    store = Store({"a": []}, in_place="declared")
    with pytest.raises(KeyError, match=r"touch\('b'\): no such key"):
        store.touch("b")
    store.touch("a")  # untracked: nothing to do, no error
    assert store.copy().in_place == "declared"


def test_the_declared_mode_travels_with_copies_and_pickles() -> None:
    import copy
    import pickle
    import subprocess
    import sys

    store = Store({"items": [1, 2]}, schema={"items": list}, in_place="declared")
    for clone in (store.copy(), copy.deepcopy(store), pickle.loads(pickle.dumps(store))):
        assert clone.in_place == "declared" and clone == {"items": [1, 2]}
    # In another process, as a process pool or Dask worker receives it.
    code = (
        "import pickle, sys; s = pickle.loads(sys.stdin.buffer.read()); "
        "print(s.in_place, s['items'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], input=pickle.dumps(store), capture_output=True, check=True
    )
    assert out.stdout.decode().split() == ["declared", "[1,", "2]"]
    assert pickle.loads(pickle.dumps(Store({"a": 1}))).in_place == "detect"
