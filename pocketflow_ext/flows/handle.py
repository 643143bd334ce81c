"""RunHandle: the caller's view of a run going on in a background thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ..errors import ConfigurationError, ResumeError, RunTimeout, WaitingForAnswer

# Reads a recorded run's status from the database; None while the row does not exist yet.
StatusReader = Callable[[str], "str | None"]
# Continues a waiting run with answers (and overrides): the new run's handle.
Answerer = Callable[[str, list[Any], Any], "RunHandle"]


class RunHandle:
    """A run started by ``flow.run_background(store)``.

    ``run_id`` is known at once; ``status`` is live (read from the database when the flow
    records, else kept in memory); ``wait()`` returns the store or re-raises the flow's
    exception; ``cancel()`` asks the run to stop before its next node. A run paused by
    ``interrupt()`` is ``waiting``: ``question`` is what it asks, ``answer(value)`` continues it.

    >>> handle = flow.run_background(store)  # doctest: +SKIP
    >>> handle.wait(timeout=300)["summary"]  # doctest: +SKIP
    """

    def __init__(
        self,
        run_id: str,
        store: Any,
        cancel_flag: threading.Event,
        status_reader: StatusReader | None = None,
    ) -> None:
        self.run_id = run_id
        self.store = store
        self._cancel = cancel_flag
        self._status_reader = status_reader
        self._status = "running"
        self._error: BaseException | None = None
        self._done = threading.Event()
        self._waiting: WaitingForAnswer | None = None
        self.answerer: Answerer | None = None  # set by start_background for recording flows
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[RunHandle], None]] = []

    @property
    def status(self) -> str:
        """``running`` (or ``queued``), then ``completed``, ``failed``, ``cancelled`` or
        ``waiting`` (paused by ``interrupt()``: see ``question`` and ``answer``)."""
        if not self._done.is_set() and self._status_reader is not None:
            recorded = self._status_reader(self.run_id)
            if recorded is not None:
                return recorded
        return self._status

    @property
    def is_done(self) -> bool:
        """True once the run has ended, whatever its outcome."""
        return self._done.is_set()

    @property
    def error(self) -> BaseException | None:
        """The exception the run ended with, or None (still running, or completed)."""
        return self._error

    def wait(self, timeout: float | None = None) -> Any:
        """Block until the run ends; return its store or re-raise the flow's exception.

        Raises ``RunTimeout`` (a ``TimeoutError``) if the run is still going after
        ``timeout`` seconds; the run keeps going, so ``wait()`` may be called again.
        """
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0
        ):
            raise ConfigurationError(
                f"timeout must be a number of seconds >= 0 or None, got {timeout!r}"
            )
        if not self._done.wait(timeout):
            raise RunTimeout(
                f"run {self.run_id!r} is still {self.status} after {timeout} s; "
                "call wait() again, or cancel() it"
            )
        if self._error is not None:
            raise self._error
        return self.store

    @property
    def question(self) -> Any:
        """What the waiting run asks (``interrupt``'s payload); None unless ``waiting``."""
        return self._waiting.payload if self._waiting is not None else None

    def answer(
        self, value: Any = None, *, answers: list[Any] | None = None, overrides: Any = None
    ) -> RunHandle:
        """Answer the waiting run in this process; this handle then follows the run that
        continues it (``run_id`` becomes that run's, ``wait()`` waits for it). Returns self.

        ``answers=[...]`` answers several ``interrupt()`` calls of the node in order.
        """
        if self._waiting is None or not self._done.is_set():
            raise ResumeError(
                f"run {self.run_id!r} is {self.status}, not waiting for an answer; answer "
                "it once handle.status == 'waiting'"
            )
        if self.answerer is None:
            raise ResumeError(
                f"run {self.run_id!r} is not recorded (the flow has no db_path), so it cannot "
                "be continued after its pause; give the flow db_path="
            )
        nxt = self.answerer(self.run_id, [value] if answers is None else list(answers), overrides)
        self.run_id, self.store, self._cancel = nxt.run_id, nxt.store, nxt._cancel
        self._waiting, self._error, self._status = None, None, "running"
        self._done.clear()
        nxt.on_finish(self._follow)
        return self

    def _follow(self, other: RunHandle) -> None:
        self.answerer = other.answerer
        self.finish(other._status, other._error, other._waiting)

    def on_finish(self, callback: Callable[[RunHandle], None]) -> None:
        """Call ``callback(self)`` once the run ends (at once if it has)."""
        with self._lock:
            if not self._done.is_set():
                self._callbacks.append(callback)
                return
        callback(self)

    def cancel(self) -> None:
        """Ask the run to stop before its next node; its final status becomes ``cancelled``.

        Cooperative: the node running now finishes first. Does nothing once the run is done.
        """
        self._cancel.set()

    def finish(
        self,
        status: str,
        error: BaseException | None = None,
        waiting: WaitingForAnswer | None = None,
    ) -> None:
        """Called once by the background thread when the run ends (or pauses: ``waiting``
        is the pause, and ``wait()`` returns the store, not an error)."""
        if isinstance(error, WaitingForAnswer):
            error, waiting = None, error
        with self._lock:
            self._status, self._error, self._waiting = status, error, waiting
            self._done.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self)

    def __repr__(self) -> str:
        return f"<RunHandle {self.run_id} {self.status}>"
