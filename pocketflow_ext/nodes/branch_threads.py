"""The threads sync Parallel branches run on: kept between groups, never too few.

Starting a thread costs tens of microseconds (more on a busy machine), which would be most
of a branch's overhead if every group started its own pool. These threads are reused;
a task goes to an idle thread or, when none is idle, to a new one, so a group nested in a
branch never waits for a thread its parent holds. A thread idle for a while ends.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

IDLE_SECONDS = 10.0

Task = tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]


class BranchThreads(Executor):
    """An elastic thread pool (``submit`` only; shut down with the process)."""

    def __init__(self) -> None:
        self._tasks: queue.SimpleQueue[Task] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0  # threads waiting for a task, minus tasks handed to them
        self._count = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        call = fn if not kwargs else (lambda *a: fn(*a, **kwargs))
        with self._lock:
            self._tasks.put((future, call, args))
            if self._idle > 0:
                self._idle -= 1  # that thread will take it
                return future
            self._count += 1
        thread = threading.Thread(
            target=self._work, name=f"pocketflow-ext-branch-{self._count}", daemon=True
        )
        thread.start()
        return future

    def _work(self) -> None:
        while True:
            try:
                future, call, args = self._tasks.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if self._tasks.empty():
                        self._idle -= 1
                        return
                continue  # a task arrived as the wait ended: it was counted for us
            if future.set_running_or_notify_cancel():
                try:
                    result = call(*args)
                except BaseException as exc:
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            del future, call, args  # nothing of a finished branch stays alive in an idle thread
            with self._lock:
                self._idle += 1


_threads = BranchThreads()


def branch_threads() -> BranchThreads:
    return _threads


def _after_fork() -> None:
    # The threads did not come along into the child process: start counting afresh.
    global _threads
    _threads = BranchThreads()


os.register_at_fork(after_in_child=_after_fork)
