"""Durability modes and the one background thread per database and process.

``sync`` commits each node's rows before the next node starts; ``async`` hands rows to
the background writer, which commits them in groups; ``exit`` keeps a run's rows in
memory and commits them once when the run ends. The background thread also refreshes
the heartbeat of live runs and, in ``sync`` mode, commits the ``node_start`` of a node
that has been running for a while (cheap nodes get it in the same commit as their end).

Rows travel as *row sources*: a list of row records (``runstore/base.py``), or a
``(function, *args)`` tuple returning one, so ``async`` mode can leave building and
formatting them to the writer thread.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections import deque
from typing import Any

from ..errors import ConfigurationError, RunExistsError, StoreBusy
from ..logging import get_logger
from ..runstore import runs
from ..runstore.base import Row, RunRow, RunStore, RunUpdate
from ..runstore.open import open_store, store_key

_log = get_logger("db")

DURABILITY_MODES = ("sync", "async", "exit")
GROUP_WINDOW_S = 0.02
"""How long the writer lets rows gather before a group commit (well under the 100 ms promise)."""
SLOW_START_S = 0.25
"""A node running longer than this gets its ``node_start`` committed without waiting for its end."""
IDLE_AFTER_S = 1.0
"""The writer sleeps without a timeout after this long with nothing to do."""
WAL_CHECKPOINT_S = 1.0
"""How often the writer thread copies committed WAL pages back into the database file."""
_WRITE_ATTEMPTS = 5

RowSource = list[Row] | tuple[Any, ...]
"""Rows ready to write, or ``(function, *args)`` whose call returns them."""


def expand(sources: list[RowSource]) -> list[Row]:
    statements: list[Row] = []
    for source in sources:
        statements.extend(source[0](*source[1:]) if type(source) is tuple else source)
    return statements


class RunRows:
    """The rows of one live run not yet handed to SQLite, and the lock that orders them."""

    __slots__ = ("run_id", "mode", "lock", "pending", "pending_since", "current")

    def __init__(self, run_id: str, mode: str) -> None:
        self.run_id = run_id
        self.mode = mode
        self.lock = threading.Lock()
        self.pending: list[RowSource] = []
        self.pending_since = 0.0
        self.current: str | None = None  # the node in progress, for ``current_node``

    def take(self) -> list[RowSource]:
        rows, self.pending = self.pending, []
        return rows


class Writer:
    """One per run store and process: the group-commit queue, heartbeats, slow starts."""

    def __init__(self, store: RunStore) -> None:
        self.store = store
        # The flow's thread never pays for the store's upkeep (SQLite: copying the WAL back
        # into the database): this thread calls ``store.maintain()`` once a second.
        self._next_wal_checkpoint = 0.0
        self._sleeping = False
        self._last_busy = 0.0
        self._stopping = False
        self._cond = threading.Condition()
        # deque.append/popleft are atomic: the flow's thread hands rows over without a lock.
        self._queue: deque[RowSource | threading.Event] = deque()
        self._drain_lock = threading.Lock()
        self._hurry = False
        self._live: dict[str, RunRows] = {}
        self._reserved: set[str] = set()  # async run ids queued but maybe not yet written
        self._thread: threading.Thread | None = None
        self._next_beat = 0.0

    # ── durability modes ─────────────────────────────────────────────────────
    def add(self, rows: RunRows, source: RowSource) -> None:
        """Rows that may wait for the next commit point of their run."""
        if rows.mode == "async":
            self._queue.append(source)
            return
        with rows.lock:
            if not rows.pending:
                rows.pending_since = time.monotonic()
            rows.pending.append(source)

    def commit(self, rows: RunRows, source: RowSource) -> None:
        """A node ended: its event and checkpoint become durable as the mode promises."""
        mode = rows.mode
        if mode == "async":
            self._queue.append(source)
        elif mode == "sync":
            with rows.lock:
                sources = [*rows.take(), source]
                try:
                    self.store.write(expand(sources))
                except StoreBusy:  # locked or busy: the next commit retries
                    rows.pending[:0] = sources
                    raise
        else:
            self.add(rows, source)

    def finish(self, rows: RunRows, source: RowSource) -> None:
        """The run ended: everything it recorded is committed before this returns."""
        try:
            if rows.mode == "async":
                self._queue.append(source)
                self.flush()
            else:
                with rows.lock:
                    self._write(expand([*rows.take(), source]))  # retried if locked
        finally:
            with self._cond:
                self._live.pop(rows.run_id, None)
                self._reserved.discard(rows.run_id)

    def create_run(self, rows: RunRows, row: RunRow) -> None:
        """Record a new run row, refusing a run id already used.

        ``sync`` and ``exit`` commit it now; ``async`` checks the id now and queues the
        row ahead of the run's events, so the flow's thread does not wait on disk.
        """
        run_id = rows.run_id
        if rows.mode != "async":
            self.store.create_run(row)
            return
        with self._cond:
            if run_id in self._reserved or self.store.has_run(run_id):
                raise RunExistsError(
                    f"run {run_id!r} is already recorded in {self.store.location}; run ids are "
                    "never reused: pass another run_id (or none to get a fresh one), or resume it"
                )
            self._reserved.add(run_id)
        self._queue.append([row])

    def end_unstarted(self, rows: RunRows, **fields: Any) -> None:
        """Close the row of a run that failed before its first event."""
        if rows.mode == "async":
            self.flush()  # its INSERT may still be queued
        try:
            self.store.write([RunUpdate(rows.run_id, fields)])
        finally:
            with self._cond:
                self._reserved.discard(rows.run_id)
                self._live.pop(rows.run_id, None)

    def start(self, rows: RunRows) -> None:
        with self._cond:
            self._live[rows.run_id] = rows
            self._ensure_thread()
            if self._sleeping:  # only an idle writer waits without a timeout
                self._cond.notify()

    def flush(self, timeout: float | None = None) -> bool:
        """Block until every row handed over so far is committed."""
        done = threading.Event()
        self._queue.append(done)
        thread = self._thread
        if thread is None or not thread.is_alive():
            self._drain()  # no writer (e.g. at interpreter exit): commit here
            return True
        with self._cond:
            self._hurry = True
            self._cond.notify()
        return done.wait(timeout)

    # ── the background thread ────────────────────────────────────────────────
    def _ensure_thread(self) -> None:
        if self._stopping:
            return
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._loop,
                name=f"pocketflow_ext-writer:{os.path.basename(self.store.location)}",
                daemon=True,
            )
            self._thread.start()

    def _loop(self) -> None:
        while not self._stopping:
            with self._cond:
                busy = bool(self._queue or self._live)
            now = time.monotonic()
            if busy:
                self._last_busy = now
            elif now - self._last_busy >= IDLE_AFTER_S:
                self._checkpoint_wal(force=True)
                with self._cond:
                    # Back-to-back runs find the thread awake: no wake-up call per run.
                    self._sleeping = True
                    while not self._queue and not self._live and not self._stopping:
                        self._cond.wait()
                    self._sleeping = False
                self._last_busy = time.monotonic()
            with self._cond:
                if not self._hurry:  # let rows gather into one commit
                    self._cond.wait(GROUP_WINDOW_S)
                self._hurry = False
            self._drain()
            self._flush_slow_starts()
            self._beat()
            self._checkpoint_wal()

    def _drain(self) -> None:
        with self._drain_lock:
            sources: list[RowSource] = []
            markers: list[threading.Event] = []
            queue = self._queue
            while queue:
                item = queue.popleft()
                if isinstance(item, threading.Event):
                    markers.append(item)
                else:
                    sources.append(item)
            if sources:
                self._write_sources(sources)
            for marker in markers:
                marker.set()

    def _write_sources(self, sources: list[RowSource]) -> None:
        try:
            statements = expand(sources)
        except Exception:  # a row that cannot be built must not cost the others
            _log.exception("building rows for %s failed; writing them one by one", self.store)
            statements = []
            for source in sources:
                try:
                    statements.extend(expand([source]))
                except Exception:
                    _log.exception("dropping rows that could not be built")
        self._write(statements)

    def _write(self, statements: list[Row]) -> None:
        for attempt in range(1, _WRITE_ATTEMPTS + 1):
            try:
                self.store.write(statements)
                return
            except StoreBusy as exc:
                if attempt == _WRITE_ATTEMPTS:
                    _log.error(
                        "could not record %d row(s) in %s: %s", len(statements), self.store, exc
                    )
                    return
                time.sleep(0.05 * 2**attempt)
            except Exception:
                _log.exception("could not record %d row(s) in %s", len(statements), self.store)
                return

    def _checkpoint_wal(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now < self._next_wal_checkpoint:
            return
        self._next_wal_checkpoint = now + WAL_CHECKPOINT_S
        try:
            self.store.maintain()
        except StoreBusy as exc:  # busy or locked: the next pass tries again
            _log.debug("upkeep of %s skipped: %s", self.store, exc)

    def _flush_slow_starts(self) -> None:
        now = time.monotonic()
        with self._cond:
            live = [r for r in self._live.values() if r.mode == "sync" and r.pending]
        for rows in live:
            if now - rows.pending_since < SLOW_START_S:
                continue
            with rows.lock:  # the flow thread's next commit waits, keeping row order
                if rows.pending:
                    current = RunUpdate(rows.run_id, {"current_node": rows.current})
                    self._write([*expand(rows.take()), current])

    def _beat(self) -> None:
        now = time.monotonic()
        if now < self._next_beat:
            return
        self._next_beat = now + runs.HEARTBEAT_INTERVAL_S
        with self._cond:
            run_ids = list(self._live)
        if run_ids:
            try:
                self.store.heartbeat(run_ids)
            except StoreBusy as exc:  # the next beat tries again
                _log.debug("heartbeat in %s skipped: %s", self.store, exc)
            except Exception:
                _log.exception("heartbeat in %s failed", self.store)

    def flush_at_exit(self) -> None:
        """Interpreter exit: commit queued rows and the rows of runs still in progress,
        then stop the thread, so no SQLite call is in flight while the interpreter is
        torn down (a daemon thread inside SQLite then can crash the process)."""
        self.flush(timeout=10.0)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10.0)
        self._drain()
        with self._cond:
            live = list(self._live.values())
        for rows in live:
            if rows.lock.acquire(timeout=10.0):
                try:
                    if rows.pending:
                        self._write(expand(rows.take()))
                finally:
                    rows.lock.release()


_writers: dict[tuple[int, str], Writer] = {}
_writers_lock = threading.Lock()


def writer_for(db_path: str | os.PathLike[str]) -> Writer:
    """The process-wide writer (and run store) of a file or URL, opened on first use."""
    key = (os.getpid(), store_key(db_path))
    with _writers_lock:
        writer = _writers.get(key)
        if writer is None:
            writer = _writers[key] = Writer(open_store(db_path))
    return writer


@atexit.register
def _flush_all() -> None:
    for (pid, _path), writer in list(_writers.items()):
        if pid == os.getpid():
            try:
                writer.flush_at_exit()
            except Exception:
                _log.exception("flushing %s at exit failed", writer.store)


def check_durability(value: Any) -> str:
    if value not in DURABILITY_MODES:
        raise ConfigurationError(
            f"durability must be one of {', '.join(map(repr, DURABILITY_MODES))}, got {value!r}"
        )
    return str(value)
