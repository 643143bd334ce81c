"""Durability modes and the one background thread per database and process.

``sync`` commits each node's rows before the next node starts; ``async`` hands rows to
the background writer, which commits them in groups; ``exit`` keeps a run's rows until
the run ends and commits them then, spilling them to a temporary file beyond a size. The
background thread also refreshes the heartbeat of live runs, checkpoints the WAL, and, in
``sync`` mode, commits the ``node_start`` of a node that has been running for a while.

Rows travel as *row sources*: a list of ``(sql, params)`` statements, or a
``(function, *args)`` tuple returning one, so ``async`` mode can leave building and
formatting them to the writer thread. A row that cannot be built or written costs only
itself: the others are committed and the run gets a ``record_error`` event saying why.

Every database call goes through ``_commit``, ``_checkpoint_wal``, ``_beat``,
``_create_run_now``, ``_has_run``, ``_update_run`` and ``_open``.
"""

from __future__ import annotations

import atexit
import os
import pickle
import sqlite3
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from ..errors import ConfigurationError
from ..logging import get_logger
from . import schema
from .db import BUSY_TIMEOUT_MS, Statement, WorkflowDB, run_insert

_log = get_logger("db")

DURABILITY_MODES = ("sync", "async", "exit")
GROUP_WINDOW_S = 0.02
"""How long the writer lets rows gather before a group commit (what ``async`` can lose)."""
SLOW_START_S = 0.25
"""A node running longer than this gets its ``node_start`` committed without waiting for its end."""
IDLE_AFTER_S = 1.0
"""The writer sleeps without a timeout after this long with nothing to do."""
WAL_CHECKPOINT_S = 1.0
"""How often the writer thread copies committed WAL pages back into the database file."""
WAL_LIMIT_BYTES = 4 * 1024 * 1024
"""A ``-wal`` file past this is emptied by the writer thread (checkpoint TRUNCATE)."""
WAL_RESET_GAP_S = 0.1
"""How often a TRUNCATE is tried while readers keep the WAL past twice its limit."""
WAL_RESET_WAIT_MS = 20
"""How long emptying the WAL may wait for readers (and hold writers); 5x past 4x the limit."""
MAX_QUEUED_ROWS = 1000
"""``async``: row groups (a node's rows are one group) waiting for the writer, at most."""
MAX_QUEUED_BYTES = 32 * 1024 * 1024
"""``async``: text (checkpoint JSON, store strings) waiting for the writer, at most (plus one group)."""
EXIT_SPILL_BYTES = 4 * 1024 * 1024
"""``exit``: a run's rows beyond this much text go to a temporary file until the run ends."""
_WRITE_ATTEMPTS = 5
_ROW_OVERHEAD = 256  # bytes a row group costs besides its text, for the queue's byte bound

RowSource = list[Statement] | tuple[Any, ...]
"""Statements ready to run, or ``(function, *args)`` whose call returns them."""


def expand(sources: list[RowSource]) -> list[Statement]:
    statements: list[Statement] = []
    for source in sources:
        statements.extend(source[0](*source[1:]) if type(source) is tuple else source)
    return statements


def text_size(source: RowSource, exact: bool = False) -> int:
    """Roughly the memory a row source holds, mostly its checkpoint JSON. Runs on the
    flow's thread for every source, so it only looks one level deep."""
    size = _ROW_OVERHEAD
    if type(source) is tuple:
        for arg in source:
            kind = type(arg)
            if kind is str:
                size += len(arg)
            elif kind is dict:  # a snapshot of a store of scalars
                # Summing its strings costs as much as the rest of async queueing: there
                # it is counted by keys (the row count bounds it too).
                size += (
                    sum([len(v) for v in arg.values() if type(v) is str])
                    if exact
                    else 64 * len(arg)
                )
    return size


class RunRows:
    """The rows of one live run not yet handed to SQLite, and the lock that orders them."""

    __slots__ = ("run_id", "mode", "lock", "pending", "pending_since", "current", "size", "spill")

    def __init__(self, run_id: str, mode: str) -> None:
        self.run_id = run_id
        self.mode = mode
        self.lock = threading.Lock()
        self.pending: list[RowSource] = []
        self.pending_since = 0.0
        self.current: str | None = None  # the node in progress, for ``current_node``
        self.size = 0  # ``exit``: text held in ``pending``
        self.spill: IO[bytes] | None = None  # ``exit``: rows moved out of memory, in order

    def take(self) -> list[RowSource]:
        rows, self.pending = self.pending, []
        self.size = 0
        return rows


class _StillBusy(Exception):
    """The database stayed locked through every attempt."""


def _is_busy(exc: BaseException) -> bool:
    # Locked or busy is worth waiting for; any other error is about the rows themselves
    # (a value the driver rejects, a constraint) or the file, and waiting will not help.
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    text = str(exc)
    return "locked" in text or "busy" in text


class Writer:
    """One per database file and process: the group-commit queue, heartbeats, slow starts."""

    def __init__(self, db_path: str | os.PathLike[str]) -> None:
        self.db_path = db_path
        self.pid = os.getpid()
        self.db = self._open()
        self._identity = _file_identity(self.db.db_path)
        self._next_wal_checkpoint = self._next_wal_reset = 0.0
        self._limited = threading.local()  # this thread's connection, once it has the limit
        self._sleeping = False
        self._last_busy = 0.0
        self._stopping = False
        self._cond = threading.Condition()
        # deque.append/popleft are atomic; ``_counts`` guards the queue's size counters,
        # ``_room`` is where a flow waits when they reach the bound.
        self._queue: deque[tuple[str, RowSource, int] | threading.Event] = deque()
        self._counts = threading.Lock()
        self._room = threading.Condition(threading.Lock())
        self._queued_rows = 0
        self._queued_bytes = 0
        # The most row groups, and bytes of text, ever waiting in the async queue.
        self.peak_queued_rows = self.peak_queued_bytes = 0
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
            self._enqueue(rows.run_id, source)
            return
        with rows.lock:
            if not rows.pending:
                rows.pending_since = time.monotonic()
            rows.pending.append(source)
            if rows.mode == "exit":
                rows.size += text_size(source, exact=True)
                if rows.size > EXIT_SPILL_BYTES:
                    self._spill(rows)

    def commit(self, rows: RunRows, source: RowSource) -> None:
        """A node ended: its event and checkpoint become durable as the mode promises."""
        mode = rows.mode
        if mode == "async":
            self._enqueue(rows.run_id, source)
        elif mode == "sync":
            with rows.lock:
                sources = [*rows.take(), source]
                statements = self._build(rows.run_id, sources)
                try:
                    self._commit(statements)
                except Exception as exc:
                    if _is_busy(exc):  # the next commit retries
                        rows.pending[:0] = sources
                        raise
                    self._isolate([(rows.run_id, statements)])
        else:
            self.add(rows, source)

    def finish(self, rows: RunRows, source: RowSource) -> None:
        """The run ended: everything it recorded is committed before this returns."""
        try:
            if rows.mode == "async":
                self._enqueue(rows.run_id, source)
                self.flush()
            else:
                with rows.lock:
                    self._write_run(rows, [source])
        finally:
            with self._cond:
                self._live.pop(rows.run_id, None)
                self._reserved.discard(rows.run_id)

    def create_run(self, rows: RunRows, flow_name: str, **fields: Any) -> None:
        """Record a new run row, refusing a run id already used.

        ``sync`` and ``exit`` commit it now; ``async`` checks the id now and queues the
        row ahead of the run's events, so the flow's thread does not wait on disk.
        """
        self.reopen_if_replaced()
        run_id = rows.run_id
        if rows.mode != "async":
            self._create_run_now(run_id, flow_name, fields)
            return
        statement = run_insert(run_id, flow_name, **fields)
        with self._cond:
            if run_id in self._reserved or self._has_run(run_id):
                raise self.db.run_exists_error(run_id)
            self._reserved.add(run_id)
        self._enqueue(run_id, [statement])

    def end_unstarted(self, rows: RunRows, **fields: Any) -> None:
        """Close the row of a run that failed before its first event."""
        if rows.mode == "async":
            self.flush()  # its INSERT may still be queued
        try:
            self._update_run(rows.run_id, fields)
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
        if thread is None or not thread.is_alive() or thread is threading.current_thread():
            self._drain()  # no writer (e.g. at interpreter exit): commit here
            return True
        self._wake()
        return done.wait(timeout)

    # ── the async queue and its bound ────────────────────────────────────────
    def _enqueue(self, run_id: str, source: RowSource) -> None:
        size = text_size(source)
        counts = self._counts
        while True:
            with counts:
                if (
                    self._queued_rows < MAX_QUEUED_ROWS and self._queued_bytes < MAX_QUEUED_BYTES
                ) or not self._wait_for_room():
                    self._queued_rows += 1
                    self._queued_bytes += size
                    if self._queued_rows > self.peak_queued_rows:
                        self.peak_queued_rows = self._queued_rows
                    if self._queued_bytes > self.peak_queued_bytes:
                        self.peak_queued_bytes = self._queued_bytes
                    self._queue.append((run_id, source, size))
                    return

    def _wait_for_room(self) -> bool:
        """Backpressure, called holding ``_counts`` (released while waiting): the flow
        outran the writer, so it waits until the writer has committed some rows. Nothing
        is dropped. False if no writer thread can make room (interpreter exit)."""
        thread = self._thread
        if thread is None or not thread.is_alive() or thread is threading.current_thread():
            return False
        self._counts.release()
        try:
            self._wake()
            with self._room:
                # Re-read under _room: the writer notifies holding it, so no wake-up is lost.
                if self._queued_rows >= MAX_QUEUED_ROWS or self._queued_bytes >= MAX_QUEUED_BYTES:
                    self._room.wait(0.5)  # and re-checks the writer is alive now and then
        finally:
            self._counts.acquire()
        return True

    def _wake(self) -> None:
        with self._cond:
            self._hurry = True
            self._cond.notify()

    # ── exit mode: rows beyond a size wait in a temporary file ───────────────
    def _spill(self, rows: RunRows) -> None:
        """Move ``rows.pending`` (built into statements) to the run's temporary file
        (called holding ``rows.lock``), so memory does not grow with nodes x store size."""
        statements = self._build(rows.run_id, rows.take())
        if rows.spill is None:
            rows.spill = tempfile.TemporaryFile(prefix="pocketflow_ext-exit-")
        pickle.dump(statements, rows.spill, protocol=pickle.HIGHEST_PROTOCOL)

    def _write_run(self, rows: RunRows, tail: list[RowSource]) -> None:
        """Commit a run's pending and spilled rows, then ``tail``, in one transaction
        (called holding ``rows.lock``); a bad row is isolated as in the async queue."""
        spill, rows.spill = rows.spill, None
        built = self._build(rows.run_id, [*rows.take(), *tail])
        if spill is None:
            self._write_units([(rows.run_id, built)])
            return
        try:

            def statements() -> Iterator[Statement]:
                spill.seek(0)
                while True:
                    try:
                        chunk = pickle.load(spill)
                    except EOFError:
                        break
                    yield from chunk
                yield from built

            try:
                self._commit_retrying(statements)
            except _StillBusy as exc:
                _log.error("could not record run %r in %s: %s", rows.run_id, self.db, exc)
            except Exception:
                for statement in statements():  # one by one, streaming from the file
                    self._write_row(rows.run_id, statement)
        finally:
            spill.close()

    # ── building and writing rows, a bad row costing only itself ─────────────
    def _build(self, run_id: str, sources: list[RowSource]) -> list[Statement]:
        """The statements of ``sources``; one that cannot be built is replaced by a
        ``record_error`` event of its run."""
        statements: list[Statement] = []
        for source in sources:
            try:
                statements.extend(source[0](*source[1:]) if type(source) is tuple else source)
            except Exception as exc:
                _log.exception("run %r: building rows to record failed", run_id)
                place = _source_place(source) if type(source) is tuple else ("rows", None, None)
                statements.append(_error_row(run_id, place, exc))
        return statements

    def _write_units(self, units: list[tuple[str, list[Statement]]]) -> None:
        """Commit ``(run_id, statements)`` units in one transaction; if a row cannot be
        written, per run, then row by row, keeping every good row."""
        try:
            self._commit_retrying(lambda: [s for _run_id, unit in units for s in unit])
        except _StillBusy as exc:
            count = sum(len(unit) for _run_id, unit in units)
            _log.error("could not record %d row(s) in %s: %s", count, self.db, exc)
        except Exception:
            self._isolate(units)

    def _isolate(self, units: list[tuple[str, list[Statement]]]) -> None:
        by_run: dict[str, list[Statement]] = {}
        for run_id, unit in units:
            by_run.setdefault(run_id, []).extend(unit)
        for run_id, statements in by_run.items():
            try:
                self._commit_retrying(lambda s=statements: s)  # type: ignore[misc]
                continue
            except _StillBusy as exc:
                _log.error("could not record run %r in %s: %s", run_id, self.db, exc)
                continue
            except Exception:
                pass
            for statement in statements:
                self._write_row(run_id, statement)

    def _write_row(self, run_id: str, statement: Statement) -> None:
        """Commit one row alone; if it cannot be written, record why on its run."""
        try:
            self._commit_retrying(lambda: [statement])
            return
        except UnicodeEncodeError as exc:
            failure: Exception = exc
            # Lone surrogates (os.fsdecode of a non-UTF-8 name) cannot be stored as UTF-8:
            # store them escaped (``\udcff``, which JSON text reads back exactly).
            escaped = _escape_surrogates(statement)
            try:
                self._commit_retrying(lambda: [escaped])
                return
            except Exception as again:
                failure = again
        except Exception as exc:
            failure = exc
        place = _row_place(statement)
        _log.error("run %r: could not record %s in %s: %s", run_id, place[0], self.db, failure)
        if isinstance(failure, _StillBusy):
            return
        try:
            self._commit_retrying(lambda: [_error_row(run_id, place, failure)])
        except Exception as second:
            _log.error("run %r: could not record that failure either: %s", run_id, second)

    def _commit_retrying(self, statements: Callable[[], Iterable[Statement]]) -> None:
        """One transaction of ``statements()``, retried while the database is locked;
        raises ``_StillBusy`` when it stays locked, or the error a bad row caused."""
        for attempt in range(1, _WRITE_ATTEMPTS + 1):
            try:
                self._commit(statements())
                return
            except Exception as exc:
                if not _is_busy(exc):
                    raise
                if attempt == _WRITE_ATTEMPTS:
                    raise _StillBusy(str(exc)) from exc
                time.sleep(0.05 * 2**attempt)

    # ── the database calls ───────────────────────────────────────────────────
    def _open(self) -> WorkflowDB:
        db = WorkflowDB(self.db_path)
        # The flow's thread never pays for copying the WAL back into the database: the
        # writer thread does it (see _checkpoint_wal).
        db.wal_autocheckpoint = False
        db.close()  # connections opened before this line still checkpoint automatically
        return db

    def _commit(self, statements: Iterable[Statement]) -> None:
        """One transaction (raises an ``OperationalError`` "locked" when busy)."""
        conn = self.db.conn()
        if getattr(self._limited, "conn", None) is not conn:
            # A commit that restarts the WAL also truncates it to this size, so the
            # file's size tells _checkpoint_wal how much was written since.
            conn.execute(f"PRAGMA journal_size_limit = {WAL_LIMIT_BYTES}")
            self._limited.conn = conn
        self.db.execute_all(statements)

    def _create_run_now(self, run_id: str, flow_name: str, fields: dict[str, Any]) -> None:
        try:
            self.db.create_run(run_id, flow_name, **fields)
        except UnicodeEncodeError:  # a node or flow name with a lone surrogate, as in _write_row
            _sql, escaped = _escape_surrogates(("", (flow_name, *fields.values())))
            self.db.create_run(run_id, escaped[0], **dict(zip(fields, escaped[1:], strict=True)))

    def _has_run(self, run_id: str) -> bool:
        return self.db.has_run(run_id)

    def _update_run(self, run_id: str, fields: dict[str, Any]) -> None:
        self.db.update_run(run_id, **fields)

    def _checkpoint_wal(self, force: bool = False) -> None:
        """Copy committed WAL pages into the database file, on the writer thread.

        A PASSIVE checkpoint (never waits, never holds the write lock) once a second, and
        on every pass while the ``-wal`` file is past WAL_LIMIT_BYTES. Once every page is
        copied, the next commit writes the WAL from its start again and truncates the
        file to the limit (``journal_size_limit``, see _commit), so a file past the limit
        means that much was written since: about one checkpoint per 4 MB written, as
        SQLite's own automatic checkpoint does. Readers still using the WAL (or commits
        arriving faster than pages are copied) stop that restart; past twice the limit a
        TRUNCATE empties the file. Going idle, TRUNCATE too.
        """
        try:
            # os.stat opens no descriptor (closing one would drop SQLite's locks).
            wal_size = os.stat(f"{self.db.db_path}-wal").st_size
        except OSError:
            wal_size = 0
        now = time.monotonic()
        if not force and now < self._next_wal_checkpoint and wal_size <= WAL_LIMIT_BYTES:
            return
        self._next_wal_checkpoint = now + WAL_CHECKPOINT_S
        conn = self.db.conn()
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            if not force and (wal_size <= 2 * WAL_LIMIT_BYTES or now < self._next_wal_reset):
                return
            self._next_wal_reset = now + WAL_RESET_GAP_S
            # TRUNCATE holds the write lock while it waits for the readers still using
            # the WAL, so it waits only briefly: readers that start meanwhile read the
            # database file (everything is copied), so a query or two is enough. Past
            # 4x the limit (long queries) it waits a little longer.
            wait = WAL_RESET_WAIT_MS * (5 if wal_size > 4 * WAL_LIMIT_BYTES else 1)
            conn.execute(f"PRAGMA busy_timeout = {wait}")
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            finally:
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        except sqlite3.Error as exc:  # busy or locked: the next pass tries again
            _log.debug("WAL checkpoint of %s skipped: %s", self.db, exc)

    def _beat(self) -> None:
        now = time.monotonic()
        if now < self._next_beat:
            return
        self._next_beat = now + schema.HEARTBEAT_INTERVAL_S
        with self._cond:
            run_ids = list(self._live)
        if run_ids:
            stamp = schema.iso()
            try:
                self._commit_retrying(
                    lambda: [
                        ("UPDATE pf_runs SET heartbeat_at = ? WHERE run_id = ?", (stamp, run_id))
                        for run_id in run_ids
                    ]
                )
            except Exception as exc:  # the next beat tries again
                _log.error("could not refresh heartbeats in %s: %s", self.db, exc)

    # ── a database file deleted or replaced under us ─────────────────────────
    def replaced(self) -> bool:
        """Whether the file at the path is no longer the one this writer writes to."""
        return _file_identity(self.db.db_path) != self._identity

    def reopen_if_replaced(self) -> None:
        """A run is starting: if the file was deleted or replaced since it was opened,
        and no run of this writer is in progress, write to the new file (created afresh).
        A run in progress keeps the file it started in."""
        if not self.replaced():
            return
        with self._cond:
            # Re-checked under the lock: another thread may have reopened it meanwhile.
            if not self.replaced() or self._live or self._reserved or self._queue:
                return
            old, self.db = self.db, self._open()
            self._identity = _file_identity(self.db.db_path)
        old.close()
        _log.info("%s was deleted or replaced; recording into the new file", self.db)

    # ── the background thread ────────────────────────────────────────────────
    def _ensure_thread(self) -> None:
        if self._stopping:
            return
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._loop,
                name=f"pocketflow_ext-writer:{self.db.db_path.name}",
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
            items: list[tuple[str, RowSource, int]] = []
            markers: list[threading.Event] = []
            queue = self._queue
            while queue:
                item = queue.popleft()
                if isinstance(item, threading.Event):
                    markers.append(item)
                else:
                    items.append(item)
            if items:
                try:
                    self._write_units([(r, self._build(r, [s])) for r, s, _size in items])
                finally:
                    # Counted until committed, so the bound covers the rows in flight too.
                    with self._counts:
                        self._queued_rows -= len(items)
                        self._queued_bytes -= sum(size for _r, _s, size in items)
                    with self._room:
                        self._room.notify_all()
            for marker in markers:
                marker.set()

    def _flush_slow_starts(self) -> None:
        now = time.monotonic()
        with self._cond:
            live = [r for r in self._live.values() if r.mode == "sync" and r.pending]
        for rows in live:
            if now - rows.pending_since < SLOW_START_S:
                continue
            with rows.lock:  # the flow thread's next commit waits, keeping row order
                if rows.pending:
                    current = (schema.SET_CURRENT_NODE, (rows.current, rows.run_id))
                    built = self._build(rows.run_id, rows.take())
                    self._write_units([(rows.run_id, [*built, current])])

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
                    if rows.pending or rows.spill is not None:
                        self._write_run(rows, [])
                finally:
                    rows.lock.release()


def _file_identity(path: Path) -> tuple[int, int] | None:
    # os.stat opens no descriptor: closing one would drop this process's SQLite locks.
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _escape_surrogates(statement: Statement) -> Statement:
    sql, params = statement
    return sql, tuple(
        p.encode("utf-8", "backslashreplace").decode("utf-8") if type(p) is str else p
        for p in params
    )


def _row_place(statement: Statement) -> tuple[str, Any, Any]:
    """What a statement records, in the words of docs/schema.md, with its step and path."""
    sql, params = statement
    if sql.startswith("INSERT INTO pf_events"):
        return f"the {params[3]} event", params[1], params[8]
    if sql.startswith("INSERT INTO pf_checkpoints"):
        return "the checkpoint", params[1], params[5]
    if sql.startswith("INSERT INTO pf_runs"):
        return "the run row", None, None
    return "an update of the run row", None, None


def _source_place(source: RowSource) -> tuple[str, Any, Any]:
    """The same for a row source that could not be built: the event it was built from."""
    event: Any = next((a for a in source if hasattr(a, "kind") and hasattr(a, "path")), None)
    if event is None:
        return "rows", None, None
    return f"the rows of the {event.kind} event", getattr(event, "step", None), event.path


def _error_row(run_id: str, place: tuple[str, Any, Any], exc: BaseException) -> Statement:
    """A ``record_error`` event: the run lost ``place`` and why (text safe for the driver)."""
    what, step, path = place
    if type(step) is not int:
        step = None
    if not isinstance(path, str):
        path = None
    text = f"could not record {what}: {type(exc).__name__}: {exc}"
    row: dict[str, Any] = dict.fromkeys(schema.EVENT_COLUMNS)
    row.update(
        run_id=run_id,
        step=step,
        node_name=path.rsplit("/", 1)[-1] if path is not None else None,
        event="record_error",
        error_msg=text,
        ts=schema.iso(),
        path=path,
    )
    return _escape_surrogates((schema.INSERT_EVENT, tuple(row.values())))


_writers: dict[tuple[int, str], Writer] = {}
_retired: list[Writer] = []  # writers of deleted files, still finishing runs in progress
_writers_lock = threading.Lock()


def writer_for(db_path: str | os.PathLike[str]) -> Writer:
    """The process-wide writer (and database object) of a file, opened on first use.

    A file deleted or replaced since its writer opened it gets a fresh writer (the old
    one finishes its runs in progress, then idles), so new flows never record into a
    file that no longer exists."""
    key = (os.getpid(), str(Path(db_path).expanduser().resolve()))
    with _writers_lock:
        writer = _writers.get(key)
        if writer is not None and writer.replaced():
            writer.reopen_if_replaced()
            if writer.replaced():  # runs in progress keep it: a new writer for new runs
                _retired.append(writer)
                writer = None
        if writer is None:
            writer = _writers[key] = Writer(db_path)
    return writer


@atexit.register
def _flush_all() -> None:
    pid = os.getpid()
    writers = [w for (p, _path), w in list(_writers.items()) if p == pid]
    for writer in [*writers, *_retired]:
        if writer.pid == pid:
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
