"""``executor=``: a node's ``exec`` runs on threads, processes or a Dask cluster.

Only ``exec`` travels (PocketFlow's pure step); ``prep`` and ``post`` stay where the flow
runs. Items go to other processes in chunks (``chunksize``), each task with a copy of the
node (settings included, successors left behind), and run the node's own attempt loop
(``attempts.run_attempts``) where they land, so ``max_retries``, backoff, ``retry_on`` and
``exec_fallback`` apply per item there. The retries an item went through come back with
its result and are reported to the run as ``node_retry`` events, in item order. Nothing
here imports Dask: any ``concurrent.futures.Executor`` works, ``client.get_executor()``
included.
"""

from __future__ import annotations

import contextvars
import copy
import math
import os
import pickle
import weakref
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import (
    BrokenExecutor,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
)
from contextlib import contextmanager
from typing import Any

import pocketflow

from ..errors import ConfigurationError, ExecutorError
from ..graph import base_name
from ..stream import dispatch
from ..stream.scope import current_frame
from .attempts import collecting_retries, run_attempts
from .limits import check_count
from .variants import Layer, with_layer

EXECUTOR_NAMES = ("threads", "processes")

# (attempt, exception, delay_s) for each failed attempt of one item, in order.
Retries = list[tuple[int, BaseException, float]]
# One item's (ok, result or exception, retries).
Outcome = tuple[bool, Any, Retries]


def check_executor(value: Any) -> Any:
    """``value`` if it can be an ``executor=``, else a ConfigurationError saying what can."""
    if value is None or value in EXECUTOR_NAMES or isinstance(value, Executor):
        return value
    raise ConfigurationError(
        f"executor must be 'threads', 'processes' or a concurrent.futures.Executor (such as "
        f"a dask.distributed Client's client.get_executor()), got {value!r}"
    )


def check_workers(value: Any, what: str = "max_workers") -> int | None:
    return check_count(value, what, "(the pool's size), or None for the default")


# The pools opened() made: a broken one is ours to work around (a Parallel group's pool is
# passed on to its branches as an executor object, so the name alone does not tell).
_own_pools: weakref.WeakSet[Executor] = weakref.WeakSet()


@contextmanager
def opened(executor: Any, max_workers: int | None) -> Iterator[Executor]:
    """The executor to submit to: a named one is made for this call and shut down after;
    a given one is the caller's to keep (and shut down)."""
    if isinstance(executor, Executor):
        yield executor
        return
    pool: Executor = (
        ThreadPoolExecutor(max_workers, thread_name_prefix="pocketflow-ext-exec")
        if executor == "threads"
        else ProcessPoolExecutor(max_workers)
    )
    _own_pools.add(pool)
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def travelling_copy(node: Any) -> Any:
    """The node as it ships: a shallow copy without its successors (the rest of the graph
    would travel along), the group it was fanned out into, or its executor (it runs there)."""
    clone = copy.copy(node)
    clone.successors = {}
    clone.__dict__.pop("_fan_outs", None)
    clone.__dict__.pop("executor", None)
    return clone


def _crosses_processes(pool: Executor) -> bool:
    return not isinstance(pool, ThreadPoolExecutor)


def check_chunksize(value: Any) -> int | None:
    return check_count(
        value,
        "chunksize",
        "(items sent to a worker in one task), or None to size chunks from the worker count",
    )


CHUNKS_PER_WORKER = 4
"""Automatic chunking: about this many chunks per worker, so a slow chunk still leaves the
other workers something to take, while each task carries enough items to pay its way."""


def auto_chunksize(count: int, workers: int) -> int:
    return max(1, math.ceil(count / (CHUNKS_PER_WORKER * workers)))


def worker_count(pool: Executor) -> int:
    """How many items ``pool`` runs at once: a process pool's size, a Dask client's total
    threads, else this machine's CPU count (a process pool's default size)."""
    size = getattr(pool, "_max_workers", None)  # a ProcessPoolExecutor's, set by CPython
    if isinstance(pool, ProcessPoolExecutor) and isinstance(size, int) and size > 0:
        return size
    # A Dask ClientExecutor keeps its Client in ``_client``: asked by duck typing, so
    # nothing here imports Dask. nthreads() is {worker address: threads}.
    nthreads = getattr(getattr(pool, "_client", None), "nthreads", None)
    if callable(nthreads):
        try:
            threads = nthreads()
            total = sum(threads.values()) if isinstance(threads, Mapping) else 0
        except Exception:  # a client that cannot answer now: fall back to the CPU count
            total = 0
        if total > 0:
            return total
    return os.cpu_count() or 1


def _spans(count: int, size: int) -> list[tuple[int, int]]:
    return [(start, min(start + size, count)) for start in range(0, count, size)]


def _pickled_node(node: Any) -> bytes:
    try:
        return pickle.dumps(node)
    except Exception as exc:
        raise ExecutorError(
            f"node {base_name(node)!r} cannot be sent to the executor's worker processes: "
            f"{type(exc).__name__}: {exc}. Define the node class at module level and keep "
            "unpicklable values (clients, locks) out of its attributes, or use "
            "executor='threads'"
        ) from exc


def _pickled_items(node: Any, items: Sequence[Any], span: tuple[int, int], what: str) -> bytes:
    try:
        return pickle.dumps(list(items[span[0] : span[1]]))
    except Exception:
        for index in range(*span):  # which one: only on the way to the error
            try:
                pickle.dumps(items[index])
            except Exception as exc:
                raise ExecutorError(
                    f"{what} {index} of node {base_name(node)!r} ({_short(items[index])}) cannot "
                    f"be sent to the executor's worker processes: {type(exc).__name__}: {exc}. "
                    "Return picklable values from prep, or use executor='threads'"
                ) from exc
        raise ExecutorError(
            f"{_items_named(span, what)} of node {base_name(node)!r} cannot be sent to the "
            "executor's worker processes together, though each one pickles; pass a smaller "
            "chunksize= (1 sends them one by one)"
        ) from None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def run_items(node: Any, items: Sequence[Any]) -> list[Outcome]:
    """Runs where the executor puts it: the node's attempts at each item in turn, up to
    the first that fails (the batch fails there, as upstream's loop does).

    Each outcome is ``(ok, result or exception, retries)``: the exec's own failure travels
    back as a value so its retries are reported too; only a broken worker raises.
    """
    # A fresh context: a forked worker inherits the flow thread's frame, whose listeners
    # are copies there; retries must come back to the real ones instead.
    return contextvars.Context().run(_each, node, items)


def run_pickled(node: bytes, items: bytes) -> list[Outcome]:
    """``run_items`` in another process: the node and a chunk of items arrive pickled (the
    node once per chunk, pickled once per batch); exceptions go back picklable."""
    outcomes = run_items(pickle.loads(node), pickle.loads(items))
    return [
        (ok, value if ok else _portable(value), [(a, _portable(e), d) for a, e, d in retries])
        for ok, value, retries in outcomes
    ]


def _each(node: Any, items: Sequence[Any]) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for item in items:
        retries: Retries = []
        with collecting_retries(retries):
            try:
                outcomes.append((True, run_attempts(node, item), retries))
            except Exception as exc:
                outcomes.append((False, exc, retries))
                break
    return outcomes


def _portable(exc: BaseException) -> BaseException:
    """``exc``, or a RuntimeError with its text when it cannot be pickled back."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeError(dispatch.error_text(exc))
    return exc


def map_items(
    node: Any,
    items: Sequence[Any],
    executor: Any,
    max_workers: int | None = None,
    chunksize: int | None = None,
    what: str = "item",
) -> list[Any]:
    """``node``'s attempts at each item on ``executor``; results in item order.

    Executors that cross processes get the items in chunks of ``chunksize`` (None: about
    four chunks per worker), the node pickled once; threads take one item per task.
    Retries are reported as each item's result arrives (item order); the first failed item
    (in item order) raises its exception after the items before it are reported."""
    check_chunksize(chunksize)
    with opened(executor, max_workers) as pool:
        shipped = travelling_copy(node)
        if _crosses_processes(pool):
            # One item (a Parallel branch's exec) needs no worker count: asking Dask for it
            # is a round trip to the scheduler.
            many = len(items) > 1
            size = chunksize or (auto_chunksize(len(items), worker_count(pool)) if many else 1)
            spans = _spans(len(items), size)
            node_bytes = _pickled_node(shipped)
            # Every chunk pickled before the first is sent: a bad item fails before any runs.
            loads = [_pickled_items(node, items, span, what) for span in spans]
            futures: list[Future[list[Outcome]]] = [
                pool.submit(run_pickled, node_bytes, load) for load in loads
            ]
        else:  # threads: nothing to pickle, so nothing saved by grouping items
            spans = _spans(len(items), 1)
            futures = [pool.submit(run_items, shipped, [item]) for item in items]
        try:
            results: list[Any] = []
            for span, future in zip(spans, futures, strict=True):
                try:
                    outcomes = future.result()
                except BrokenExecutor as exc:
                    if not (_crosses_processes(pool) and pool in _own_pools):  # not ours
                        raise _lost(node, span, what, exc) from exc
                    outcomes = _alone(node, node_bytes, items, span, what)
                except Exception as exc:
                    raise _lost(node, span, what, exc) from exc
                results.extend(_result(outcome) for outcome in outcomes)
            return results
        finally:
            for future in futures:
                future.cancel()


def _result(outcome: Outcome) -> Any:
    ok, value, retries = outcome
    report_retries(retries)
    if not ok:
        raise value
    return value


def _alone(
    node: Any, node_bytes: bytes, items: Sequence[Any], span: tuple[int, int], what: str
) -> list[Outcome]:
    """A dead worker breaks every chunk in flight with it: run this chunk's items again one
    at a time in a fresh process, which also tells which item kills its worker."""
    outcomes: list[Outcome] = []
    with ProcessPoolExecutor(1) as solo:
        for index in range(*span):
            load = pickle.dumps([items[index]])
            try:
                (outcome,) = solo.submit(run_pickled, node_bytes, load).result()
            except BrokenExecutor as exc:
                raise _lost(node, (index, index + 1), what, exc) from exc
            outcomes.append(outcome)
            if not outcome[0]:
                break
    return outcomes


def _lost(node: Any, span: tuple[int, int], what: str, exc: BaseException) -> ExecutorError:
    """The worker running a chunk died or was lost: not the exec's failure."""
    return ExecutorError(
        f"{_items_named(span, what)} of node {base_name(node)!r} did not come back from the executor: "
        f"{type(exc).__name__}: {exc} Its worker died or was lost (out of memory, a crash "
        "in native code, os._exit); give a Dask executor retries (client.get_executor("
        "retries=2)) or run the batch again"
    )


def _items_named(span: tuple[int, int], what: str) -> str:
    first, end = span
    return f"{what} {first}" if end - first == 1 else f"{what}s {first}-{end - 1}"


def report_retries(retries: Retries) -> None:
    """Replay an item's failed attempts as ``node_retry`` events of the node now running."""
    if not retries:
        return
    frame = current_frame()
    if frame is None or frame.node is None:
        return
    for attempt, exc, delay in retries:
        dispatch.node_retry(frame, attempt, exc, delay)


class ExecutorMixin:
    """``BatchNode(executor=...)``: run each item's ``exec`` on threads, processes or any
    ``concurrent.futures.Executor``; ``max_workers`` sizes the pools named by a string;
    ``chunksize`` is how many items go to another process in one task (None: about four
    chunks per worker)."""

    executor: Any = None
    max_workers: int | None = None
    chunksize: int | None = None
    # Wraps upstream's item loop and hands it on: the retry mixin's class check looks past it.
    _exec_passes_through = True

    def __init__(
        self,
        *args: Any,
        executor: Any = None,
        max_workers: int | None = None,
        chunksize: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        # Set on the instance only when given (upstream copies each node it runs); class
        # attributes get the same checks, now rather than mid-run.
        if executor is not None:
            self.executor = executor
        if max_workers is not None:
            self.max_workers = max_workers
        if chunksize is not None:
            self.chunksize = chunksize
        if self.executor is not None and isinstance(self, pocketflow.AsyncNode):
            raise ConfigurationError(
                f"executor= is for sync batch nodes; {type(self).__name__} is async: its "
                "items already run on the event loop (bound them with "
                "AsyncParallelBatchNode(max_concurrency=N))"
            )
        check_executor(self.executor)
        check_workers(self.max_workers)
        check_chunksize(self.chunksize)

    def _exec(self, items: Any) -> Any:
        executor = self.executor
        if executor is None:
            return super()._exec(items)  # type: ignore[misc]
        return map_items(self, list(items or ()), executor, self.max_workers, self.chunksize)


class ShippedExec(Layer):
    """In front of a Parallel branch's plain node (its own copy) whose ``exec`` goes to the
    group's executor: ``prep``, ``post`` and every layer around ``_exec`` (``when=``, the
    cache) stay where they run."""

    def _exec(self, prep_res: Any) -> Any:
        executor = self.executor  # type: ignore[attr-defined]
        return map_items(self, [prep_res], executor, what="prep result")[0]


def ship_exec(node: Any, executor: Executor) -> None:
    """Make ``node``, a Parallel branch's own copy, run its ``exec`` on ``executor``: a
    batch node's items each (as its ``executor=`` would, chunked by its ``chunksize``), a
    plain node's one ``exec``. A node with an executor of its own keeps it; an upstream
    batch node (no ``executor=``) runs its items where it is."""
    if getattr(node, "executor", None) is not None:
        return
    if isinstance(node, ExecutorMixin):
        node.executor = executor
    elif not isinstance(node, pocketflow.BatchNode):
        node.executor = executor
        with_layer(node, ShippedExec)
