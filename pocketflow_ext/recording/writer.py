"""Durability modes and the one background thread per database and process.

``sync`` commits each node's rows before the next node starts; ``async`` hands rows to
the background writer, which commits them in groups; ``exit`` keeps a run's rows in
memory and commits them once when the run ends. The background thread also refreshes
the heartbeat of live runs and, in ``sync`` mode, commits the ``node_start`` of a node
that has been running for a while (cheap nodes get it in the same commit as their end).
"""

from __future__ import annotations

import atexit
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError
from ..logging import get_logger
from . import schema
from .db import Statement, WorkflowDB

_log = get_logger("db")

DURABILITY_MODES = ("sync", "async", "exit")
GROUP_WINDOW_S = 0.02
"""How long the writer lets rows gather before a group commit (well under the 100 ms promise)."""
SLOW_START_S = 0.25
"""A node running longer than this gets its ``node_start`` committed without waiting for its end."""
_WRITE_ATTEMPTS = 5


class RunRows:
    """The rows of one live run not yet handed to SQLite, and the lock that orders them."""

    __slots__ = ("run_id", "mode", "lock", "pending", "pending_since", "current")

    def __init__(self, run_id: str, mode: str) -> None:
        self.run_id = run_id
        self.mode = mode
        self.lock = threading.Lock()
        self.pending: list[Statement] = []
        self.pending_since = 0.0
        self.current: str | None = None  # the node in progress, for ``current_node``

    def take(self) -> list[Statement]:
        rows, self.pending = self.pending, []
        return rows


class Writer:
    """One per database file and process: the group-commit queue, heartbeats, slow starts."""

    def __init__(self, db: WorkflowDB) -> None:
        self.db = db
        self._cond = threading.Condition()
        self._queue: list[Statement] = []
        self._submitted = 0
        self._written = 0
        self._waiters = 0
        self._live: dict[str, RunRows] = {}
        self._thread: threading.Thread | None = None
        self._next_beat = 0.0

    # ── durability modes ─────────────────────────────────────────────────────
    def add(self, rows: RunRows, statements: list[Statement]) -> None:
        """Rows that may wait for the next commit point of their run."""
        if rows.mode == "async":
            self._submit(statements)
            return
        with rows.lock:
            if not rows.pending:
                rows.pending_since = time.monotonic()
            rows.pending.extend(statements)

    def commit(self, rows: RunRows, statements: list[Statement]) -> None:
        """A node ended: its event and checkpoint become durable as the mode promises."""
        if rows.mode == "sync":
            with rows.lock:
                self.db.execute_all([*rows.take(), *statements])
        else:
            self.add(rows, statements)

    def finish(self, rows: RunRows, statements: list[Statement]) -> None:
        """The run ended: everything it recorded is committed before this returns."""
        try:
            if rows.mode == "async":
                self.wait(self._submit(statements))
            else:
                with rows.lock:
                    self.db.execute_all([*rows.take(), *statements])
        finally:
            with self._cond:
                self._live.pop(rows.run_id, None)

    def start(self, rows: RunRows) -> None:
        with self._cond:
            self._live[rows.run_id] = rows
            self._ensure_thread()
            self._cond.notify()

    # ── queue ────────────────────────────────────────────────────────────────
    def _submit(self, statements: list[Statement]) -> int:
        with self._cond:
            self._queue.extend(statements)
            self._submitted += 1
            ticket = self._submitted
            self._ensure_thread()
            self._cond.notify()
        return ticket

    def wait(self, ticket: int | None = None, timeout: float | None = None) -> bool:
        """Block until the rows submitted up to ``ticket`` (default: all) are committed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            target = self._submitted if ticket is None else ticket
            self._waiters += 1
            self._cond.notify_all()
            try:
                while self._written < target:
                    thread = self._thread
                    if thread is None or not thread.is_alive():
                        break
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        return False
                    self._cond.wait(left)
            finally:
                self._waiters -= 1
        if self._written < target:  # no thread (e.g. at interpreter exit): write here
            self._drain()
        return True

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._loop, name=f"pocketflow_ext-writer:{self.db.db_path.name}", daemon=True
            )
            self._thread.start()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._live:
                    self._cond.wait()
                if self._queue and not self._waiters:
                    # Let rows gather into one commit; a waiter (flow end) cuts it short.
                    self._cond.wait(GROUP_WINDOW_S)
                elif not self._queue:
                    self._cond.wait(SLOW_START_S / 2)
            self._drain()
            self._flush_slow_starts()
            self._beat()

    def _drain(self) -> None:
        with self._cond:
            batch, self._queue = self._queue, []
            ticket = self._submitted
        if batch:
            self._write(batch)
        with self._cond:
            self._written = max(self._written, ticket)
            self._cond.notify_all()

    def _write(self, statements: list[Statement]) -> None:
        for attempt in range(1, _WRITE_ATTEMPTS + 1):
            try:
                self.db.execute_all(statements)
                return
            except sqlite3.OperationalError as exc:
                if attempt == _WRITE_ATTEMPTS:
                    _log.error(
                        "could not record %d row(s) in %s: %s", len(statements), self.db, exc
                    )
                    return
                time.sleep(0.05 * 2**attempt)
            except Exception:
                _log.exception("could not record %d row(s) in %s", len(statements), self.db)
                return

    def _flush_slow_starts(self) -> None:
        now = time.monotonic()
        with self._cond:
            live = [r for r in self._live.values() if r.mode == "sync" and r.pending]
        for rows in live:
            if now - rows.pending_since < SLOW_START_S:
                continue
            with rows.lock:  # the flow thread's next commit waits, keeping row order
                if rows.pending:
                    current = (
                        "UPDATE pf_runs SET current_node = ? WHERE run_id = ?",
                        (rows.current, rows.run_id),
                    )
                    self._write([*rows.take(), current])

    def _beat(self) -> None:
        now = time.monotonic()
        if now < self._next_beat:
            return
        self._next_beat = now + schema.HEARTBEAT_INTERVAL_S
        with self._cond:
            run_ids = list(self._live)
        if run_ids:
            stamp = schema.iso()
            self._write(
                [
                    ("UPDATE pf_runs SET heartbeat_at = ? WHERE run_id = ?", (stamp, run_id))
                    for run_id in run_ids
                ]
            )

    def flush_at_exit(self) -> None:
        """Interpreter exit: commit queued rows and the rows of runs still in progress."""
        self.wait(timeout=10.0)
        with self._cond:
            live = list(self._live.values())
        for rows in live:
            with rows.lock:
                if rows.pending:
                    self._write(rows.take())


_writers: dict[tuple[int, str], Writer] = {}
_writers_lock = threading.Lock()


def writer_for(db_path: str | os.PathLike[str]) -> Writer:
    """The process-wide writer (and database object) of a file, opened on first use."""
    key = (os.getpid(), str(Path(db_path).expanduser().resolve()))
    with _writers_lock:
        writer = _writers.get(key)
        if writer is None:
            writer = _writers[key] = Writer(WorkflowDB(db_path))
    return writer


@atexit.register
def _flush_all() -> None:
    for (pid, _path), writer in list(_writers.items()):
        if pid == os.getpid():
            try:
                writer.flush_at_exit()
            except Exception:
                _log.exception("flushing %s at exit failed", writer.db)


def check_durability(value: Any) -> str:
    if value not in DURABILITY_MODES:
        raise ConfigurationError(
            f"durability must be one of {', '.join(map(repr, DURABILITY_MODES))}, got {value!r}"
        )
    return str(value)
