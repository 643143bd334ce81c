"""Durability modes and the one background thread per database and process.

``sync`` commits each node's rows before the next node starts; ``async`` hands rows to
the background writer, which commits them in groups (a bounded queue: a flow that outruns
it waits); ``exit`` keeps a run's rows until the run ends and commits them then, spilling
them to a temporary file beyond a size. The background thread also refreshes the
heartbeat of live runs, keeps the WAL near its limit while readers hold it, and, in
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
WAL_LIMIT_BYTES = 4 * 1024 * 1024
"""Commits checkpoint the WAL every this many bytes of pages and a restarted WAL is cut back
to it; the writer thread empties a WAL that readers keep past twice this (TRUNCATE)."""
WAL_RESET_GAP_S = 0.1
"""How often a TRUNCATE is tried while readers keep the WAL past twice its limit."""
WAL_RESET_WAIT_MS = 20
"""How long emptying the WAL may wait for readers (and hold writers); 5x past 4x the limit."""
MAX_QUEUED_ROWS = 1000
"""``async``: row groups (a node's rows are one group) waiting for the writer, at most."""
MAX_QUEUED_BYTES = 32 * 1024 * 1024
"""``async``: checkpoint JSON of 4 KB or more waiting for the writer, at most (plus one group)."""
EXIT_SPILL_BYTES = 4 * 1024 * 1024
"""``exit``: a run's rows beyond this much text go to a temporary file until the run ends."""
_WRITE_ATTEMPTS = 5
_ROW_OVERHEAD = 256  # bytes a row group costs besides its text, for exit mode's bound
_BIG_ROW = 4096  # async: smaller row groups are bounded by MAX_QUEUED_ROWS alone

RowSource = list[Statement] | tuple[Any, ...]
"""Statements ready to run, or ``(function, *args)`` whose call returns them. A tuple whose
last argument is text (the recorder puts checkpoint JSON there) counts that text against
the async queue's byte bound."""


def expand(sources: list[RowSource]) -> list[Statement]:
    statements: list[Statement] = []
    for source in sources:
        statements.extend(source[0](*source[1:]) if type(source) is tuple else source)
    return statements


def text_size(source: RowSource) -> int:
    """Roughly the memory a row source holds: its text arguments (checkpoint JSON, the
    strings of a store of plain scalars), one level deep."""
    size = _ROW_OVERHEAD
    if type(source) is tuple:
        for arg in source:
            kind = type(arg)
            if kind is str:
                size += len(arg)
            elif kind is dict:
                size += sum([len(v) for v in arg.values() if type(v) is str])
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
        self._next_wal_reset = 0.0
        self._limited = threading.local()  # this thread's connection, once it has the limit
        self._sleeping = False
        self._last_busy = 0.0
        self._stopping = False
        self._cond = threading.Condition()
        # deque.append/popleft are atomic: the flow's thread hands rows over without a
        # lock. Only the writer thread sets _in_flight*, the rows it took off the queue
        # and has not committed yet; _room is where a flow waits for room.
        self._queue: deque[tuple[str, RowSource, int] | threading.Event] = deque()
        self._in_flight = self._in_flight_bytes = 0
        self._room = threading.Condition(threading.Lock())
        # For diagnostics: the most row groups, and bytes of checkpoint text, ever held
        # for the async queue, and how often a flow waited for room.
        self.peak_queued_rows = self.peak_queued_bytes = self.waits_for_room = 0
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
                rows.size += text_size(source)
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
        # On the flow's thread for every async row group: no lock. Row groups count
        # themselves by the queue's length (plus those the writer is committing); only
        # one carrying big checkpoint text pays for counting bytes.
        last = source[-1] if type(source) is tuple else None
        size = len(last) if type(last) is str else 0
        queue = self._queue
        if len(queue) + self._in_flight >= MAX_QUEUED_ROWS:
            self._wait_for_room(size)
        if size >= _BIG_ROW:
            if self._no_room_for(size):
                self._wait_for_room(size)
            held = self._queued_text() + size
            if held > self.peak_queued_bytes:
                self.peak_queued_bytes = held
        queue.append((run_id, source, size))
        held = len(queue) + self._in_flight
        if held > self.peak_queued_rows:
            self.peak_queued_rows = held

    def _queued_text(self) -> int:
        """Checkpoint text held by the queue and by the group the writer is committing."""
        # list() of a deque runs in C without releasing the GIL: a consistent copy.
        items = list(self._queue)
        return self._in_flight_bytes + sum(i[2] for i in items if type(i) is tuple)

    def _no_room_for(self, size: int) -> bool:
        if len(self._queue) + self._in_flight >= MAX_QUEUED_ROWS:
            return True
        if size < _BIG_ROW:
            return False
        held = self._queued_text()
        return held > 0 and held + size > MAX_QUEUED_BYTES  # one alone always fits

    def _wait_for_room(self, size: int) -> None:
        """Backpressure: the flow outran the writer, so it waits until the writer has
        committed what it holds. Nothing is dropped."""
        self.waits_for_room += 1
        while True:
            thread = self._thread
            if thread is None or not thread.is_alive() or thread is threading.current_thread():
                return  # nobody else commits (interpreter exit): the run's own flush will
            self._wake()
            with self._room:
                # Checked under _room: the writer notifies holding it, so no wake-up is lost.
                if not self._no_room_for(size):
                    return
                self._room.wait(0.5)  # and re-checks the writer is alive now and then

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
        # Not kept for the thread that built the flow: WorkflowDB closes the connections of
        # threads that are no longer alive when another thread opens one, and during
        # interpreter exit the main thread already counts as ended, so a connection it
        # kept from here could be closed under flush_at_exit.
        db.close()
        return db

    def _commit(self, statements: Iterable[Statement]) -> None:
        """One transaction (raises an ``OperationalError`` "locked" when busy)."""
        conn = self.db.conn()
        if getattr(self._limited, "conn", None) is not conn:
            # Checkpoint every WAL_LIMIT_BYTES of pages (SQLite's default: 1,000 pages of
            # 4 KB); a commit that then restarts the WAL truncates it back to that size.
            conn.execute(f"PRAGMA wal_autocheckpoint = {max(1, WAL_LIMIT_BYTES // 4096)}")
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
        """Keep the ``-wal`` file near WAL_LIMIT_BYTES while readers use it.

        Commits checkpoint the WAL as SQLite does by default (PASSIVE, every 1,000 pages:
        the copy costs about what the commits did; moving it to this thread made sync
        commits wait on its locks instead), and once every page is copied the next commit
        writes the WAL from its start, truncating it to the limit (journal_size_limit, see
        _commit). A reader still using the WAL stops that restart, and then it grows:
        past twice the limit, this thread empties it (TRUNCATE), waiting for the readers
        briefly. Going idle, it empties it too.
        """
        try:
            # os.stat opens no descriptor (closing one would drop SQLite's locks).
            wal_size = os.stat(f"{self.db.db_path}-wal").st_size
        except OSError:
            return
        now = time.monotonic()
        if not force and (wal_size <= 2 * WAL_LIMIT_BYTES or now < self._next_wal_reset):
            return
        self._next_wal_reset = now + WAL_RESET_GAP_S
        conn = self.db.conn()
        try:
            # PASSIVE first copies without holding the write lock, so TRUNCATE, which
            # holds it, has little left to do. TRUNCATE waits only briefly for the readers
            # still using the WAL: readers that start meanwhile read the database file,
            # so a query or two is enough. Past 4x the limit (long queries), a bit longer.
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
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
                # Counted in flight before it leaves the queue, so the flow's thread never
                # sees fewer rows held than there are.
                self._in_flight += 1
                item = queue.popleft()
                if isinstance(item, threading.Event):
                    markers.append(item)
                else:
                    items.append(item)
            self._in_flight = len(items)
            if items:
                self._in_flight_bytes = sum(size for _r, _s, size in items)
                try:
                    self._write_units([(r, self._build(r, [s])) for r, s, _size in items])
                finally:
                    self._in_flight = self._in_flight_bytes = 0
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
