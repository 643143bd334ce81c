"""Durability modes and the one background thread per database and process.

``sync`` commits each node's rows before the next node starts; ``async`` hands rows to
the background writer, which commits them in groups (a bounded queue: a flow that outruns
it waits); ``exit`` keeps a run's rows until the run ends and commits them then, spilling
them to a temporary file beyond a size. The background thread also refreshes the
heartbeat of live runs, does the store's upkeep (SQLite: keeping the WAL near its limit
while readers hold it), and, in ``sync`` mode, commits the ``node_start`` of a node that
has been running for a while.

Rows travel as *row sources*: a list of row records (``runstore/base.py``), or a
``(function, *args)`` tuple returning one, so ``async`` mode can leave building and
formatting them to the writer thread. A row that cannot be built or written costs only
itself: the others are committed and the run gets a ``record_error`` event saying why.

Every run-store call goes through ``_commit``, ``_maintain``, ``_beat``,
``_create_run_now``, ``_has_run``, ``_update_run`` and ``_open``.
"""

from __future__ import annotations

import atexit
import os
import pickle
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from ..errors import ConfigurationError, RecordingError, RunExistsError, StoreBusy
from ..logging import get_logger
from ..runstore import runs
from ..runstore.base import CheckpointRow, EventRow, Row, RunRow, RunStore, RunUpdate
from ..runstore.checkpoints import DELTA
from ..runstore.open import open_store, store_key

_log = get_logger("db")

DURABILITY_MODES = ("sync", "async", "exit")
GROUP_WINDOW_S = 0.02
"""How long the writer lets rows gather before a group commit (what ``async`` can lose)."""
SLOW_START_S = 0.25
"""A node running longer than this gets its ``node_start`` committed without waiting for its end."""
IDLE_AFTER_S = 1.0
"""The writer sleeps without a timeout after this long with nothing to do."""
MAX_QUEUED_ROWS = 1000
"""``async``: row groups (a node's rows are one group) waiting for the writer, at most."""
MAX_QUEUED_BYTES = 32 * 1024 * 1024
"""``async``: checkpoints of 4 KB or more (estimated JSON) waiting, at most (plus one group)."""
EXIT_SPILL_BYTES = 4 * 1024 * 1024
"""``exit``: a run's rows beyond this much text go to a temporary file until the run ends."""
_WRITE_ATTEMPTS = 5
"""Commits tried while the store stays locked, busy or unreachable, 0.1-0.8 s apart; each
waits up to the store's own limit (SQLite: 30 s for the lock; PostgreSQL: ``POOL_TIMEOUT_S``,
10 s, for a connection). When every attempt fails the run is stopped (``StoreGone``)."""
_ROW_OVERHEAD = 256  # bytes a row group costs besides its text, for exit mode's bound
_BIG_ROW = 4096  # async: smaller row groups are bounded by MAX_QUEUED_ROWS alone

RowSource = list[Row] | tuple[Any, ...]
"""Rows ready to write, or ``(function, *args)`` whose call returns them. Whoever hands one
over says about how many bytes it holds (``size``: a checkpoint's estimated JSON), which
the async queue's byte bound and exit mode's spill size count."""


class RunRows:
    """The rows of one live run not yet handed to the store, and the lock that orders them."""

    __slots__ = (
        "run_id",
        "mode",
        "lock",
        "pending",
        "pending_since",
        "current",
        "size",
        "spill",
        "on_lost_checkpoint",
        "lost_steps",
        "gone",
        "stopped",
    )

    def __init__(
        self, run_id: str, mode: str, on_lost_checkpoint: Callable[[], None] | None = None
    ) -> None:
        self.run_id = run_id
        self.mode = mode
        self.lock = threading.Lock()
        self.pending: list[RowSource] = []
        self.pending_since = 0.0
        self.current: str | None = None  # the node in progress, for ``current_node``
        self.size = 0  # ``exit``: bytes held in ``pending`` (estimated)
        self.spill: IO[bytes] | None = None  # ``exit``: rows moved out of memory, in order
        # Called (on the thread writing, maybe the writer's) when a checkpoint row of the
        # run is lost, so the next one is a full snapshot and no later delta builds on it.
        self.on_lost_checkpoint = on_lost_checkpoint
        # Steps whose checkpoint was lost or builds on one that was, and whether another
        # row holds that step (then a delta building on it would read that row's store).
        self.lost_steps: dict[int, bool] = {}
        # Set when the store stayed unavailable through every attempt to commit the run's
        # rows: the run is stopped (once, ``stopped``) and nothing more is written for it.
        self.gone: RecordingError | None = None
        self.stopped = False

    def take(self) -> list[RowSource]:
        rows, self.pending = self.pending, []
        self.size = 0
        return rows


class _StillBusy(Exception):
    """The store stayed locked through every attempt."""


class StoreGone(BaseException):
    """Stops a run whose store stayed unavailable through every attempt to commit its rows.

    A ``BaseException`` so the event dispatch (which isolates listeners that raise
    ``Exception``) lets it through; ``flows/recording.py`` raises ``error``, a
    ``RecordingError``, in its place."""

    def __init__(self, error: RecordingError) -> None:
        super().__init__(str(error))
        self.error = error


class Writer:
    """One per run store and process: the group-commit queue, heartbeats, slow starts."""

    def __init__(self, db_path: str | os.PathLike[str]) -> None:
        self.db_path = db_path
        self.pid = os.getpid()
        self.store = self._open()
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
        # For diagnostics: the most row groups, and (estimated) checkpoint bytes, ever held
        # for the async queue, and how often a flow waited for room.
        self.peak_queued_rows = self.peak_queued_bytes = self.waits_for_room = 0
        self._drain_lock = threading.Lock()
        self._hurry = False
        self._live: dict[str, RunRows] = {}
        self._reserved: set[str] = set()  # async run ids queued but maybe not yet written
        self._thread: threading.Thread | None = None
        self._next_beat = 0.0

    # ── durability modes ─────────────────────────────────────────────────────
    def add(self, rows: RunRows, source: RowSource, size: int = 0) -> None:
        """Rows that may wait for the next commit point of their run (``size``: about the
        bytes they hold beyond the rows themselves)."""
        if rows.gone is not None:
            self._stop(rows)
            return
        if rows.mode == "async":
            self._enqueue(rows.run_id, source, size)
            return
        with rows.lock:
            if not rows.pending:
                rows.pending_since = time.monotonic()
            rows.pending.append(source)
            if rows.mode == "exit":
                rows.size += _ROW_OVERHEAD + size
                if rows.size > EXIT_SPILL_BYTES:
                    self._spill(rows)

    def commit(self, rows: RunRows, source: RowSource, size: int = 0) -> None:
        """A node ended: its event and checkpoint become durable as the mode promises."""
        mode = rows.mode
        if rows.gone is not None:
            self._stop(rows)
            return
        if mode == "async":
            self._enqueue(rows.run_id, source, size)
        elif mode == "sync":
            with rows.lock:
                if rows.gone is not None:  # the writer thread found the store gone meanwhile
                    self._stop(rows)
                    return
                built = self._build(rows.run_id, [*rows.take(), source])
                try:
                    self._commit(built)
                except StoreBusy:  # locked, busy or unreachable: retried, else the run stops
                    try:
                        self._commit_retrying(lambda: built, first=2)
                    except _StillBusy as exc:
                        self._gone(rows.run_id, exc)
                        self._stop(rows)
                    except Exception:
                        self._isolate([(rows.run_id, built)])
                except Exception:
                    self._isolate([(rows.run_id, built)])
        else:
            self.add(rows, source, size)

    def finish(self, rows: RunRows, source: RowSource) -> None:
        """The run ended: everything it recorded is committed before this returns."""
        try:
            if rows.gone is None:
                if rows.mode == "async":
                    self._enqueue(rows.run_id, source)
                    self.flush()
                else:
                    with rows.lock:
                        self._write_run(rows, [source])
            if rows.gone is not None:
                self._stop(rows)
        finally:
            with self._cond:
                self._live.pop(rows.run_id, None)
                self._reserved.discard(rows.run_id)

    def create_run(self, rows: RunRows, row: RunRow) -> None:
        """Record a new run row, refusing a run id already used.

        ``sync`` and ``exit`` commit it now; ``async`` checks the id now and queues the
        row ahead of the run's events, so the flow's thread does not wait on disk.
        """
        self.reopen_if_replaced()
        run_id = rows.run_id
        if rows.mode != "async":
            self._create_run_now(row)
            return
        with self._cond:
            if run_id in self._reserved or self._has_run(run_id):
                raise RunExistsError(
                    f"run {run_id!r} is already recorded in {self.store.location}; run ids are "
                    "never reused: pass another run_id (or none to get a fresh one), or resume it"
                )
            self._reserved.add(run_id)
        self._enqueue(run_id, [row])

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
    def _enqueue(self, run_id: str, source: RowSource, size: int = 0) -> None:
        # On the flow's thread for every async row group: no lock. Row groups count
        # themselves by the queue's length (plus those the writer is committing); only
        # one carrying a big checkpoint pays for counting bytes.
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
        """Move ``rows.pending`` (built into row records) to the run's temporary file
        (called holding ``rows.lock``), so memory does not grow with nodes x store size."""
        built = self._build(rows.run_id, rows.take())
        if rows.spill is None:
            rows.spill = tempfile.TemporaryFile(prefix="pocketflow_ext-exit-")
        pickle.dump(built, rows.spill, protocol=pickle.HIGHEST_PROTOCOL)

    def _write_run(self, rows: RunRows, tail: list[RowSource]) -> None:
        """Commit a run's pending and spilled rows, then ``tail``, in one transaction
        (called holding ``rows.lock``); a bad row is isolated as in the async queue."""
        spill, rows.spill = rows.spill, None
        built = self._build(rows.run_id, [*rows.take(), *tail])
        if spill is None:
            self._write_units([(rows.run_id, built)])
            return
        try:

            def all_rows() -> Iterator[Row]:
                spill.seek(0)
                while True:
                    try:
                        chunk = pickle.load(spill)
                    except EOFError:
                        break
                    yield from chunk
                yield from built

            try:
                self._commit_retrying(all_rows)  # one transaction, streamed from the file
            except _StillBusy as exc:
                self._gone(rows.run_id, exc)
            except Exception:
                for row in all_rows():  # one by one, streaming from the file
                    self._write_row(rows.run_id, row)
        finally:
            spill.close()

    # ── building and writing rows, a bad row costing only itself ─────────────
    def _build(self, run_id: str, sources: list[RowSource]) -> list[Row]:
        """The row records of ``sources``; one that cannot be built is replaced by a
        ``record_error`` event of its run."""
        built: list[Row] = []
        for source in sources:
            try:
                built.extend(source[0](*source[1:]) if type(source) is tuple else source)
            except Exception as exc:
                _log.exception("run %r: building rows to record failed", run_id)
                place = _source_place(source) if type(source) is tuple else ("rows", None, None)
                built.append(_error_row(run_id, place, exc))
                self._lost_checkpoint(run_id)  # it may have held one
        return built

    # ── a lost checkpoint: no later delta may build on it ────────────────────
    def _lost_checkpoint(
        self, run_id: str, row: CheckpointRow | None = None, foreign: bool = False
    ) -> None:
        """A checkpoint of ``run_id`` was not written (``row``, or one in rows that could
        not be built): the run's next checkpoint is made a full snapshot. Deltas captured
        before that build on the lost one: readers of them get ``CheckpointDamaged``
        naming the missing step (``foreign``: another row holds that step, see
        ``_unbroken``)."""
        rows = self._live.get(run_id)
        if rows is None:
            return  # the run has ended: no checkpoint follows
        if row is not None:
            rows.lost_steps[row.step] = foreign
        if rows.on_lost_checkpoint is not None:
            rows.on_lost_checkpoint()

    def _unbroken(self, run_id: str, built: list[Row]) -> list[Row]:
        """``built`` without the deltas building on a checkpoint whose step another row
        holds (a reader would rebuild them on that row's store: a wrong store). Each is
        replaced by a ``record_error`` event, so a reader finds no checkpoint there."""
        rows = self._live.get(run_id)
        lost = rows.lost_steps if rows is not None else None
        if not lost:
            return built
        kept: list[Row] = []
        for row in built:
            if type(row) is CheckpointRow and row.kind == DELTA and row.parent_step in lost:
                foreign = lost[row.step] = lost[row.parent_step]
                if foreign:
                    problem = LookupError(
                        f"it builds on the checkpoint of step {row.parent_step}, which "
                        "could not be recorded (another row holds that step)"
                    )
                    _log.error("run %r: not recording the checkpoint: %s", run_id, problem)
                    row = _error_row(run_id, _row_place(row), problem)
            kept.append(row)
        return kept

    def _write_units(self, units: list[tuple[str, list[Row]]]) -> None:
        """Commit ``(run_id, rows)`` units in one transaction; if a row cannot be
        written, per run, then row by row, keeping every good row."""
        live = self._live
        units = [
            (run_id, self._unbroken(run_id, unit))
            for run_id, unit in units
            # A run whose store stayed gone is stopped: its later rows are not tried again.
            if (rows := live.get(run_id)) is None or rows.gone is None
        ]
        if not units:
            return
        try:
            self._commit_retrying(lambda: [r for _run_id, unit in units for r in unit])
        except _StillBusy as exc:
            count = sum(len(unit) for _run_id, unit in units)
            _log.error("could not record %d row(s) in %s: %s", count, self.store, exc)
            for run_id, unit in units:
                self._lost_rows(run_id, unit)
                self._gone(run_id, exc)
        except Exception:
            self._isolate(units)

    def _isolate(self, units: list[tuple[str, list[Row]]]) -> None:
        by_run: dict[str, list[Row]] = {}
        for run_id, unit in units:
            by_run.setdefault(run_id, []).extend(unit)
        for run_id, rows in by_run.items():
            try:
                self._commit_retrying(lambda r=rows: r)  # type: ignore[misc]
                continue
            except _StillBusy as exc:
                self._lost_rows(run_id, rows)
                self._gone(run_id, exc)
                continue
            except Exception:
                pass
            for row in rows:
                self._write_row(run_id, row)

    def _lost_rows(self, run_id: str, rows: list[Row]) -> None:
        for row in rows:
            if type(row) is CheckpointRow:
                self._lost_checkpoint(run_id, row)

    def _write_row(self, run_id: str, row: Row) -> None:
        """Commit one row alone; if it cannot be written, record why on its run."""
        row = self._unbroken(run_id, [row])[0]  # an earlier row of the run may have been lost
        try:
            self._commit_retrying(lambda: [row])
            return
        except Exception as exc:
            failure = exc
        if type(row) is CheckpointRow:
            self._lost_checkpoint(run_id, row, foreign=isinstance(failure, RunExistsError))
        place = _row_place(row)
        _log.error("run %r: could not record %s in %s: %s", run_id, place[0], self.store, failure)
        if isinstance(failure, _StillBusy):
            return
        try:
            self._commit_retrying(lambda: [_error_row(run_id, place, failure)])
        except Exception as second:
            _log.error("run %r: could not record that failure either: %s", run_id, second)

    def _commit_retrying(self, rows: Callable[[], Iterable[Row]], first: int = 1) -> None:
        """One transaction of ``rows()``, retried while the store is locked or unreachable;
        raises ``_StillBusy`` when it stays so, or the error a bad row caused. ``first``:
        the number of this attempt (the caller may have made the first)."""
        for attempt in range(first, _WRITE_ATTEMPTS + 1):
            if attempt > 1:
                time.sleep(0.05 * 2 ** (attempt - 1))
            try:
                self._commit(rows())
                return
            except StoreBusy as exc:
                if attempt == _WRITE_ATTEMPTS:
                    raise _StillBusy(f"{exc} (tried {_WRITE_ATTEMPTS} times)") from exc

    # ── a store that stays unavailable stops the run ─────────────────────────
    def _gone(self, run_id: str, exc: _StillBusy) -> None:
        """The run's rows could not be committed through every attempt: nothing more is
        written for it, and its flow is stopped at its next recorded event."""
        _log.error("could not record run %r in %s: %s", run_id, self.store, exc)
        rows = self._live.get(run_id)
        if rows is None or rows.gone is not None:
            return
        rows.gone = RecordingError(
            f"run {run_id!r} was stopped: its rows could not be recorded: {exc}. Everything committed before is kept, and the run "
            "reads as interrupted once its process ends; check that the database is running "
            "and reachable, then resume the run (flow.resume(run_id)) to continue it"
        )

    @staticmethod
    def _stop(rows: RunRows) -> None:
        """Raise ``StoreGone`` on the flow's thread, once per run (later rows are dropped)."""
        if rows.stopped or rows.gone is None:
            return
        rows.stopped = True
        raise StoreGone(rows.gone)

    # ── the run-store calls ──────────────────────────────────────────────────
    def _open(self) -> RunStore:
        return open_store(self.db_path)

    def _commit(self, rows: Iterable[Row]) -> None:
        """One transaction (raises ``StoreBusy`` when the store is locked)."""
        self.store.write(rows)

    def _create_run_now(self, row: RunRow) -> None:
        self.store.create_run(row)

    def _has_run(self, run_id: str) -> bool:
        return self.store.has_run(run_id)

    def _update_run(self, run_id: str, fields: dict[str, Any]) -> None:
        self.store.write([RunUpdate(run_id, fields)])

    def _maintain(self, idle: bool = False) -> None:
        """The store's upkeep (SQLite: keeping the WAL near its limit while readers hold
        it, and emptying it when the writer goes idle); cheap when nothing is due."""
        try:
            self.store.maintain(idle=idle)
        except StoreBusy as exc:  # the next pass tries again
            _log.debug("upkeep of %s skipped: %s", self.store, exc)
        except Exception:
            _log.exception("upkeep of %s failed", self.store)

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

    # ── a database file deleted or replaced under us ─────────────────────────
    def replaced(self) -> bool:
        """Whether the store's database is no longer the one this writer writes to."""
        return self.store.replaced()

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
            old, self.store = self.store, self._open()
        old.close()
        _log.info("%s was deleted or replaced; recording into the new one", self.store)

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
                self._maintain(idle=True)
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
            self._maintain()

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
                    current = RunUpdate(rows.run_id, {"current_node": rows.current})
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


def _row_place(row: Row) -> tuple[str, Any, Any]:
    """What a row records, in the words of docs/schema.md, with its step and path."""
    if type(row) is EventRow:
        return f"the {row.event} event", row.step, row.path
    if type(row) is CheckpointRow:
        return "the checkpoint", row.step, row.path
    if type(row) is RunRow:
        return "the run row", None, None
    return "an update of the run row", None, None


def _source_place(source: RowSource) -> tuple[str, Any, Any]:
    """The same for a row source that could not be built: the event it was built from."""
    event: Any = next((a for a in source if hasattr(a, "kind") and hasattr(a, "path")), None)
    if event is None:
        return "rows", None, None
    return f"the rows of the {event.kind} event", getattr(event, "step", None), event.path


def _error_row(run_id: str, place: tuple[str, Any, Any], exc: BaseException) -> EventRow:
    """A ``record_error`` event: the run lost ``place`` and why."""
    what, step, path = place
    if type(step) is not int:
        step = None
    if not isinstance(path, str):
        path = None
    return EventRow(
        run_id=run_id,
        event="record_error",
        ts=runs.iso(),
        step=step,
        node_name=path.rsplit("/", 1)[-1] if path is not None else None,
        error_msg=f"could not record {what}: {type(exc).__name__}: {exc}",
        path=path,
    )


_writers: dict[tuple[int, str], Writer] = {}
_retired: list[Writer] = []  # writers of deleted files, still finishing runs in progress
_writers_lock = threading.Lock()


def writer_for(db_path: str | os.PathLike[str]) -> Writer:
    """The process-wide writer (and run store) of a file or URL, opened on first use.

    A file deleted or replaced since its writer opened it gets a fresh writer (the old
    one finishes its runs in progress, then idles), so new flows never record into a
    file that no longer exists."""
    key = (os.getpid(), store_key(db_path))
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
                _log.exception("flushing %s at exit failed", writer.store)


def check_durability(value: Any) -> str:
    if value not in DURABILITY_MODES:
        raise ConfigurationError(
            f"durability must be one of {', '.join(map(repr, DURABILITY_MODES))}, got {value!r}"
        )
    return str(value)
