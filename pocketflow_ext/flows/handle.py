"""RunHandle: the caller's view of a run going on in a background thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ..errors import ConfigurationError, RunTimeout

# Reads a recorded run's status from the database; None while the row does not exist yet.
StatusReader = Callable[[str], "str | None"]


class RunHandle:
    """A run started by ``flow.run_background(store)``.

    ``run_id`` is known at once; ``status`` is live (read from the database when the flow
    records, else kept in memory); ``wait()`` returns the store or re-raises the flow's
    exception; ``cancel()`` asks the run to stop before its next node.

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

    @property
    def status(self) -> str:
        """``running`` (or ``queued``), then ``completed``, ``failed`` or ``cancelled``."""
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

    def cancel(self) -> None:
        """Ask the run to stop before its next node; its final status becomes ``cancelled``.

        Cooperative: the node running now finishes first. Does nothing once the run is done.
        """
        self._cancel.set()

    def finish(self, status: str, error: BaseException | None = None) -> None:
        """Called once by the background thread when the run ends."""
        self._status, self._error = status, error
        self._done.set()

    def __repr__(self) -> str:
        return f"<RunHandle {self.run_id} {self.status}>"
