"""Parallel: a node that runs branches (nodes or whole flows) at the same time and joins them.

The state rule, which makes the result independent of scheduling: every branch works on
its own shallow copy of the store taken when the group starts; at the join each branch's
writes (keys it set to another object, added or deleted) are applied to the store in
branch order. Two branches writing one key is a :class:`~pocketflow_ext.errors.ParallelConflict`
unless a reducer for that key or the group's ``merge`` combines them. docs/parallel.md
has the rules and their reasons.

Each branch reports into the run like a nested flow, with its own frame: its node starts
and ends at ``<group path>/<branch name>`` and a branch flow's nodes below that
(``Flow/Parallel/b/Fetch``).
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import threading
from collections import deque
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from concurrent.futures import Executor
from concurrent.futures import wait as wait_futures
from contextlib import ExitStack
from typing import Any

import pocketflow

from ..errors import ConfigurationError, ParallelConflict, RunCancelled
from ..graph import base_name, unique_names
from ..store.store import MISSING
from ..stream import dispatch
from ..stream.scope import (
    BranchCancel,
    Frame,
    Level,
    branch_level,
    branch_run,
    current_frame,
    set_current_frame,
)
from .async_bridge import run_coroutine
from .branch_threads import branch_threads
from .edges import EdgesMixin
from .executors import check_executor, check_workers, opened, ship_exec
from .limits import check_limit
from .named import NamedMixin

ON_ERROR = ("cancel", "finish")

Writes = dict[str, Any]
"""One branch's writes: key -> new value, or ``MISSING`` for a key it deleted."""

Merge = Callable[[MutableMapping[str, Any], dict[str, Writes]], Any]


# Where a resumed run hands each group the branches that finished before (flows/resume/):
# RunOptions.extra[FINISHED_BRANCHES] = {group path: {branch name: writes}}.
FINISHED_BRANCHES = "parallel_finished_branches"


def fan_out(branches: list[Any] | tuple[Any, ...]) -> Parallel:
    """The group of exactly ``branches``: the one made earlier (by ``x >> branches`` or
    ``branches >> y``, in either order) or a new one, so both statements wire one group."""
    for group in getattr(branches[0], "_fan_outs", ()) if branches else ():
        if len(group.branches) == len(branches) and all(
            a is b for a, b in zip(group.branches, branches, strict=True)
        ):
            return group
    group = Parallel(*branches)
    for branch in branches:
        # Build-time wiring only (executor copies drop it); a node may be a branch of
        # several groups.
        branch.__dict__["_fan_outs"] = (*branch.__dict__.get("_fan_outs", ()), group)
    return group


class FanOutMixin:
    """``a >> [b, c]`` fans out into a :class:`Parallel` group and returns it;
    ``[b, c] >> d`` joins that group into ``d`` and returns ``d``; ``a - "x" >> [b, c]``
    and ``a.then("x", [b, c])`` work too."""

    def next(self, node: Any, action: str = "default") -> Any:
        if isinstance(node, (list, tuple)):
            node = fan_out(node)
        return super().next(node, action)  # type: ignore[misc]

    def __rrshift__(self, other: Any) -> Any:
        if not isinstance(other, (list, tuple)):
            return NotImplemented
        fan_out(other).next(self)
        return self


class Parallel(FanOutMixin, EdgesMixin, NamedMixin, pocketflow.AsyncNode):
    """Run ``branches`` concurrently, wait for all, then continue: ``a >> Parallel(b, c) >> d``.

    A branch is a node or a flow, sync or async. Sync branches run on a thread pool
    (``max_workers`` threads, default one per branch), async ones on the running event loop;
    ``max_concurrency`` bounds how many branches are in flight at once.

    - ``reducers={key: fn}``: branches writing ``key`` are combined as
      ``fn(fn(value_before, first), second)...`` in branch order (``operator.add`` for
      lists or counts); each branch then writes only its own contribution.
    - ``merge=fn``: ``fn(store, {branch: {key: value}})`` applies every branch's writes
      itself (deleted keys have ``MISSING``); no conflict check.
    - ``on_error``: ``"cancel"`` (default) stops the other branches before their next node
      when one fails; ``"finish"`` lets them finish. Either way the group raises the error
      of the first branch that failed and applies no writes.
    - ``executor``: ``"threads"``, ``"processes"`` or a ``concurrent.futures.Executor``:
      each node branch's ``exec`` runs there (``prep``/``post`` stay here).

    ``start >> [a, b, c]`` and ``[a, b, c] >> merge`` build one for you.
    """

    _is_parallel_group = True  # how graph.describe knows a group without importing this

    def __init__(
        self,
        *branches: Any,
        max_workers: int | None = None,
        max_concurrency: int | None = None,
        on_error: str = "cancel",
        merge: Merge | None = None,
        reducers: Mapping[str, Callable[[Any, Any], Any]] | None = None,
        executor: Any = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if len(branches) == 1 and isinstance(branches[0], (list, tuple)):
            branches = tuple(branches[0])
        self.branches: tuple[Any, ...] = check_branches(branches)
        self.max_workers = check_workers(max_workers)
        self.max_concurrency = check_limit(max_concurrency)
        if on_error not in ON_ERROR:
            raise ConfigurationError(
                f"on_error must be 'cancel' (stop the other branches) or 'finish' (let them "
                f"finish), got {on_error!r}"
            )
        self.on_error = on_error
        if merge is not None and not callable(merge):
            raise ConfigurationError(
                f"merge must be callable as merge(store, writes), got {merge!r}"
            )
        if merge is not None and reducers:
            raise ConfigurationError(
                "give either merge= (it combines every write itself) or reducers=, not both"
            )
        self.merge = merge
        self.reducers: dict[str, Callable[[Any, Any], Any]] = dict(reducers or {})
        for key, reducer in self.reducers.items():
            if not callable(reducer):
                raise ConfigurationError(
                    f"the reducer for key {key!r} must be callable as fn(current, written), "
                    f"such as operator.add; got {reducer!r}"
                )
        self.executor = check_executor(executor)

    def branch_names(self) -> list[str]:
        """Each branch's name, in branch order: unique within the group (``Fetch#2``)."""
        names = unique_names(self.branches)
        return [names[id(branch)] for branch in self.branches]

    def _run(self, shared: Any) -> Any:
        group = _GroupRun(self, shared)
        if group.any_async:
            run_coroutine(group.run_async())
        else:
            group.run_threads()
        return group.join()

    async def _run_async(self, shared: Any) -> Any:
        group = _GroupRun(self, shared)
        await group.run_async()
        return group.join()

    def __repr__(self) -> str:
        return f"Parallel({', '.join(self.branch_names())})"


def is_async_branch(branch: Any) -> bool:
    return isinstance(branch, pocketflow.AsyncNode)


def check_branches(branches: Sequence[Any]) -> tuple[Any, ...]:
    if not branches:
        raise ConfigurationError(
            "Parallel needs at least one branch: Parallel(a, b, ...) or start >> [a, b]"
        )
    seen: set[int] = set()
    for index, branch in enumerate(branches):
        if not hasattr(branch, "successors") or not hasattr(branch, "_run"):
            raise ConfigurationError(
                f"branch {index} of Parallel is {branch!r}, not a node or flow; pass nodes or "
                "flows: Parallel(fetch, Flow(start=summarise), ...)"
            )
        if id(branch) in seen:
            raise ConfigurationError(
                f"node {base_name(branch)!r} is given twice as a branch of one Parallel; a "
                "node object runs once per group: make a second node for the second branch"
            )
        seen.add(id(branch))
    return tuple(branches)


class _Branch:
    """One branch of one group execution."""

    __slots__ = ("name", "node", "view", "frame", "state", "error", "writes")

    def __init__(self, name: str, node: Any, view: dict[str, Any]) -> None:
        self.name = name
        self.node = node
        self.view = view
        self.frame: Frame | None = None
        self.state = "waiting"  # -> running -> done | failed | skipped (never started)
        self.error: BaseException | None = None
        self.writes: Writes | None = None


class _GroupRun:
    """One execution of a Parallel: the branches' views, frames, outcomes and the join."""

    def __init__(self, group: Parallel, shared: Any) -> None:
        if not isinstance(shared, MutableMapping):
            raise TypeError(
                f"Parallel {base_name(group)!r} needs the shared store to be a dict (each "
                f"branch gets a copy of it), got {type(shared).__name__}"
            )
        self.group = group
        self.shared = shared
        self.base: dict[str, Any] = dict(shared)
        self.lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.tasks: dict[asyncio.Future[None], _Branch] = {}
        self.first_error: BaseException | None = None
        outer = current_frame()
        self.outer = outer
        cancel_outer = outer.level.run.cancel if outer is not None else None
        self.cancel = BranchCancel(cancel_outer)
        names = group.branch_names()
        self.path = _group_path(group, outer)
        finished = _finished_before(outer, self.path)
        self.branches: list[_Branch] = []
        for name, node in zip(names, group.branches, strict=True):
            branch = _Branch(name, node, dict(self.base))
            if finished is not None and name in finished:
                branch.state, branch.writes = "done", finished[name]  # kept from the run resumed
            self.branches.append(branch)
        self.to_run = [b for b in self.branches if b.state == "waiting"]
        self.any_async = any(is_async_branch(b.node) for b in self.to_run)
        if outer is not None:
            self._make_frames(outer)

    def _make_frames(self, outer: Frame) -> None:
        run = branch_run(outer.level.run, self.cancel)
        paths = {b.name: f"{self.path}/{b.name}" for b in self.branches}
        names = {id(b.node): b.name for b in self.branches}
        # A level per branch: its listeners are the enclosing flows', its store the
        # branch's own view (what hooks and checkpoints of its nodes see).
        template = Level(run, self.group, self.path, outer.level, names, paths, (), self.base)
        for branch in self.to_run:
            branch.frame = Frame(branch_level(template, branch.view), outer.params)

    # ── running the branches ────────────────────────────────────────────────
    def _workers(self, count: int) -> int:
        limits = [count, self.group.max_workers, self.group.max_concurrency]
        return max(1, min(n for n in limits if n is not None))

    def run_threads(self) -> None:
        pending = deque(self.to_run)
        if not pending:
            return
        # Each branch in its own copy of the group's context (taken here, in the flow's
        # thread), so what one branch sets there (its frame) is not seen by another.
        contexts = {id(b): contextvars.copy_context() for b in pending}
        with ExitStack() as stack:
            shipper = self._shipper(stack)

            def drain() -> None:  # a worker takes the next waiting branch until none is left
                while pending:
                    try:
                        branch = pending.popleft()
                    except IndexError:
                        return
                    contexts[id(branch)].run(self.run_branch, branch, shipper)

            threads = branch_threads()
            futures = [threads.submit(drain) for _ in range(self._workers(len(pending)))]
            try:
                for future in futures:
                    future.result()
            except BaseException:  # Ctrl+C: stop every branch before its next node
                self.cancel.set()
                wait_futures(futures)  # a node already running finishes first
                raise

    def _shipper(self, stack: ExitStack) -> Executor | None:
        if self.group.executor is None:
            return None
        return stack.enter_context(opened(self.group.executor, self.group.max_workers))

    async def run_async(self) -> None:
        branches = self.to_run
        if not branches:
            return
        limit = self.group.max_concurrency
        semaphore = asyncio.Semaphore(limit) if limit is not None else None
        with ExitStack() as stack:
            shipper = self._shipper(stack)
            sync_count = sum(not is_async_branch(b.node) for b in branches)
            workers = self.group.max_workers
            threads = asyncio.Semaphore(workers) if workers and workers < sync_count else None
            self.loop = asyncio.get_running_loop()
            self.tasks = {
                asyncio.ensure_future(self._branch_async(b, semaphore, threads, shipper)): b
                for b in branches
            }
            try:
                await asyncio.wait(self.tasks)
            except BaseException:  # the group itself was cancelled (Ctrl+C in asyncio.run)
                self.cancel.set()
                self._cancel_tasks()
                await asyncio.wait(self.tasks)
                raise

    def _cancel_tasks(self) -> None:
        """Cancel the async branches still going. Sync ones stop at their next node (a
        thread cannot be interrupted): their tasks are left to finish, so every branch has
        ended before the group returns."""
        loop = self.loop
        if loop is None:
            return
        for task, branch in self.tasks.items():
            if is_async_branch(branch.node) and not task.done():
                loop.call_soon_threadsafe(task.cancel)

    async def _branch_async(
        self,
        branch: _Branch,
        semaphore: asyncio.Semaphore | None,
        threads: asyncio.Semaphore | None,
        shipper: Executor | None,
    ) -> None:
        if semaphore is not None:
            async with semaphore:
                await self._one_async(branch, threads, shipper)
        else:
            await self._one_async(branch, threads, shipper)

    async def _one_async(
        self, branch: _Branch, threads: asyncio.Semaphore | None, shipper: Executor | None
    ) -> None:
        if not is_async_branch(branch.node):
            context = contextvars.copy_context()
            loop = asyncio.get_running_loop()
            threads_of = branch_threads()
            if threads is None:
                await loop.run_in_executor(
                    threads_of, context.run, self.run_branch, branch, shipper
                )
            else:  # max_workers: at most that many sync branches on threads at once
                async with threads:
                    await loop.run_in_executor(
                        threads_of, context.run, self.run_branch, branch, shipper
                    )
            return
        node = self._started(branch)  # this task's own context: the frame stays in it
        if node is None:
            return
        try:
            action = await node._run_async(branch.view)
        except BaseException as exc:  # CancelledError too: a stopped branch ends in node_error
            self._failed(branch, exc)
        else:
            self._ended(branch, action)

    def run_branch(self, branch: _Branch, shipper: Executor | None) -> None:
        """A sync branch, on a pool thread, in a copy of the group's context."""
        node = self._started(branch)
        if node is None:
            return
        if shipper is not None and _ships(node):
            ship_exec(node, shipper)
        try:
            action = node._run(branch.view)
        except BaseException as exc:
            self._failed(branch, exc)
        else:
            self._ended(branch, action)

    def _started(self, branch: _Branch) -> Any:
        """Start ``branch`` in the current context: its node copy, or None when the group
        was stopped before it began."""
        if self.cancel.is_set():
            branch.state = "skipped"
            return None
        node = copy.copy(branch.node)  # as upstream copies each node it runs
        node.set_params(self.group.params)
        branch.state = "running"
        frame = branch.frame
        if frame is not None:
            set_current_frame(frame)
            dispatch.advance(frame, None, branch.name)
        return node

    def _ended(self, branch: _Branch, action: Any) -> None:
        frame = branch.frame
        if frame is not None:
            try:
                dispatch.advance(frame, action, None)
            except BaseException as exc:  # its end could not be recorded (the store is gone)
                # Failed like a branch, so the group stops its other branches and raises
                # this; the node itself ran to its end: no node_error for it.
                frame.node = None
                self._failed(branch, exc)
                return
        branch.state = "done"

    def _failed(self, branch: _Branch, exc: BaseException) -> None:
        frame = branch.frame
        if frame is not None and frame.node is not None:
            dispatch.node_error(frame, exc)
        branch.state, branch.error = "failed", exc
        with self.lock:
            if self.first_error is None and not isinstance(exc, asyncio.CancelledError):
                self.first_error = exc
        # Not an Exception (Ctrl+C, the run's store gone: StoreGone): the run stops,
        # so every branch does, whatever on_error says.
        if self.group.on_error == "cancel" or not isinstance(exc, Exception):
            self.cancel.set()
            self._cancel_tasks()

    # ── the join ────────────────────────────────────────────────────────────
    def join(self) -> Any:
        """Apply the branches' writes in branch order; raises if a branch failed."""
        if self.first_error is not None:
            raise self.first_error
        unfinished = [b.name for b in self.branches if b.state != "done"]
        if unfinished:
            raise RunCancelled(
                f"Parallel {self.path or base_name(self.group)!r} was stopped before branches "
                f"{', '.join(map(repr, unfinished))} finished; resume the run to run them"
            )
        writes = {
            b.name: b.writes if b.writes is not None else self._writes(b) for b in self.branches
        }
        if self.group.merge is not None:
            self.group.merge(self.shared, writes)
            return None
        apply_writes(
            self.shared, self.base, writes, self.group.reducers, self.path or base_name(self.group)
        )
        return None

    def _writes(self, branch: _Branch) -> Writes:
        base, view = self.base, branch.view
        written: Writes = {k: v for k, v in view.items() if base.get(k, MISSING) is not v}
        written.update((k, MISSING) for k in base if k not in view)
        return written


def _finished_before(outer: Frame | None, path: str) -> dict[str, Writes] | None:
    """The branches of this group that finished in the run being resumed, with their writes;
    taken once, so a loop coming back to the group runs every branch."""
    if outer is None:
        return None
    planned = outer.level.run.options.extra.get(FINISHED_BRANCHES)
    if not planned:
        return None
    found: dict[str, Writes] | None = planned.pop(path, None)
    return found


def _ships(node: Any) -> bool:
    """Whether a branch's ``exec`` can go to ``executor=``: a plain sync node (a flow has no
    exec of its own, an async node's runs on the loop)."""
    return isinstance(node, pocketflow.Node) and not isinstance(
        node, (pocketflow.Flow, pocketflow.AsyncNode)
    )


def _group_path(group: Parallel, outer: Frame | None) -> str:
    if outer is None:
        return ""
    if outer.node is not None:
        return outer.path
    return f"{outer.level.path}/{base_name(group)}"


def apply_writes(
    shared: MutableMapping[str, Any],
    base: Mapping[str, Any],
    writes: Mapping[str, Writes],
    reducers: Mapping[str, Callable[[Any, Any], Any]],
    where: str,
) -> None:
    """Combine the branches' ``writes`` (branch name -> writes, in branch order) and apply
    them to ``shared``; nothing is applied when two branches conflict."""
    by_key: dict[str, list[tuple[str, Any]]] = {}
    for name, written in writes.items():
        for key, value in written.items():
            by_key.setdefault(key, []).append((name, value))
    conflicts = {k: w for k, w in by_key.items() if len(w) > 1 and k not in reducers}
    if conflicts:
        raise ParallelConflict(_conflict_message(conflicts, where))
    combined: dict[str, Any] = {}
    for key, written_by in by_key.items():
        reducer = reducers.get(key)
        if reducer is None:
            combined[key] = written_by[0][1]
            continue
        deleted = [name for name, value in written_by if value is MISSING]
        if deleted:
            raise ParallelConflict(
                f"branch {deleted[0]!r} of Parallel {where!r} deleted key {key!r}, which has a "
                "reducer: a deletion cannot be combined; write a value instead"
            )
        values = [value for _, value in written_by]
        value = base[key] if key in base else values.pop(0)
        for each in values:
            value = reducer(value, each)
        combined[key] = value
    for key, value in combined.items():
        if value is MISSING:
            del shared[key]
        else:
            shared[key] = value  # a Store checks its schema and tells its observers here


def _conflict_message(conflicts: Mapping[str, list[tuple[str, Any]]], where: str) -> str:
    parts = [
        f"key {key!r} by branches {' and '.join(repr(name) for name, _ in written_by)}"
        for key, written_by in conflicts.items()
    ]
    first = next(iter(conflicts))
    return (
        f"branches of Parallel {where!r} wrote the same store key: {'; '.join(parts)}. Each "
        "branch works on its own copy of the store, so one write would be lost. Write "
        f"different keys, or say how to combine them: reducers={{{first!r}: operator.add}} "
        "(each branch then writes only its own part), or merge=fn(store, writes)"
    )
