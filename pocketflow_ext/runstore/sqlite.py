"""The SQLite run store: one file, WAL, one connection per thread.

Writers identify the file before writing anything (ours, PocoFlow 0.2.1's, or empty;
anything else is refused untouched), then switch it to WAL and migrate it. Readers open
it with ``mode=ro`` (falling back to ``immutable=1`` when SQLite cannot create the
``-shm`` file next to it) and never create, migrate or write. Nothing here opens the
file except through SQLite: closing any other descriptor on it would drop this
process's SQLite locks (POSIX advisory locks are per process and file).
"""

from __future__ import annotations

import functools
import itertools
import json
import operator
import os
import sqlite3
import threading
import time
import urllib.parse
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from ..errors import (
    CheckpointDamaged,
    ConfigurationError,
    RecordingError,
    RunExistsError,
    StoreBusy,
)
from ..logging import get_logger
from ..store.codec import dumps_store
from . import sqlite_schema as schema
from .base import (
    ALL_RUNS,
    KNOWN_STATUSES,
    CachedValue,
    CheckpointRow,
    EventRow,
    Row,
    RunExport,
    RunFilter,
    RunRow,
    RunsPage,
    RunStore,
    RunUpdate,
    check_run_fields,
    escape_surrogates,
    row_fields,
    row_record,
)
from .checkpoints import DELTA, MAX_CHAIN
from .runs import claim_is_live, derive_status, iso, process_identity
from .views import (
    check_page,
    count_limit,
    decode_checkpoint,
    filter_sql,
    rebuilt_store,
    run_views,
    runs_page,
    selected,
)

_log = get_logger("db")

BUSY_TIMEOUT_MS = 30_000
READ_BUSY_TIMEOUT_MS = 5_000
WAL_LIMIT_BYTES = 4 * 1024 * 1024
"""Commits checkpoint the WAL every this many bytes of pages and a restarted WAL is cut back
to it (journal_size_limit); ``maintain`` empties a WAL readers keep past twice this."""
WAL_RESET_GAP_S = 0.1
"""How often ``maintain`` tries a TRUNCATE while readers keep the WAL past twice its limit."""
WAL_RESET_WAIT_MS = 20
"""How long emptying the WAL may wait for readers (and hold writers); 5x past 4x the limit."""
QUICK_CHECK_MAX_BYTES = 32 * 1024 * 1024
"""Writers check every page of files up to this size when they open them."""
_MAX_GROUP = 50  # rows per multi-row INSERT: stays under SQLite's oldest 999-variable limit

# Columns in the records' field order: an event or checkpoint record (a named tuple) is
# its own parameters, copied into an exact tuple (which the driver binds fastest; a tuple
# subclass it binds item by item); a run row (a dataclass) is read field by field.
_INSERTS: dict[type, tuple[str, Callable[[Any], tuple[Any, ...]], int]] = {
    cls: (
        f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
        tuple if issubclass(cls, tuple) else operator.attrgetter(*cols),
        len(cols),
    )
    for cls, table, cols in (
        (RunRow, schema.RUNS, row_fields(RunRow)),
        (EventRow, schema.EVENTS, row_fields(EventRow)),
        (CheckpointRow, schema.CHECKPOINTS, row_fields(CheckpointRow)),
    )
}
# A live entry is kept (two processes that missed the same key at once both computed
# it; the first wins); an expired one is replaced.
_CACHE_PUT = (
    "INSERT INTO pf_cache (key, node, value_text, created_at, expires_at) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET node = excluded.node, "
    "value_text = excluded.value_text, created_at = excluded.created_at, "
    "expires_at = excluded.expires_at "
    "WHERE pf_cache.expires_at IS NOT NULL AND pf_cache.expires_at <= excluded.created_at"
)
_multi_sql: dict[tuple[type, int], str] = {}

# The rows the store at a step is rebuilt from: the step's own row, then, while the row is
# a delta, its parent's, back to a full snapshot. Each hop is a lookup on the
# UNIQUE(run_id, step) index; the depth bound stops a damaged file from looping.
_CHAIN_SQL = """
WITH RECURSIVE chain(step, kind, parent_step, store_json, deleted_json, depth) AS (
    SELECT step, kind, parent_step, store_json, deleted_json, 0 FROM pf_checkpoints
    WHERE run_id = ? AND step = ?
    UNION ALL
    SELECT c.step, c.kind, c.parent_step, c.store_json, c.deleted_json, chain.depth + 1
    FROM chain JOIN pf_checkpoints AS c ON c.run_id = ? AND c.step = chain.parent_step
    WHERE chain.kind = 'delta' AND chain.depth < ?
)
SELECT step, kind, parent_step, store_json, deleted_json FROM chain
"""
_update_sql: dict[tuple[str, ...], str] = {}

T = TypeVar("T")

# This process's id, kept up to date across fork: conn() runs on every write, and
# os.getpid() is a system call each time.
_pid = [os.getpid()]
os.register_at_fork(after_in_child=lambda: _pid.__setitem__(0, os.getpid()))


def _translated(method: Callable[..., T]) -> Callable[..., T]:
    """SQLite's exceptions as the store's: busy -> StoreBusy, damage -> RecordingError."""

    @functools.wraps(method)
    def call(self: SQLiteRunStore, *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise self.failure(exc) from None

    return call


class SQLiteRunStore(RunStore):
    """Runs, events and checkpoints in one SQLite file (``docs/schema.md``)."""

    def __init__(self, path: str | os.PathLike[str], *, readonly: bool = False) -> None:
        if not isinstance(path, (str, os.PathLike)) or not str(path):
            raise ConfigurationError(f"db_path must be a file path such as 'runs.db', got {path!r}")
        self.path = Path(path).expanduser()
        self.location = str(self.path)
        self.readonly = readonly
        self.notice: str | None = None
        self._uri = f"file:{urllib.parse.quote(str(self.path.resolve()))}?mode=ro"
        self._next_wal_reset = 0.0
        self._index_names: frozenset[str] | None = None  # read by _indexes()
        self._local = threading.local()
        # Every open connection with its thread: a dead thread's is closed at the next open,
        # so short-lived threads (background runs) do not leak file handles.
        self._all: list[tuple[weakref.ref[threading.Thread], sqlite3.Connection, int]] = []
        self._all_lock = threading.Lock()
        try:
            self._found = self._open_reader() if readonly else self._open_writer()
        except BaseException:
            self.close()
            raise
        self._identity = _file_identity(self.path)  # see replaced()
        # A pocketflow-ext 1 file read without migrating: its recorder steps counted from 1.
        shifted = self._found.version == 1 and "path" in self._found.events
        self._step = "CASE WHEN path IS NULL THEN step ELSE step - 1 END" if shifted else "step"
        self._shifted = shifted
        _log.debug("run store ready  path=%s  readonly=%s", self.path, readonly)

    # ── opening ──────────────────────────────────────────────────────────────
    def _open_writer(self) -> schema.Found:
        if self.path.is_dir():
            raise RecordingError(
                f"db_path {self.path} is a directory; give a file path such as "
                f"{self.path / 'runs.db'}"
            )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RecordingError(
                f"cannot create the directory for db_path {self.path}: {exc.strerror or exc}; "
                "choose a writable location"
            ) from None
        try:
            conn = self.conn()
            # Identify first: a file that is not ours must stay byte-identical.
            reason = schema.refusal(schema.inspect(conn), self.location)
            if reason is not None:
                raise RecordingError(reason)
            if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                _switch_to_wal(conn)
            schema.migrate(conn, self.location)
            self._check_pages(conn)
            return schema.inspect(conn)
        except sqlite3.Error as exc:
            raise RecordingError(
                f"cannot use {self.path} as a run database: {exc}. " + _hint(str(exc))
            ) from None

    def _check_pages(self, conn: sqlite3.Connection) -> None:
        """Damaged pages found now, with the path, rather than mid-run as a raw error.

        ``quick_check`` reads every page (about 2 ms per MB): done for files up to
        ``QUICK_CHECK_MAX_BYTES``; damage in larger ones surfaces on the first write that
        touches it, as the same RecordingError.
        """
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        if pages * conn.execute("PRAGMA page_size").fetchone()[0] > QUICK_CHECK_MAX_BYTES:
            return
        problems = [str(r[0]) for r in conn.execute("PRAGMA quick_check(3)")]
        if problems != ["ok"]:
            raise RecordingError(
                f"{self.path} is damaged ({'; '.join(problems)}); recover what it holds with "
                f"`sqlite3 {self.path} .recover`, or record to another file"
            )

    def _open_reader(self) -> schema.Found:
        if not self.path.exists():
            raise RecordingError(
                f"Database file not found: {self.path}. Pass the db_path your flows record to "
                "(for example `pocketflow-ext runs runs.db`)"
            )
        if self.path.is_dir():
            raise RecordingError(f"{self.path} is a directory; give the database file inside it")
        try:
            found = schema.inspect(self.conn())
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                # Not a permission problem: an immutable read could see a half-written file.
                raise StoreBusy(
                    f"{self.path} is locked by another process right now ({exc}); try again"
                ) from None
            # mode=ro still needs the -shm file of a WAL database; a directory we cannot
            # write to (an archive, another user's runs) has none. immutable=1 reads the
            # database file alone.
            self.close()
            self._uri = self._uri.replace("mode=ro", "mode=ro&immutable=1")
            try:
                found = schema.inspect(self.conn())
            except sqlite3.DatabaseError:
                raise RecordingError(
                    f"cannot read {self.path}: {exc}. " + _hint(str(exc))
                ) from None
            wal = Path(f"{self.path}-wal")
            unseen = (
                f"; what is still in {wal.name} (not yet copied into the database) is not shown"
                if wal.exists() and wal.stat().st_size > 0  # stat only: never open() it
                else ""
            )
            self.notice = (
                f"{self.path} was read as an unchanging snapshot (SQLite could not open it "
                f"for shared reading: {exc}; its directory is probably read-only){unseen}. "
                "Read it where the directory is writable to see live changes"
            )
            _log.warning("%s", self.notice)
        except sqlite3.DatabaseError as exc:
            raise RecordingError(
                f"{self.path} is not an SQLite database or is damaged ({exc}). Pass the .db "
                "file your flows record to"
            ) from None
        reason = schema.refusal(found, self.location)
        if reason is not None:
            raise RecordingError(reason)
        if found.empty:
            raise RecordingError(
                f"The database {self.path} is empty: no runs recorded yet. Run a flow with "
                f"db_path={str(self.path)!r} and look again"
            )
        return found

    # ── connections ──────────────────────────────────────────────────────────
    def conn(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use, then reused)."""
        local = self._local
        conn = getattr(local, "conn", None)
        # A forked child must not share its parent's SQLite handle.
        if conn is None or local.pid != _pid[0]:
            conn = self._connect()
            local.conn, local.pid = conn, _pid[0]
        return conn

    def _connect(self) -> sqlite3.Connection:
        if self.readonly:
            conn = sqlite3.connect(
                self._uri, uri=True, isolation_level=None, check_same_thread=False
            )
            conn.execute(f"PRAGMA busy_timeout = {READ_BUSY_TIMEOUT_MS}")
        else:
            conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA synchronous = NORMAL")
            # Commits checkpoint the WAL themselves, as SQLite does by default (PASSIVE,
            # every WAL_LIMIT_BYTES of pages: moved to the writer thread, the copy made sync
            # commits wait on its locks instead), and a commit that restarts the WAL cuts
            # the file back to the limit. Readers holding the WAL are handled by maintain().
            pages = max(1, WAL_LIMIT_BYTES // conn.execute("PRAGMA page_size").fetchone()[0])
            conn.execute(f"PRAGMA wal_autocheckpoint = {pages}")
            conn.execute(f"PRAGMA journal_size_limit = {WAL_LIMIT_BYTES}")
        conn.row_factory = sqlite3.Row
        pid = os.getpid()
        with self._all_lock:
            live = []
            for entry in self._all:
                thread = entry[0]()
                if entry[2] != pid:
                    # Inherited through fork: never close it here (closing would drop this
                    # process's SQLite file locks); just forget it.
                    continue
                # The main thread reads as not alive while the interpreter exits, when
                # the writer still flushes through its connection.
                if thread is not None and (thread.is_alive() or thread is threading.main_thread()):
                    live.append(entry)
                else:
                    _close(entry[1])
            live.append((weakref.ref(threading.current_thread()), conn, pid))
            self._all = live
        return conn

    def close(self) -> None:
        with self._all_lock:
            conns, self._all = self._all, []
        for _thread, conn, pid in conns:
            if pid == os.getpid():
                _close(conn)
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"SQLiteRunStore({self.location!r}{', readonly=True' if self.readonly else ''})"

    def failure(self, exc: sqlite3.Error) -> Exception:
        """The store's exception for an SQLite one (see ``RunStore.write``)."""
        if isinstance(exc, sqlite3.IntegrityError):
            text = str(exc)
            if "UNIQUE" in text or "PRIMARY KEY" in text:
                return RunExistsError(
                    f"a row collides with one already recorded in {self.location} ({exc}); "
                    "run ids and checkpoint steps are never reused"
                )
            return ConfigurationError(f"cannot record this row in {self.location}: {exc}")
        if isinstance(exc, sqlite3.OperationalError):
            return StoreBusy(f"{self.location} is busy or cannot be reached right now: {exc}")
        if isinstance(exc, (sqlite3.InterfaceError, sqlite3.ProgrammingError)):
            return ConfigurationError(f"cannot record this row in {self.location}: {exc}")
        return RecordingError(
            f"{self.location} is damaged or not a run database ({exc}); check it with "
            f"`sqlite3 {self.location} 'PRAGMA integrity_check'`, or record to another file"
        )

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """Several reads that see one state of the database even while a flow writes."""
        conn = self.conn()
        began = not conn.in_transaction
        if began:
            conn.execute("BEGIN")
        try:
            yield conn
        finally:
            if began and conn.in_transaction:
                conn.execute("ROLLBACK")  # nothing to commit: just end the snapshot

    # ── writes ───────────────────────────────────────────────────────────────
    def create_run(self, row: RunRow) -> None:
        try:
            self.write([row])
        except RunExistsError:
            raise RunExistsError(
                f"run {row.run_id!r} is already recorded in {self.location}; run ids are never "
                "reused: pass another run_id (or none to get a fresh one), or resume it"
            ) from None

    def _writable(self) -> sqlite3.Connection:
        if self.readonly:
            raise RecordingError(f"{self.location} was opened read-only; nothing can be recorded")
        return self.conn()

    @_translated
    def write(self, rows: Iterable[Row]) -> None:
        conn = self._writable()
        rows = iter(rows)  # iterated once: may stream from a file
        first = next(rows, None)
        if first is None:
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            for sql, params in _statements(itertools.chain((first,), rows)):
                try:
                    conn.execute(sql, params)
                except UnicodeEncodeError:
                    # Lone surrogates (os.fsdecode of a non-UTF-8 name): refused before
                    # anything ran, so the transaction goes on with them escaped.
                    conn.execute(sql, escape_surrogates(params))
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @_translated
    def heartbeat(self, run_ids: Sequence[str]) -> None:
        stamp = iso()
        conn = self._writable()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "UPDATE pf_runs SET heartbeat_at = ? WHERE run_id = ?",
                [(stamp, run_id) for run_id in run_ids],
            )
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # ── resume claims ────────────────────────────────────────────────────────
    @_translated
    def claim_resume(self, run_id: str, new_run_id: str) -> bool:
        conn = self._writable()
        me = process_identity()
        # IMMEDIATE: the write lock is taken before reading, so the read and the insert
        # or compare-and-set below see one state; a second claimer waits, then loses.
        conn.execute("BEGIN IMMEDIATE")
        try:
            won = self._claim(conn, run_id, new_run_id, me)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return won

    def _claim(
        self, conn: sqlite3.Connection, run_id: str, new_run_id: str, me: dict[str, Any]
    ) -> bool:
        current = conn.execute("SELECT * FROM pf_resume_claims WHERE run_id = ?", (run_id,))
        row = current.fetchone()
        if row is None:
            cursor = conn.execute(
                "INSERT INTO pf_resume_claims (run_id, claimed_by, claimed_at, pid, hostname) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (run_id) DO NOTHING",
                (run_id, new_run_id, me["heartbeat_at"], me["pid"], me["hostname"]),
            )
            return cursor.rowcount == 1
        if row["claimed_by"] == new_run_id:
            return True
        claimer = conn.execute(
            "SELECT run_id, status, pid, hostname, heartbeat_at FROM pf_runs WHERE run_id = ?",
            (row["claimed_by"],),
        ).fetchone()
        if claim_is_live(dict(row), dict(claimer) if claimer else None):
            return False
        cursor = conn.execute(
            "UPDATE pf_resume_claims SET claimed_by = ?, claimed_at = ?, pid = ?, hostname = ? "
            "WHERE run_id = ? AND claimed_by = ?",
            (new_run_id, me["heartbeat_at"], me["pid"], me["hostname"], run_id, row["claimed_by"]),
        )
        return cursor.rowcount == 1

    @_translated
    def resume_claim(self, run_id: str) -> dict[str, Any] | None:
        if "pf_resume_claims" not in self._found.tables:
            return None  # a file of an older version, read without migrating
        row = self.conn().execute("SELECT * FROM pf_resume_claims WHERE run_id = ?", (run_id,))
        found = row.fetchone()
        return None if found is None else dict(found)

    @_translated
    def claim_waiting(self, run_id: str) -> bool:
        conn = self._writable()
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Compare-and-set: of answers racing for one run, only the first sees 'waiting'.
            cursor = conn.execute(
                "UPDATE pf_runs SET status = 'completed' WHERE run_id = ? AND status = 'waiting'",
                (run_id,),
            )
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return cursor.rowcount == 1

    @_translated
    def maintain(self, idle: bool = False) -> None:
        """Keep the ``-wal`` file near WAL_LIMIT_BYTES while readers use it.

        Commits checkpoint the WAL (see ``_connect``), and once every page is copied the
        next commit writes the WAL from its start, truncating it to the limit. A reader
        still using the WAL stops that restart, and then it grows: past twice the limit,
        this empties it (TRUNCATE), waiting for the readers briefly. ``idle``: empty it
        now (the writer has nothing more to do for a while).
        """
        if self.readonly:
            return
        try:
            # os.stat opens no descriptor (closing one would drop SQLite's locks).
            wal_size = os.stat(f"{self.path}-wal").st_size
        except OSError:
            return
        now = time.monotonic()
        if not idle and (wal_size <= 2 * WAL_LIMIT_BYTES or now < self._next_wal_reset):
            return
        self._next_wal_reset = now + WAL_RESET_GAP_S
        conn = self.conn()
        # PASSIVE first copies without holding the write lock, so TRUNCATE, which holds
        # it, has little left to do. TRUNCATE waits only briefly for the readers still
        # using the WAL: readers that start meanwhile read the database file, so a query
        # or two is enough. Past 4x the limit (long queries), a bit longer.
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        wait = WAL_RESET_WAIT_MS * (5 if wal_size > 4 * WAL_LIMIT_BYTES else 1)
        conn.execute(f"PRAGMA busy_timeout = {wait}")
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

    def replaced(self) -> bool:
        return _file_identity(self.path) != self._identity

    # ── the result cache ─────────────────────────────────────────────────────
    @_translated
    def cache_get(self, key: str) -> CachedValue | None:
        row = (
            self.conn()
            .execute(
                "SELECT key, node, value_text, created_at, expires_at FROM pf_cache WHERE key = ?",
                (key,),
            )
            .fetchone()
        )
        return CachedValue(*row) if row is not None else None

    @_translated
    def cache_put(
        self, key: str, node: str, value_text: str, created_at: str, expires_at: str | None
    ) -> None:
        # One statement, so no transaction of ours is needed.
        self._writable().execute(_CACHE_PUT, (key, node, value_text, created_at, expires_at))

    @_translated
    def cache_clear(self, node: str | None = None, older_than: str | None = None) -> int:
        where, params = [], []
        if node is not None:
            where.append("node = ?")
            params.append(node)
        if older_than is not None:
            where.append("created_at < ?")
            params.append(older_than)
        sql = "DELETE FROM pf_cache" + (f" WHERE {' AND '.join(where)}" if where else "")
        return int(self._writable().execute(sql, params).rowcount)

    # ── reads ────────────────────────────────────────────────────────────────
    @property
    @_translated
    def schema_version(self) -> int:
        return int(self.conn().execute("PRAGMA user_version").fetchone()[0])

    def _cols(self, have: frozenset[str], wanted: Sequence[str]) -> str:
        """Column list for a table that may lack optional columns (PocoFlow files)."""
        return ", ".join(
            (f"{self._step} AS step" if c == "step" else c) if c in have else f"NULL AS {c}"
            for c in wanted
        )

    @_translated
    def has_run(self, run_id: str) -> bool:
        row = self.conn().execute("SELECT 1 FROM pf_runs WHERE run_id = ?", (run_id,))
        return row.fetchone() is not None

    def _run_sql(self) -> str:
        found = self._found
        cols = selected(schema.RUN_COLUMNS, found.runs, "r.")
        extra = []
        if found.events:
            extra.append(
                "CASE WHEN r.completed_at IS NULL THEN (SELECT e.ts FROM pf_events e "
                "WHERE e.run_id = r.run_id ORDER BY e.id DESC LIMIT 1) END AS last_event_at"
            )
            extra.append(
                # Steps started so far, the one in progress included (as the timeline shows).
                "CASE WHEN r.total_steps IS NULL THEN (SELECT count(DISTINCT e.step) "
                "FROM pf_events e WHERE e.run_id = r.run_id "
                "AND e.event IN ('node_start', 'node_end', 'node_error')) END AS counted_steps"
            )
        return f"SELECT {', '.join([cols, *extra])} FROM pf_runs r"

    def _views(self, conn: sqlite3.Connection, rows: Sequence[sqlite3.Row]) -> list[dict[str, Any]]:
        """Run dicts for ``rows``; who resumed and forked them is read in one query each."""
        if not rows:
            return []
        ids = json.dumps([r["run_id"] for r in rows])
        resumed = self._linked(conn, "resumed_from", "status", ids)
        return run_views(rows, resumed, self._linked(conn, "forked_from", "NULL AS status", ids))

    def _linked(self, conn: sqlite3.Connection, link: str, also: str, ids: str) -> list[Any]:
        """``(link, run_id, also)`` of the runs whose ``link`` column is one of ``ids``."""
        if link not in self._found.runs:  # a file from before that column
            return []
        # Most runs hold NULL there: after ANALYZE SQLite judges the index useless and
        # scans every run in start order instead (16 ms on 20,000 runs, 0.02 ms by index).
        index = f"pf_runs_{link}"
        hint = f" INDEXED BY {index}" if index in self._indexes(conn) else ""
        return conn.execute(
            f"SELECT {link}, run_id, {also} FROM pf_runs{hint} WHERE {link} IN "
            "(SELECT value FROM json_each(?)) ORDER BY started_at DESC, run_id DESC",
            (ids,),
        ).fetchall()

    def _indexes(self, conn: sqlite3.Connection) -> frozenset[str]:
        # Read once per store: a reader's file gains indexes only by a writer's migration.
        if self._index_names is None:
            rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
            self._index_names = frozenset(r[0] for r in rows)
        return self._index_names

    @_translated
    def get_run(self, run_id: str) -> dict[str, Any] | None:
        with self._snapshot() as conn:
            rows = conn.execute(f"{self._run_sql()} WHERE r.run_id = ?", (run_id,)).fetchall()
            return self._views(conn, rows)[0] if rows else None

    def _gone(self, conn: sqlite3.Connection) -> list[str]:
        """Runs stored as ``running`` whose process is gone (``derive_status`` decides)."""
        probe = [c for c in ("pid", "hostname", "heartbeat_at") if c in self._found.runs]
        if not probe:  # PocoFlow files record no process: a running run stays running
            return []
        rows = conn.execute(
            f"SELECT run_id, status, {', '.join(probe)} FROM pf_runs WHERE status = 'running'"
        )
        return [r["run_id"] for r in rows if derive_status(dict(r)) == "interrupted"]

    def _where(self, filt: RunFilter, conn: sqlite3.Connection) -> tuple[str, list[Any]]:
        return filter_sql(filt, lambda: self._gone(conn), _among, "?")

    def _list(
        self, conn: sqlite3.Connection, filt: RunFilter, limit: int | None, offset: int
    ) -> list[dict[str, Any]]:
        limit, offset = check_page(limit, offset)
        where, args = self._where(filt, conn)
        # run_id breaks ties of equal start times, so pages never overlap.
        sql = f"{self._run_sql()}{where} ORDER BY r.started_at DESC, r.run_id DESC LIMIT ? OFFSET ?"
        rows = conn.execute(sql, [*args, -1 if limit is None else limit, offset]).fetchall()
        return self._views(conn, rows)

    def _count(self, conn: sqlite3.Connection, filt: RunFilter, cap: int | None = None) -> int:
        where, args = self._where(filt, conn)
        if cap is None:
            sql = f"SELECT count(*) FROM pf_runs r{where}"
        else:  # stops after cap + 1 matching runs
            sql = f"SELECT count(*) FROM (SELECT 1 FROM pf_runs r{where} LIMIT ?)"
            args = [*args, cap + 1]
        return int(conn.execute(sql, args).fetchone()[0])

    @_translated
    def list_runs(
        self, filt: RunFilter = ALL_RUNS, *, limit: int | None = 100, offset: int = 0
    ) -> list[dict[str, Any]]:
        with self._snapshot() as conn:
            return self._list(conn, filt, limit, offset)

    @_translated
    def count_runs(self, filt: RunFilter = ALL_RUNS) -> int:
        with self._snapshot() as conn:
            return self._count(conn, filt)

    @_translated
    def runs_page(self, filt: RunFilter, *, limit: int, offset: int) -> RunsPage:
        cap = count_limit(limit, offset)
        with self._snapshot() as conn:
            rows = self._list(conn, filt, limit, offset)
            return runs_page(rows, self._count(conn, filt, cap), cap)

    @_translated
    def flow_names(self) -> list[str]:
        rows = self.conn().execute("SELECT DISTINCT flow_name FROM pf_runs ORDER BY 1")
        return [r[0] for r in rows]

    @_translated
    def status_names(self) -> list[str]:
        rows = self.conn().execute("SELECT DISTINCT status FROM pf_runs ORDER BY 1")
        return [r[0] for r in rows]

    @_translated
    def child_run_ids(self, run_id: str) -> list[str]:
        if "parent_run_id" not in self._found.runs:
            return []
        rows = self.conn().execute(
            "SELECT run_id FROM pf_runs WHERE parent_run_id = ? ORDER BY started_at, run_id",
            (run_id,),
        )
        return [r[0] for r in rows]

    @_translated
    def get_events(self, run_ids: Sequence[str]) -> list[dict[str, Any]]:
        if not self._found.events or not run_ids:
            return []
        cols = self._cols(self._found.events, ("id", *schema.EVENT_COLUMNS))
        rows = self.conn().execute(
            f"SELECT {cols} FROM pf_events "
            "WHERE run_id IN (SELECT value FROM json_each(?)) ORDER BY id",
            (json.dumps(list(run_ids)),),
        )
        return [dict(r) for r in rows]

    def _checkpoint_cols(self) -> str:
        text = ("store_json", "deleted_json")
        wanted = ("id", *(c for c in schema.CHECKPOINT_COLUMNS if c not in text))
        return self._cols(self._found.checkpoints, wanted)

    @_translated
    def get_checkpoints(self, run_id: str) -> list[dict[str, Any]]:
        if not self._found.checkpoints:
            return []
        rows = self.conn().execute(
            f"SELECT {self._checkpoint_cols()} FROM pf_checkpoints WHERE run_id = ? "
            "ORDER BY step, id",
            (run_id,),
        )
        return [dict(r) for r in rows]

    @_translated
    def last_checkpoint(self, run_id: str) -> dict[str, Any] | None:
        if not self._found.checkpoints:
            return None
        row = self.conn().execute(
            f"SELECT {self._checkpoint_cols()} FROM pf_checkpoints WHERE run_id = ? "
            "ORDER BY id DESC LIMIT 1",
            (run_id,),
        )
        found = row.fetchone()
        return dict(found) if found else None

    @_translated
    def checkpoint_text(self, run_id: str, step: int) -> str | None:
        if not self._found.checkpoints:
            return None
        kind = ", kind" if "kind" in self._found.checkpoints else ""
        if self._shifted:
            sql = (
                f"SELECT store_json{kind} FROM pf_checkpoints WHERE run_id = ? AND "
                "((path IS NULL AND step = ?) OR (path IS NOT NULL AND step = ?))"
            )
            args: tuple[Any, ...] = (run_id, step, step + 1)
        else:
            sql = f"SELECT store_json{kind} FROM pf_checkpoints WHERE run_id = ? AND step = ?"
            args = (run_id, step)
        row = self.conn().execute(sql, args).fetchone()
        if row is None:
            return None
        if kind and row[1] == DELTA:  # the whole store, as a full snapshot would hold it
            try:
                data = self._rebuild(run_id, step)
            except CheckpointDamaged:  # what there is to see is the row as stored
                return str(row[0])
            return None if data is None else dumps_store(data)[0]
        return str(row[0])

    @_translated
    def export_run(self, run_id: str) -> RunExport | None:
        """The run as stored, read in one snapshot (a live run's rows stay consistent)."""
        found = self._found
        with self._snapshot() as conn:
            cols = selected(schema.RUN_COLUMNS, found.runs)
            run = conn.execute(f"SELECT {cols} FROM pf_runs WHERE run_id = ?", (run_id,))
            row = run.fetchone()
            if row is None:
                return None
            events: list[sqlite3.Row] = []
            if found.events:
                events = conn.execute(
                    f"SELECT {self._cols(found.events, schema.EVENT_COLUMNS)} FROM pf_events "
                    "WHERE run_id = ? ORDER BY id",
                    (run_id,),
                ).fetchall()
            checkpoints: list[sqlite3.Row] = []
            if found.checkpoints:
                checkpoints = conn.execute(
                    f"SELECT {self._cols(found.checkpoints, schema.CHECKPOINT_COLUMNS)} "
                    "FROM pf_checkpoints WHERE run_id = ? ORDER BY id",
                    (run_id,),
                ).fetchall()
        return RunExport(
            run=row_record(RunRow, dict(row)),
            events=tuple(row_record(EventRow, dict(e)) for e in events),
            checkpoints=tuple(row_record(CheckpointRow, dict(c)) for c in checkpoints),
        )

    @_translated
    def import_run(self, export: RunExport) -> bool:
        conn = self._writable()
        conn.execute("BEGIN IMMEDIATE")  # the check and the inserts: one writer at a time
        try:
            if conn.execute(
                "SELECT 1 FROM pf_runs WHERE run_id = ?", (export.run.run_id,)
            ).fetchone():
                conn.execute("ROLLBACK")
                return False
            for sql, params in _statements([export.run, *export.events, *export.checkpoints]):
                conn.execute(sql, params)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return True

    def load_checkpoint(self, run_id: str, step: int) -> dict[str, Any] | None:
        if "kind" not in self._found.checkpoints:  # a file from before delta checkpoints
            text = self.checkpoint_text(run_id, step)
            if text is None:
                return None
            return decode_checkpoint(text, run_id, step, self.location)
        return self._rebuild(run_id, step)

    @_translated
    def _rebuild(self, run_id: str, step: int) -> dict[str, Any] | None:
        rows = self.conn().execute(_CHAIN_SQL, (run_id, step, run_id, MAX_CHAIN + 1)).fetchall()
        return rebuilt_store(rows, run_id, step, self.location)


def _statements(rows: Iterable[Row]) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """INSERT/UPDATE statements for ``rows`` in order; consecutive inserts into one table
    go in as one multi-row INSERT."""
    kind: type | None = None
    first: tuple[Any, ...] = ()  # the parameters of a group's first row
    group: list[Any] = []  # of all its rows, once it has two (most have one)
    count = 0
    for row in rows:
        cls = type(row)
        if cls is kind and count < _MAX_GROUP:
            if count == 1:
                group = [*first]
            group.extend(_INSERTS[cls][1](row))
            count += 1
            continue
        if kind is not None:
            yield _multi(kind, count), first if count == 1 else tuple(group)
            kind = None
        if cls is RunUpdate:
            yield _update(row)  # type: ignore[arg-type]
        elif cls is CachedValue:
            yield _CACHE_PUT, (row.key, row.node, row.value_text, row.created_at, row.expires_at)  # type: ignore[union-attr]
        elif cls in _INSERTS:
            kind, first, count = cls, _INSERTS[cls][1](row), 1
        else:
            raise ConfigurationError(
                f"a run store cannot write {cls.__name__}; write RunRow, EventRow, "
                "CheckpointRow, RunUpdate or CachedValue records"
            )
    if kind is not None:
        yield _multi(kind, count), first if count == 1 else tuple(group)


def _multi(cls: type, rows: int) -> str:
    sql, _get, width = _INSERTS[cls]
    if rows == 1:
        return sql
    text = _multi_sql.get((cls, rows))
    if text is None:
        values = "(" + ", ".join("?" * width) + ")"
        text = _multi_sql[(cls, rows)] = sql + (", " + values) * (rows - 1)
    return text


def _update(row: RunUpdate) -> tuple[str, tuple[Any, ...]]:
    names = tuple(row.fields)
    sql = _update_sql.get(names)
    if sql is None:
        check_run_fields(row.fields)
        # Column names come from the allow-list; values are always bound parameters.
        sql = f"UPDATE pf_runs SET {', '.join(f'{n} = ?' for n in names)} WHERE run_id = ?"
        _update_sql[names] = sql
    if row.fields.get("status", "running") not in KNOWN_STATUSES:
        check_run_fields(row.fields)
    return sql, (*row.fields.values(), row.run_id)


def _file_identity(path: Path) -> tuple[int, int] | None:
    # os.stat opens no descriptor: closing one would drop this process's SQLite locks.
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _close(conn: sqlite3.Connection) -> None:
    try:
        conn.close()
    except sqlite3.Error:
        pass


_WAL_SWITCH_GAP_S = 0.005  # between tries of the switch to WAL while the file is busy


def _switch_to_wal(conn: sqlite3.Connection) -> None:
    """``PRAGMA journal_mode=WAL``, waiting up to BUSY_TIMEOUT_MS while the file is busy.

    The switch reads the file's header in a read transaction, then upgrades it to write
    the new header. While another connection holds the write lock (another process
    switching or migrating the same new file: every Dask or multiprocessing worker opens
    it at once), SQLite refuses that upgrade at once without calling the busy handler,
    since waiting while holding a read lock could deadlock, and raises "database is
    locked" whatever busy_timeout says. The failed statement has dropped its locks, so
    trying again is safe; once another process has switched the file, the pragma only
    reads the header. The caller has already identified the file as ours.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL").fetchone()
            return
        except sqlite3.OperationalError as exc:
            if "database is locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(_WAL_SWITCH_GAP_S)


def _hint(message: str) -> str:
    text = message.lower()
    if "not a database" in text or "malformed" in text:
        return (
            "The file exists but is not a SQLite database (or is damaged): choose another db_path."
        )
    if "readonly" in text or "unable to open" in text or "permission" in text:
        return "Check that the file and its directory are readable (and writable to record)."
    return "Choose another db_path."


def _among(column: str, values: Sequence[str], negate: bool) -> tuple[str, Any]:
    """``column`` [NOT] IN ``values``, the list bound as one JSON parameter."""
    return f"{column} {'NOT IN' if negate else 'IN'} (SELECT value FROM json_each(?))", json.dumps(
        list(values)
    )
