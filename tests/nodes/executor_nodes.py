"""Nodes the executor tests ship to other processes: defined at module level so worker
processes (forked pools, spawned Dask workers) can import them by name."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pocketflow_ext as pf


class Square(pf.BatchNode):
    """Squares each item where it runs; prep and post note the process they ran in."""

    def prep(self, shared: Any) -> Any:
        shared["prep_pid"] = os.getpid()
        return shared["items"]

    def exec(self, item: Any) -> Any:
        return item * item, os.getpid(), threading.get_ident()

    def post(self, shared: Any, prep_res: Any, exec_res: Any) -> Any:
        shared["squares"] = [value for value, _, _ in exec_res]
        shared["exec_pids"] = {pid for _, pid, _ in exec_res}
        shared["exec_threads"] = {thread for _, _, thread in exec_res}
        shared["post_pid"] = os.getpid()


class InFolder(pf.BatchNode):
    """A batch of ``shared["items"]`` whose exec leaves files in ``folder`` (any process
    can write and read them)."""

    def __init__(self, folder: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.folder = folder

    def prep(self, shared: Any) -> Any:
        return shared["items"]


class FlakyItems(InFolder):
    """Item ``i`` fails its first ``i`` attempts (counted in files, so any process can count)."""

    def exec(self, item: Any) -> Any:
        marker = Path(self.folder, f"item{item}")
        tries = int(marker.read_text()) if marker.exists() else 0
        marker.write_text(str(tries + 1))
        if tries < item:
            raise OSError(f"item {item} attempt {tries + 1} failed")
        return f"item {item} after {tries + 1}"

    def exec_fallback(self, prep_res: Any, exc: Exception) -> Any:
        return f"fallback for {prep_res}"

    def post(self, shared: Any, prep_res: Any, exec_res: Any) -> Any:
        shared["results"] = exec_res


class Marks(InFolder):
    """Leaves a file per item it runs: proves whether any item ran."""

    def exec(self, item: Any) -> Any:
        Path(self.folder, f"ran{id(item)}").write_text("")
        return item


class DiesOnThree(pf.BatchNode):
    """The worker process running item 3 dies without a word."""

    def prep(self, shared: Any) -> Any:
        return shared["items"]

    def exec(self, item: Any) -> Any:
        if item == 3:
            os._exit(1)
        time.sleep(0.05)
        return item


class Upper(pf.Node):
    """A Parallel branch whose exec can be shipped."""

    def __init__(self, key: str, **kwargs: Any) -> None:
        super().__init__(name=key, **kwargs)
        self.key = key

    def prep(self, shared: Any) -> Any:
        return shared["text"]

    def exec(self, text: Any) -> Any:
        return text.upper(), os.getpid()

    def post(self, shared: Any, prep_res: Any, exec_res: Any) -> Any:
        shared[self.key] = exec_res


class CountsItems(pf.BatchNode):
    """Counts the items its copy has run: a chunk's items share one copy, so the counts
    restart at 1 with each chunk."""

    seen = 0

    def prep(self, shared: Any) -> Any:
        return shared["items"]

    def exec(self, item: Any) -> Any:
        self.seen += 1
        return self.seen

    def post(self, shared: Any, prep_res: Any, exec_res: Any) -> Any:
        shared["counts"] = exec_res


class FailsOnTwo(InFolder):
    """Item 2 always fails; every item leaves a file saying it ran."""

    def exec(self, item: Any) -> Any:
        Path(self.folder, f"ran{item}").write_text("")
        if item == 2:
            raise ValueError(f"item {item} is bad")
        return item


class DiesOnceOnFour(InFolder):
    """The worker running item 4 dies the first time only (a marker file remembers)."""

    def exec(self, item: Any) -> Any:
        marker = Path(self.folder, "died")
        if item == 4 and not marker.exists():
            marker.write_text("")
            os._exit(1)
        return item * 10

    def post(self, shared: Any, prep_res: Any, exec_res: Any) -> Any:
        shared["results"] = exec_res


def when_go(go: bool) -> bool:
    """A ``when=`` predicate that can travel (module level): reads ``shared["go"]``."""
    return go


class DiesAtOnce(pf.Node):
    """A branch whose exec kills the worker process running it."""

    def exec(self, prep_res: Any) -> Any:
        os._exit(1)


class Sleepy(pf.Node):
    """A branch whose exec is still running in its worker when another worker dies."""

    def exec(self, prep_res: Any) -> Any:
        time.sleep(0.5)
        return os.getpid()

    def post(self, shared: Any, prep_res: Any, exec_res: Any) -> Any:
        shared[self.name] = exec_res
