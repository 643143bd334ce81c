"""``executor=``: a node's ``exec`` runs on threads, processes or a Dask cluster.

Only ``exec`` travels (PocketFlow's pure step); ``prep`` and ``post`` stay where the flow
runs. Each item ships with a copy of its node (settings included, successors left behind)
and runs the node's own attempt loop (``attempts.run_attempts``) where it lands, so
``max_retries``, backoff, ``retry_on`` and ``exec_fallback`` apply per item there. The
retries an item went through come back with its result and are reported to the run as
``node_retry`` events, in item order. Nothing here imports Dask: any
``concurrent.futures.Executor`` works, ``client.get_executor()`` included.
"""

from __future__ import annotations

import contextvars
import copy
import pickle
from collections.abc import Iterator, Sequence
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

EXECUTOR_NAMES = ("threads", "processes")

# (attempt, exception, delay_s) for each failed attempt of one item, in order.
Retries = list[tuple[int, BaseException, float]]


def check_executor(value: Any) -> Any:
    """``value`` if it can be an ``executor=``, else a ConfigurationError saying what can."""
    if value is None or value in EXECUTOR_NAMES or isinstance(value, Executor):
        return value
    raise ConfigurationError(
        f"executor must be 'threads', 'processes' or a concurrent.futures.Executor (such as "
        f"a dask.distributed Client's client.get_executor()), got {value!r}"
    )


def check_workers(value: Any, what: str = "max_workers") -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{what} must be an int >= 1 (or None), got {value!r}")
    return value


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


def check_picklable(node: Any, items: Sequence[Any], what: str) -> None:
    """Refuse, before anything runs, a node or item that cannot travel to another process."""
    try:
        pickle.dumps(node)
    except Exception as exc:
        raise ExecutorError(
            f"node {base_name(node)!r} cannot be sent to the executor's worker processes: "
            f"{type(exc).__name__}: {exc}. Define the node class at module level and keep "
            "unpicklable values (clients, locks) out of its attributes, or use "
            "executor='threads'"
        ) from exc
    for index, item in enumerate(items):
        try:
            pickle.dumps(item)
        except Exception as exc:
            raise ExecutorError(
                f"{what} {index} of node {base_name(node)!r} ({_short(item)}) cannot be sent to "
                f"the executor's worker processes: {type(exc).__name__}: {exc}. Return "
                "picklable values from prep, or use executor='threads'"
            ) from exc


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def run_item(node: Any, item: Any) -> tuple[bool, Any, Retries]:
    """Runs where the executor puts it: the node's attempts at ``item``.

    Returns ``(ok, result or exception, retries)``: the exec's own failure travels back as
    a value so its retries are reported too; only a broken worker raises.
    """
    # A fresh context: a forked worker inherits the flow thread's frame, whose listeners
    # are copies there; retries must come back to the real ones instead.
    return contextvars.Context().run(_attempts, node, item)


def _attempts(node: Any, item: Any) -> tuple[bool, Any, Retries]:
    retries: Retries = []
    with collecting_retries(retries):
        try:
            result = run_attempts(node, item)
        except Exception as exc:
            return False, _portable(exc), [(a, _portable(e), d) for a, e, d in retries]
    return True, result, [(a, _portable(e), d) for a, e, d in retries]


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
    what: str = "item",
) -> list[Any]:
    """``node``'s attempts at each item on ``executor``; results in item order.

    Retries are reported as each item's result arrives (item order); the first failed item
    (in item order) raises its exception after the items before it are reported."""
    with opened(executor, max_workers) as pool:
        shipped = travelling_copy(node)
        if _crosses_processes(pool):
            check_picklable(shipped, items, what)
        futures: list[Future[Any]] = [pool.submit(run_item, shipped, item) for item in items]
        try:
            results = []
            for index, future in enumerate(futures):
                try:
                    outcome = future.result()
                except BrokenExecutor:
                    if executor != "processes":  # not ours to restart
                        raise
                    # A dead worker breaks every item in flight with it: run those again
                    # one at a time, each in a fresh process, which also tells which one
                    # kills its worker.
                    outcome = _alone(shipped, items[index])
                results.append(_result(outcome))
            return results
        except BrokenExecutor as exc:
            raise _lost(node, index, what, exc) from exc
        except ExecutorError:
            raise
        except Exception as exc:
            if isinstance(exc, _ExecFailure):
                raise exc.error from None
            raise _lost(node, index, what, exc) from exc
        finally:
            for future in futures:
                future.cancel()


class _ExecFailure(Exception):
    """An item's exec failed (after its retries and fallback): re-raised as it was."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


def _result(outcome: tuple[bool, Any, Retries]) -> Any:
    ok, value, retries = outcome
    report_retries(retries)
    if not ok:
        raise _ExecFailure(value)
    return value


def _alone(shipped: Any, item: Any) -> tuple[bool, Any, Retries]:
    with ProcessPoolExecutor(1) as solo:
        result: tuple[bool, Any, Retries] = solo.submit(run_item, shipped, item).result()
        return result


def _lost(node: Any, index: int, what: str, exc: BaseException) -> ExecutorError:
    """The worker running an item died or was lost: not the exec's failure."""
    return ExecutorError(
        f"{what} {index} of node {base_name(node)!r} did not come back from the executor: "
        f"{type(exc).__name__}: {exc} Its worker died or was lost (out of memory, a crash "
        "in native code, os._exit); give a Dask executor retries (client.get_executor("
        "retries=2)) or run the batch again"
    )


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
    ``concurrent.futures.Executor``; ``max_workers`` sizes the pools named by a string."""

    executor: Any = None
    max_workers: int | None = None
    # Wraps upstream's item loop and hands it on: the retry mixin's class check looks past it.
    _exec_passes_through = True

    def __init__(
        self, *args: Any, executor: Any = None, max_workers: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        if executor is not None:
            if isinstance(self, pocketflow.AsyncNode):
                raise ConfigurationError(
                    f"executor= is for sync batch nodes; {type(self).__name__} is async: its "
                    "items already run on the event loop (bound them with "
                    "AsyncParallelBatchNode(max_concurrency=N))"
                )
            self.executor = check_executor(executor)
        if max_workers is not None:
            self.max_workers = check_workers(max_workers)

    def _exec(self, items: Any) -> Any:
        executor = self.executor
        if executor is None:
            return super()._exec(items)  # type: ignore[misc]
        return map_items(self, list(items or ()), executor, self.max_workers)


def ship_exec(node: Any, prep_res: Any, executor: Any) -> Any:
    """One node's ``exec`` (with its attempts) on ``executor``: a ``Parallel`` branch."""
    return map_items(node, [prep_res], executor, None, what="prep result")[0]
