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


class FlakyItems(pf.BatchNode):
    """Item ``i`` fails its first ``i`` attempts (counted in files, so any process can count)."""

    def __init__(self, folder: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.folder = folder

    def prep(self, shared: Any) -> Any:
        return shared["items"]

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


class Marks(pf.BatchNode):
    """Leaves a file per item it runs: proves whether any item ran."""

    def __init__(self, folder: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.folder = folder

    def prep(self, shared: Any) -> Any:
        return shared["items"]

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
