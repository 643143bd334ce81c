"""StreamMixin: ``for event in flow.stream(shared)`` / ``async for event in flow.astream(shared)``.

The run is an ordinary run with one extra subscriber of its own (``RunOptions.subscribers``)
that hands each event to the caller's loop through a queue. Leaving the loop early cancels
the run before its next node (status ``cancelled``) and waits for it to stop.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

from ..stream import events as ev
from ..stream.events import FIELDS, Event
from ..stream.scope import RunOptions, new_run_id, run_options, set_current_frame
from .background import check_new_run_id, is_async_flow, start_background
from .observe import flow_label

_DONE = object()  # the run has ended: no event follows


class _Written:
    """What each node execution wrote: the store as it was when the node started (a
    shallow copy), compared with the store at its end. Keys are assigned values, so a
    value changed in place (``shared["list"].append(x)``) is not seen."""

    __slots__ = ("_before",)

    def __init__(self) -> None:
        self._before: dict[tuple[str, int | None], dict[Any, Any]] = {}

    def with_written(self, event: Event) -> Event:
        store = event.store
        key = (event.path, event.step)
        if event.kind == ev.NODE_START:
            if isinstance(store, dict):
                self._before[key] = dict.copy(store)
            return event
        if event.kind not in (ev.NODE_END, ev.NODE_ERROR):
            return event
        before = self._before.pop(key, None)
        if event.kind != ev.NODE_END or before is None or not isinstance(store, dict):
            return event
        written = {
            k: v
            for k, v in dict.items(store)
            if k not in before or before[k] is not v and before[k] != v
        }
        fields = {name: getattr(event, name) for name in FIELDS}
        fields["data"] = written
        return Event(**fields)


class _ToQueue:
    """The stream's own subscriber: every event of its run, node ends with what they wrote."""

    def __init__(self, put: Any) -> None:
        self._put = put
        self._written = _Written()

    def __call__(self, event: Event) -> None:
        self._put(self._written.with_written(event))


class StreamMixin:
    """Adds ``stream(shared)`` and ``astream(shared)`` to a flow that reports events
    (``HooksMixin``): the run's events as they happen."""

    def stream(self, shared: Any, *, run_id: str | None = None) -> Iterator[Event]:
        """Run the flow on ``shared`` in a background thread and yield its events as they
        happen: flow and node starts and ends (a ``node_end``'s ``data`` is a dict of the
        keys the node assigned), retries, errors and ``emit()``'s ``custom`` events.

        The run keeps pace with the loop (it waits while it is one event ahead) and ends
        when the iterator is exhausted; a failed run raises its exception after its last
        event. Leaving the loop early (``break``, an exception, closing the generator)
        cancels the run before the next node it would start and waits for the running
        node to finish: its status is ``cancelled``.

        >>> for event in flow.stream(shared):  # doctest: +SKIP
        ...     if event.kind == "custom" and event.topic == "token":
        ...         print(event.data, end="", flush=True)
        """
        # One slot: the run waits for the loop, at most one event ahead of it, so leaving
        # the loop stops it before the next node it would start.
        events: queue.Queue[Any] = queue.Queue(maxsize=1)

        def call() -> Any:
            try:
                if is_async_flow(self):
                    return asyncio.run(self.run_async(shared))  # type: ignore[attr-defined]
                return self.run(shared)  # type: ignore[attr-defined]
            finally:
                events.put(_DONE)

        handle = start_background(self, shared, call, run_id, subscribers=(_ToQueue(events.put),))
        finished = False
        try:
            while True:
                item = events.get()
                if item is _DONE:
                    break
                yield item
            finished = True
            handle.wait()  # a failed run raises here, after its last event
        finally:
            if not finished:
                handle.cancel()
                while events.get() is not _DONE:  # let the run put its last events and end
                    pass
                try:
                    handle.wait()
                except BaseException:  # noqa: S110 - the caller left; it asked for the stop
                    pass

    async def astream(self, shared: Any, *, run_id: str | None = None) -> AsyncIterator[Event]:
        """``stream()`` for ``async for``: an async flow runs as a task on the caller's
        event loop, a synchronous one in a worker thread. The worker thread keeps pace with
        the loop as ``stream()``'s does (at most one event ahead of it), so leaving the loop
        early cancels the run before the next node it would start. Wrap the iterator in
        ``contextlib.aclosing`` to have that happen at once rather than when the generator
        is collected.

        >>> async for event in flow.astream(shared):  # doctest: +SKIP
        ...     print(event.kind, event.path)
        """
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[Any] = asyncio.Queue()
        loop_thread = threading.get_ident()
        pace = _Pace()

        def put(item: Any) -> None:
            if threading.get_ident() == loop_thread:
                events.put_nowait(item)  # the run is a task on this loop: it cannot wait here
            else:
                pace.wait_turn()  # a worker thread waits until the loop took the last event
                loop.call_soon_threadsafe(events.put_nowait, (item,))

        subscriber = _ToQueue(put)
        if run_id is None:
            take = getattr(self, "_take_run_id", None)
            run_id = (take() if take is not None else None) or new_run_id(flow_label(self))
        else:
            check_new_run_id(self, run_id)
        cancel = threading.Event()
        options = RunOptions(run_id=run_id, cancel=cancel, subscribers=(subscriber,))

        async def call() -> Any:
            # The task's own context: a stream started inside a node is a run of its own.
            set_current_frame(None)
            try:
                if is_async_flow(self):
                    return await self.run_async(shared)  # type: ignore[attr-defined]
                return await asyncio.to_thread(self.run, shared)  # type: ignore[attr-defined]
            finally:
                put(_DONE)

        # The task copies this context now, with the options waiting for its run.
        with run_options(options):
            task = asyncio.ensure_future(call())
        finished = False
        try:
            while True:
                item = await events.get()
                if item is _DONE:
                    break
                if isinstance(item, tuple):  # from a worker thread, which may go on now
                    (item,) = item
                    pace.taken()
                yield item
            finished = True
            await task  # a failed run raises here, after its last event
        finally:
            if not finished:
                cancel.set()  # first: the worker, released next, stops before its next node
                pace.release()
                try:
                    await task
                except Exception:  # noqa: S110 - the caller left; it asked for the stop
                    pass


class _Pace:
    """Keeps a run's worker thread at most one event ahead of the loop that takes them:
    ``wait_turn`` before handing an event over waits while the last one is not taken."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._waiting = 0  # events handed over, not yet taken
        self._released = False

    def wait_turn(self) -> None:
        with self._cond:
            while self._waiting and not self._released:
                self._cond.wait()
            self._waiting += 1

    def taken(self) -> None:
        with self._cond:
            self._waiting -= 1
            self._cond.notify_all()

    def release(self) -> None:
        """The loop takes no more events: never wait again."""
        with self._cond:
            self._released = True
            self._cond.notify_all()
