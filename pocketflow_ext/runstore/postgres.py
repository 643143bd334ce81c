"""The PostgreSQL run store: many processes on many hosts, one history.

One connection pool per process and URL (``psycopg_pool``), shared by every store object
opened on that URL and created again in a forked child (a child must never use or close
its parent's sockets). Writers check the server and migrate the schema when the store is
opened, so a bad URL fails before any node runs; readers only read, in read-only
transactions, and work with a role that may only SELECT. Every value travels as a bound
parameter; the only SQL text built here joins constant column names.

Heartbeats are stamped with the database's clock and staleness is judged against it too,
so hosts whose clocks disagree still agree on which runs are interrupted.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from ..errors import (
    CheckpointDamaged,
    ConfigurationError,
    RecordingError,
    RunExistsError,
    StoreBusy,
)
from ..logging import get_logger
from ..store.codec import dumps_store
from . import postgres_schema as schema
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
    row_record,
)
from .checkpoints import DELTA, MAX_CHAIN
from .location import masked, scrubbed
from .runs import claim_is_live, derive_status, process_identity
from .sqlite_schema import CHECKPOINT_COLUMNS, EVENT_COLUMNS, RUN_COLUMNS
from .views import (
    check_page,
    count_limit,
    filter_sql,
    rebuilt_store,
    run_views,
    runs_page,
    selected,
)

_log = get_logger("db")

POOL_MAX_SIZE = 10
"""Connections one process keeps to one database at most (flow threads, the writer
thread and monitor sessions share them)."""
POOL_LINGER_S = 15.0
"""How long a pool no store uses any more keeps its connections before it is closed."""
POOL_TIMEOUT_S = 10.0
"""How long a call waits for a connection (a free one, or a new one while the server is
away) before it reports the store busy (``StoreBusy``: the writer retries)."""
CLOCK_CHECK_S = 30.0
"""How often a store reads the database's clock again (heartbeats are judged by it, so
hosts whose clocks disagree agree on which runs are interrupted)."""
CONNECT_TIMEOUT_S = 10
"""libpq's ``connect_timeout`` when the URL sets none (libpq's own default waits forever)."""

# The database clock as the ISO text every timestamp column holds.
_DB_NOW = (
    "to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') || '+00:00'"
)

_INSERTS: dict[type, tuple[str, tuple[str, ...]]] = {
    cls: (
        f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})",
        cols,
    )
    for cls, table, cols in (
        (RunRow, schema.RUNS, RUN_COLUMNS),
        (EventRow, schema.EVENTS, EVENT_COLUMNS),
        (CheckpointRow, schema.CHECKPOINTS, CHECKPOINT_COLUMNS),
    )
}
_INSERT_ORDER = tuple(_INSERTS[cls][0] for cls in (RunRow, EventRow, CheckpointRow))
# A live entry is kept (two processes that missed the same key at once both computed
# it; the first wins); an expired one is replaced.
_CACHE_PUT = (
    "INSERT INTO pf_cache (key, node, value_text, created_at, expires_at) "
    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (key) DO UPDATE SET node = excluded.node, "
    "value_text = excluded.value_text, created_at = excluded.created_at, "
    "expires_at = excluded.expires_at "
    "WHERE pf_cache.expires_at IS NOT NULL AND pf_cache.expires_at <= excluded.created_at"
)
_update_sql: dict[tuple[str, ...], str] = {}


@dataclass(frozen=True)
class _Reads:
    """The read queries for the columns a database has, decided once when the store opens.
    A writer migrates, so it reads the current schema; a reader never migrates (its role
    may only SELECT), so the columns a later migration added read as NULL: runs before the
    pause and fork columns (migration 4) have no question or fork, checkpoints before the
    delta columns (3) are full snapshots."""

    runs: str
    """The run columns, for ``pf_runs r``."""
    run_sql: str
    """Run rows with the time of their last event and their steps so far."""
    events: str
    checkpoints: str
    checkpoint_meta: str
    """A checkpoint's columns but its store."""
    kind: str
    """A checkpoint's kind (NULL: a full snapshot)."""
    chain_sql: str
    """The rows the store at a step is rebuilt from (parameters run, step, depth)."""
    links: str
    """Who resumed and who forked the runs ``ids``, in one query."""


_CHAIN_COLUMNS = ("step", "kind", "parent_step", "store_json", "deleted_json")


def _reads(tables: dict[str, frozenset[str]] | None) -> _Reads:
    """The queries for a database whose tables hold ``tables`` (None: the current schema)."""
    runs, events, checkpoints = (
        None if tables is None else tables[t]
        for t in (schema.RUNS, schema.EVENTS, schema.CHECKPOINTS)
    )
    run_cols = selected(RUN_COLUMNS, runs, "r.")
    if checkpoints is None or "kind" in checkpoints:
        # The step's row, then, while the row is a delta, its parent's, back to a full
        # snapshot; each hop an index lookup on (run_id, step), the depth bound stops
        # damaged rows from looping.
        chain_sql = """
WITH RECURSIVE chain(step, kind, parent_step, store_json, deleted_json, depth) AS (
    SELECT step, kind, parent_step, store_json, deleted_json, 0 FROM pf_checkpoints
    WHERE run_id = %(run)s AND step = %(step)s
    UNION ALL
    SELECT c.step, c.kind, c.parent_step, c.store_json, c.deleted_json, chain.depth + 1
    FROM chain JOIN pf_checkpoints AS c ON c.run_id = %(run)s AND c.step = chain.parent_step
    WHERE chain.kind = 'delta' AND chain.depth < %(depth)s
)
SELECT step, kind, parent_step, store_json, deleted_json FROM chain
"""
    else:  # before delta checkpoints every row is a full snapshot: the step's row alone
        chain_sql = (
            f"SELECT {selected(_CHAIN_COLUMNS, checkpoints)} FROM pf_checkpoints "
            "WHERE run_id = %(run)s AND step = %(step)s"
        )
    if runs is None or "forked_from" in runs:
        # One round trip for both links (a BitmapOr of their two indexes).
        links = (
            "SELECT resumed_from, forked_from, run_id, status FROM pf_runs "
            "WHERE resumed_from = ANY(%(ids)s) OR forked_from = ANY(%(ids)s) "
        )
    else:  # no run was forked before the fork columns
        links = (
            "SELECT resumed_from, NULL AS forked_from, run_id, status FROM pf_runs "
            "WHERE resumed_from = ANY(%(ids)s) "
        )
    return _Reads(
        runs=run_cols,
        run_sql=(
            f"SELECT {run_cols}, "
            "CASE WHEN r.completed_at IS NULL THEN (SELECT e.ts FROM pf_events e "
            "WHERE e.run_id = r.run_id ORDER BY e.id DESC LIMIT 1) END AS last_event_at, "
            # Steps started so far, the one in progress included (as the SQLite store
            # counts them).
            "CASE WHEN r.total_steps IS NULL THEN (SELECT count(DISTINCT e.step) "
            "FROM pf_events e WHERE e.run_id = r.run_id "
            "AND e.event IN ('node_start', 'node_end', 'node_error')) END AS counted_steps "
            "FROM pf_runs r"
        ),
        events=selected(EVENT_COLUMNS, events),
        checkpoints=selected(CHECKPOINT_COLUMNS, checkpoints),
        kind=selected(("kind",), checkpoints),
        checkpoint_meta="id, "
        + selected([c for c in CHECKPOINT_COLUMNS if c != "store_json"], checkpoints),
        chain_sql=chain_sql,
        links=links + "ORDER BY started_at DESC, run_id DESC",
    )


_CURRENT = _reads(None)

T = TypeVar("T")


# ── pools: one per process and URL ─────────────────────────────────────────────
class _Shared:
    __slots__ = ("pool", "users", "closer")

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool, self.users = pool, 0
        self.closer: threading.Timer | None = None


_pools: dict[tuple[int, str, bool], _Shared] = {}
_pools_lock = threading.Lock()


def _configure_reader(conn: psycopg.Connection[Any]) -> None:
    # Every statement of a reader's session runs READ ONLY (the server's setting, so
    # statements outside a transaction too): the monitor and CLI cannot write even through
    # a role that could. Autocommit: a read of one statement is one round trip, not three
    # (BEGIN, the query, COMMIT); reads that must agree take a transaction (``_cursor``).
    conn.autocommit = True
    conn.execute("SET default_transaction_read_only = on")


def _acquire_pool(
    location: str, kwargs: dict[str, Any], readonly: bool
) -> tuple[ConnectionPool, bool]:
    """The process's pool for ``location`` and whether it was made just now."""
    key = (os.getpid(), location, readonly)
    with _pools_lock:
        shared = _pools.get(key)
        made = shared is None
        if shared is None:
            # A parent's pools are forgotten, never closed here: closing would end the
            # parent's sessions over the sockets the child inherited.
            for stale in [k for k in _pools if k[0] != key[0]]:
                del _pools[stale]
            pool = ConnectionPool(
                location,
                kwargs=kwargs,
                min_size=0,  # no background reconnecting to a server nobody uses now
                max_size=POOL_MAX_SIZE,
                timeout=POOL_TIMEOUT_S,
                configure=_configure_reader if readonly else None,
                name=f"pocketflow-ext {masked(location)}",
                num_workers=1,
                open=False,
            )
            pool.open(wait=False)
            shared = _pools[key] = _Shared(pool)
        if shared.closer is not None:
            shared.closer.cancel()
            shared.closer = None
        shared.users += 1
        return shared.pool, made


def _release_pool(location: str, readonly: bool, *, linger: bool = True) -> None:
    key = (os.getpid(), location, readonly)
    with _pools_lock:
        shared = _pools.get(key)
        if shared is None:
            return
        shared.users -= 1
        if shared.users > 0:
            return
        if linger:
            # A monitor opens its store again on every refresh: its connections stay.
            shared.closer = threading.Timer(POOL_LINGER_S, _close_unused, (key, shared))
            shared.closer.daemon = True
            shared.closer.start()
            return
        del _pools[key]
    shared.pool.close(timeout=5.0)


def _close_unused(key: tuple[int, str, bool], shared: _Shared) -> None:
    with _pools_lock:
        if _pools.get(key) is not shared or shared.users > 0:
            return
        del _pools[key]
    shared.pool.close(timeout=5.0)


def _translated(method: Callable[..., T]) -> Callable[..., T]:
    """psycopg's exceptions as the store's (see ``RunStore.write``)."""

    @functools.wraps(method)
    def call(self: PostgresRunStore, *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
        except (psycopg.Error, PoolTimeout) as exc:
            raise self.failure(exc) from None

    return call


class PostgresRunStore(RunStore):
    """Runs, events and checkpoints in a PostgreSQL database (``docs/schema.md``).

    >>> store = PostgresRunStore("postgresql://app@db-host/runs")   # doctest: +SKIP
    """

    def __init__(self, url: str, *, readonly: bool = False) -> None:
        self.url = url
        self.location = masked(url)
        self.readonly = readonly
        self.notice: str | None = None
        self._kwargs = _connect_kwargs(url, self.location)
        self._closed = False
        self._clock_offset, self._clock_checked = 0.0, -CLOCK_CHECK_S  # read by _now()
        self._reads = _CURRENT  # a reader of an older schema: set by _check_readable
        pool, made = _acquire_pool(url, self._kwargs, readonly)
        self._pool_obj: ConnectionPool | None = pool
        self._pool_pid = os.getpid()
        try:
            if not made and self._check_pooled():
                pass  # the process already reaches this database: no second connection
            else:
                # A connection of its own: its errors say exactly what is wrong (a pool
                # would only time out).
                with self._direct() as conn:
                    conn.read_only = readonly
                    self._check(conn)
        except BaseException:
            self._pool_obj = None
            _release_pool(url, readonly, linger=False)
            raise
        _log.debug("run store ready  url=%s  readonly=%s", self.location, readonly)

    def __reduce__(self) -> tuple[Any, ...]:
        # A flow sent to another process (a Dask worker) opens the store again there.
        return (_reopen, (self.url, self.readonly))

    def __repr__(self) -> str:
        return f"PostgresRunStore({self.location!r}{', readonly=True' if self.readonly else ''})"

    # ── opening ──────────────────────────────────────────────────────────────
    @contextmanager
    def _direct(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            conn = psycopg.connect(self.url, **self._kwargs)
        except psycopg.Error as exc:
            raise self._open_failure(exc) from None
        try:
            yield conn
        finally:
            conn.close()

    def _open_failure(self, exc: BaseException) -> RecordingError:
        text = scrubbed(str(exc).strip(), self.url)
        lower = text.lower()
        if "password authentication failed" in lower or "no password supplied" in lower:
            hint = (
                "the user name or password is wrong; check them (keep the password out of "
                "the URL with PGPASSWORD or ~/.pgpass)"
            )
        elif "database" in lower and "does not exist" in lower:
            hint = "the database does not exist; create it (createdb NAME or CREATE DATABASE)"
        elif "role" in lower and "does not exist" in lower:
            hint = "that user does not exist on the server; check the user name"
        elif "ssl" in lower:
            hint = "check the sslmode and certificate options of the URL against the server's"
        elif any(
            s in lower
            for s in (
                "connection refused",
                "could not translate",
                "timeout",
                "no route",
                "could not connect",
            )
        ):
            hint = (
                "the server cannot be reached; check the host and port, that PostgreSQL is "
                "running there and that this machine may connect to it"
            )
        elif isinstance(exc, pg_errors.InsufficientPrivilege):
            hint = (
                "this role may not create the run tables; ask the database owner to create "
                "them once (open the store as the owner) or to GRANT CREATE ON SCHEMA"
            )
        else:
            hint = "check the URL and the server"
        return RecordingError(f"cannot use {self.location} as a run store: {text}. {hint}")

    def _check_pooled(self) -> bool:
        """``_check`` through the process's pool; False when it cannot connect now (the
        caller then connects on its own, to say exactly why)."""
        assert self._pool_obj is not None
        try:
            with self._pool_obj.connection() as conn:
                self._check(conn, translate=False)
        # A pooled connection the server has since dropped (restarted, admin shutdown)
        # fails with an OperationalError: not the database's fault, so connect afresh.
        except (psycopg.OperationalError, PoolTimeout):
            return False
        except psycopg.Error as exc:
            raise self._open_failure(exc) from None
        return True

    def _check(self, conn: psycopg.Connection[Any], translate: bool = True) -> None:
        """The server's version, then the schema: migrated for a writer, checked for a
        reader (``translate``: psycopg's errors raised as the RecordingError saying what
        to do)."""
        _check_server(conn, self.location)
        try:
            if self.readonly:
                self._check_readable(conn)
            else:
                schema.migrate(conn, self.location)
        except psycopg.Error as exc:
            if not translate:
                raise
            raise self._open_failure(exc) from None

    def _check_readable(self, conn: psycopg.Connection[Any]) -> None:
        with conn.transaction(), conn.cursor() as cur:
            found = schema.inspect(cur)
        reason = schema.refusal(found, self.location, writing=False)
        if reason is not None:
            raise RecordingError(reason)
        if found.empty:
            raise RecordingError(
                f"The database {self.location} has no runs recorded yet. Run a flow with "
                f"db_path={self.location!r} (with its password) and look again"
            )
        if found.version < schema.SCHEMA_VERSION:
            # A reader never migrates (it may not even be allowed to): the columns added
            # since read as NULL, as a writer's migration would leave them on old rows.
            self._reads = _reads({name: t.columns for name, t in found.tables.items()})

    # ── connections ──────────────────────────────────────────────────────────
    def _pool(self) -> ConnectionPool:
        if self._closed:
            raise RecordingError(f"the run store {self.location} was closed")
        pid = os.getpid()
        if self._pool_obj is None or self._pool_pid != pid:
            self._pool_obj, _made = _acquire_pool(self.url, self._kwargs, self.readonly)
            self._pool_pid = pid
        return self._pool_obj

    @contextmanager
    def _cursor(self, snapshot: bool = False) -> Iterator[psycopg.Cursor[Any]]:
        """A cursor whose statements are committed on success, rolled back on error; with
        ``snapshot``, all in one transaction (a reader's single reads need none)."""
        with self._pool().connection() as conn:
            if snapshot and conn.autocommit:
                with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
                    yield cur
            else:
                with conn.cursor(row_factory=dict_row) as cur:
                    yield cur

    def close(self) -> None:
        if self._pool_obj is not None and self._pool_pid == os.getpid() and not self._closed:
            _release_pool(self.url, self.readonly)
        self._pool_obj = None
        self._closed = True

    def failure(self, exc: BaseException) -> Exception:
        """The store's exception for a psycopg one (see ``RunStore.write``)."""
        text = scrubbed(str(exc).strip() or type(exc).__name__, self.url)
        if isinstance(exc, pg_errors.UniqueViolation):
            return RunExistsError(
                f"a row collides with one already recorded in {self.location} ({text}); "
                "run ids and checkpoint steps are never reused"
            )
        if isinstance(exc, pg_errors.ReadOnlySqlTransaction):
            return RecordingError(f"{self.location} was opened read-only; nothing can be recorded")
        if isinstance(exc, pg_errors.InsufficientPrivilege):
            return RecordingError(
                f"{self.location}: {text}; the role needs INSERT, UPDATE and SELECT on the run "
                "tables to record (SELECT to read)"
            )
        if isinstance(exc, (pg_errors.IntegrityError, pg_errors.DataError)):
            return ConfigurationError(f"cannot record this row in {self.location}: {text}")
        if isinstance(exc, (PoolTimeout, psycopg.OperationalError, psycopg.InterfaceError)):
            pool = self._pool_obj
            if pool is not None and not isinstance(exc, PoolTimeout):
                # Connections the server dropped (restart, failover) are replaced now, so
                # the writer's retry finds a live one.
                threading.Thread(target=_check_pool, args=(pool,), daemon=True).start()
            return StoreBusy(f"{self.location} is busy or cannot be reached right now: {text}")
        return RecordingError(f"{self.location} failed: {text}")

    # ── writes ───────────────────────────────────────────────────────────────
    def _writable(self) -> None:
        if self.readonly:
            raise RecordingError(f"{self.location} was opened read-only; nothing can be recorded")

    def create_run(self, row: RunRow) -> None:
        try:
            self.write([row])
        except RunExistsError:
            raise RunExistsError(
                f"run {row.run_id!r} is already recorded in {self.location}; run ids are never "
                "reused: pass another run_id (or none to get a fresh one), or resume it"
            ) from None

    @_translated
    def write(self, rows: Iterable[Row]) -> None:
        self._writable()
        statements = list(_statements(rows))  # any iterable, read once
        if not statements:
            return
        try:
            self._execute(statements)
        except UnicodeEncodeError:
            # A lone surrogate (from a file name, say) cannot be sent as UTF-8: stored
            # escaped (\udcff), as the SQLite store keeps it readable.
            self._execute(
                [(sql, [escape_surrogates(p) for p in params]) for sql, params in statements]
            )

    def _execute(self, statements: list[tuple[str, list[tuple[Any, ...]]]]) -> None:
        with self._pool().connection() as conn:
            # One round trip for the rows and the commit: in autocommit mode, the statements
            # of a pipeline up to its Sync (sent when the block ends) run as one implicit
            # transaction, committed at the Sync, or rolled back whole if one fails. (With
            # BEGIN and COMMIT psycopg waits for the BEGIN, then syncs again at the end.)
            conn.autocommit = True
            try:
                with conn.pipeline(), conn.cursor() as cur:
                    for sql, params in statements:
                        if len(params) == 1:
                            cur.execute(sql, params[0])
                        else:
                            cur.executemany(sql, params)
            finally:
                if not conn.closed:
                    conn.autocommit = False  # the pool's other users expect transactions

    @_translated
    def heartbeat(self, run_ids: Sequence[str]) -> None:
        self._writable()
        if not run_ids:
            return
        with self._cursor() as cur:
            cur.execute(
                f"UPDATE pf_runs SET heartbeat_at = {_DB_NOW} WHERE run_id = ANY(%s)",
                (list(run_ids),),
            )

    # ── the result cache ─────────────────────────────────────────────────────
    @_translated
    def cache_get(self, key: str) -> CachedValue | None:
        with self._cursor() as cur:
            cur.execute(
                "SELECT key, node, value_text, created_at, expires_at FROM pf_cache WHERE key = %s",
                (key,),
            )
            row = cur.fetchone()
            return None if row is None else CachedValue(**row)

    @_translated
    def cache_put(
        self, key: str, node: str, value_text: str, created_at: str, expires_at: str | None
    ) -> None:
        self._writable()
        with self._cursor() as cur:
            cur.execute(_CACHE_PUT, (key, node, _clean(value_text), created_at, expires_at))

    @_translated
    def cache_clear(self, node: str | None = None, older_than: str | None = None) -> int:
        self._writable()
        where, params = [], []
        if node is not None:
            where.append("node = %s")
            params.append(node)
        if older_than is not None:
            where.append("created_at < %s")
            params.append(older_than)
        with self._cursor() as cur:
            cur.execute(
                "DELETE FROM pf_cache" + (f" WHERE {' AND '.join(where)}" if where else ""), params
            )
            return int(cur.rowcount)

    # ── resume claims ────────────────────────────────────────────────────────
    @_translated
    def claim_waiting(self, run_id: str) -> bool:
        self._writable()
        with self._cursor() as cur:
            # Compare-and-set: of answers racing for one run, only the first sees 'waiting'.
            cur.execute(
                "UPDATE pf_runs SET status = 'completed' WHERE run_id = %s AND status = 'waiting'",
                (run_id,),
            )
            return cur.rowcount == 1

    @_translated
    def claim_resume(self, run_id: str, new_run_id: str) -> bool:
        self._writable()
        identity = process_identity()
        with self._cursor() as cur:
            cur.execute("SELECT * FROM pf_resume_claims WHERE run_id = %s", (run_id,))
            current = cur.fetchone()
            if current is None:
                cur.execute(
                    "INSERT INTO pf_resume_claims (run_id, claimed_by, claimed_at, pid, hostname) "
                    f"VALUES (%s, %s, {_DB_NOW}, %s, %s) ON CONFLICT (run_id) DO NOTHING",
                    (run_id, new_run_id, identity["pid"], identity["hostname"]),
                )
                return cur.rowcount == 1
            if current["claimed_by"] == new_run_id:
                return True
            if claim_is_live(current, self._claimer(cur, current["claimed_by"]), self._now(cur)):
                return False
            # Compare-and-set: of several processes replacing the same dead claim, the
            # one whose UPDATE still sees it wins; the others match no row.
            cur.execute(
                f"UPDATE pf_resume_claims SET claimed_by = %s, claimed_at = {_DB_NOW}, pid = %s, "
                "hostname = %s WHERE run_id = %s AND claimed_by = %s",
                (new_run_id, identity["pid"], identity["hostname"], run_id, current["claimed_by"]),
            )
            return cur.rowcount == 1

    @_translated
    def resume_claim(self, run_id: str) -> dict[str, Any] | None:
        with self._cursor() as cur:
            cur.execute("SELECT * FROM pf_resume_claims WHERE run_id = %s", (run_id,))
            found = cur.fetchone()
            return None if found is None else dict(found)

    def _claimer(self, cur: psycopg.Cursor[Any], run_id: str) -> dict[str, Any] | None:
        cur.execute(
            "SELECT run_id, status, pid, hostname, heartbeat_at FROM pf_runs WHERE run_id = %s",
            (run_id,),
        )
        return cur.fetchone()

    def _now(self, cur: psycopg.Cursor[Any]) -> float:
        """The database's clock, which stamps heartbeats: this host's clock plus its offset
        from the database's, read again every ``CLOCK_CHECK_S`` (not a round trip per read)."""
        mono = time.monotonic()
        if mono >= self._clock_checked + CLOCK_CHECK_S:
            cur.execute("SELECT extract(epoch FROM clock_timestamp())::float8 AS now")
            self._clock_offset = float(_one(cur)["now"]) - time.time()
            self._clock_checked = mono
        return time.time() + self._clock_offset

    # ── reads ────────────────────────────────────────────────────────────────
    @property
    @_translated
    def schema_version(self) -> int:
        with self._cursor() as cur:
            cur.execute("SELECT coalesce(max(version), 0) AS v FROM pf_migrations")
            return int(_one(cur)["v"])

    @_translated
    def has_run(self, run_id: str) -> bool:
        with self._cursor() as cur:
            cur.execute("SELECT 1 FROM pf_runs WHERE run_id = %s", (run_id,))
            return cur.fetchone() is not None

    def _views(
        self, cur: psycopg.Cursor[Any], rows: Sequence[dict[str, Any]], now: float
    ) -> list[dict[str, Any]]:
        """Run dicts for ``rows``; who resumed and forked them is read in one query each."""
        if not rows:
            return []
        ids = [r["run_id"] for r in rows]
        cur.execute(self._reads.links, {"ids": ids})
        linked = cur.fetchall()
        resumed = [r for r in linked if r["resumed_from"] is not None]
        forked = [r for r in linked if r["forked_from"] is not None]
        return run_views(rows, resumed, forked, now)

    @_translated
    def get_run(self, run_id: str) -> dict[str, Any] | None:
        with self._cursor(snapshot=True) as cur:
            now = self._now(cur)
            cur.execute(f"{self._reads.run_sql} WHERE r.run_id = %s", (run_id,))
            rows = cur.fetchall()
            return self._views(cur, rows, now)[0] if rows else None

    def _gone(self, cur: psycopg.Cursor[Any], now: float) -> list[str]:
        cur.execute(
            "SELECT run_id, status, pid, hostname, heartbeat_at FROM pf_runs "
            "WHERE status = 'running'"
        )
        return [r["run_id"] for r in cur.fetchall() if derive_status(r, now) == "interrupted"]

    def _where(
        self, filt: RunFilter, cur: psycopg.Cursor[Any], now: float
    ) -> tuple[str, list[Any]]:
        return filter_sql(filt, lambda: self._gone(cur, now), _among, "%s")

    def _list(
        self, cur: psycopg.Cursor[Any], filt: RunFilter, limit: int | None, offset: int, now: float
    ) -> list[dict[str, Any]]:
        limit, offset = check_page(limit, offset)
        where, args = self._where(filt, cur, now)
        cur.execute(*_list_sql(self._reads.run_sql, where, args, limit, offset))
        return self._views(cur, cur.fetchall(), now)

    def _count(self, cur: psycopg.Cursor[Any], filt: RunFilter, now: float) -> int:
        where, args = self._where(filt, cur, now)
        cur.execute(f"SELECT count(*) AS n FROM pf_runs r{where}", args)
        return int(_one(cur)["n"])

    @_translated
    def list_runs(
        self, filt: RunFilter = ALL_RUNS, *, limit: int | None = 100, offset: int = 0
    ) -> list[dict[str, Any]]:
        with self._cursor(snapshot=True) as cur:
            return self._list(cur, filt, limit, offset, self._now(cur))

    @_translated
    def count_runs(self, filt: RunFilter = ALL_RUNS) -> int:
        with self._cursor() as cur:
            return self._count(cur, filt, self._now(cur))

    @_translated
    def runs_page(self, filt: RunFilter, *, limit: int, offset: int) -> RunsPage:
        page_limit, offset = check_page(limit, offset)
        cap = count_limit(page_limit, offset)
        with (
            self._pool().connection() as conn,
            conn.cursor(row_factory=dict_row) as cur,
            conn.cursor(row_factory=dict_row) as counter,
        ):
            now = self._now(cur)
            where, args = self._where(filt, cur, now)
            # The page and its count in one round trip (then one for who resumed or forked
            # the page's runs); the count stops after cap + 1 matching runs.
            with conn.pipeline():
                cur.execute(*_list_sql(self._reads.run_sql, where, args, page_limit, offset))
                counter.execute(
                    f"SELECT count(*) AS n FROM (SELECT 1 FROM pf_runs r{where} LIMIT %s) AS page",
                    [*args, cap + 1],
                )
            rows = cur.fetchall()
            counted = int(_one(counter)["n"])
            return runs_page(self._views(cur, rows, now), counted, cap)

    @_translated
    def flow_names(self) -> list[str]:
        with self._cursor() as cur:
            cur.execute("SELECT DISTINCT flow_name FROM pf_runs ORDER BY 1")
            return [r["flow_name"] for r in cur.fetchall()]

    @_translated
    def status_names(self) -> list[str]:
        with self._cursor() as cur:
            cur.execute("SELECT DISTINCT status FROM pf_runs ORDER BY 1")
            return [r["status"] for r in cur.fetchall()]

    @_translated
    def child_run_ids(self, run_id: str) -> list[str]:
        with self._cursor() as cur:
            cur.execute(
                "SELECT run_id FROM pf_runs WHERE parent_run_id = %s ORDER BY started_at, run_id",
                (run_id,),
            )
            return [r["run_id"] for r in cur.fetchall()]

    @_translated
    def get_events(self, run_ids: Sequence[str]) -> list[dict[str, Any]]:
        if not run_ids:
            return []
        # One run (the monitor's timeline) by equality: '= ANY(array)' costs the server
        # twice as long for a single value.
        test, arg = ("= %s", run_ids[0]) if len(run_ids) == 1 else ("= ANY(%s)", list(run_ids))
        with self._cursor() as cur:
            cur.execute(
                f"SELECT id, {self._reads.events} FROM pf_events WHERE run_id {test} ORDER BY id",
                (arg,),
            )
            return cur.fetchall()

    @_translated
    def get_checkpoints(self, run_id: str) -> list[dict[str, Any]]:
        with self._cursor() as cur:
            cur.execute(
                f"SELECT {self._reads.checkpoint_meta} FROM pf_checkpoints WHERE run_id = %s "
                "ORDER BY step, id",
                (run_id,),
            )
            return cur.fetchall()

    @_translated
    def last_checkpoint(self, run_id: str) -> dict[str, Any] | None:
        with self._cursor() as cur:
            cur.execute(
                f"SELECT {self._reads.checkpoint_meta} FROM pf_checkpoints WHERE run_id = %s "
                "ORDER BY id DESC LIMIT 1",
                (run_id,),
            )
            found: dict[str, Any] | None = cur.fetchone()
            return found

    @_translated
    def checkpoint_text(self, run_id: str, step: int) -> str | None:
        with self._cursor() as cur:
            cur.execute(
                f"SELECT store_json, {self._reads.kind} "
                "FROM pf_checkpoints WHERE run_id = %s AND step = %s",
                (run_id, step),
            )
            found = cur.fetchone()
        if found is None:
            return None
        if found["kind"] == DELTA:  # the whole store, as a full snapshot would hold it
            try:
                data = self._rebuild(run_id, step)
            except CheckpointDamaged:  # what there is to see is the row as stored
                return str(found["store_json"])
            return None if data is None else dumps_store(data)[0]
        return str(found["store_json"])

    @_translated
    def export_run(self, run_id: str) -> RunExport | None:
        """The run as stored, read in one snapshot (a live run's rows stay consistent)."""
        with self._cursor(snapshot=True) as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cur.execute(f"SELECT {self._reads.runs} FROM pf_runs r WHERE run_id = %s", (run_id,))
            run = cur.fetchone()
            if run is None:
                return None
            cur.execute(
                f"SELECT {self._reads.events} FROM pf_events WHERE run_id = %s ORDER BY id",
                (run_id,),
            )
            events = cur.fetchall()
            cur.execute(
                f"SELECT {self._reads.checkpoints} FROM pf_checkpoints WHERE run_id = %s "
                "ORDER BY id",
                (run_id,),
            )
            checkpoints = cur.fetchall()
        return RunExport(
            run=row_record(RunRow, run),
            events=tuple(row_record(EventRow, e) for e in events),
            checkpoints=tuple(row_record(CheckpointRow, c) for c in checkpoints),
        )

    @_translated
    def import_run(self, export: RunExport) -> bool:
        self._writable()
        run_sql, run_cols = _INSERTS[RunRow]
        with self._pool().connection() as conn, conn.cursor() as cur:
            # The run row decides: a concurrent importer of the same run inserts nothing.
            cur.execute(
                f"{run_sql} ON CONFLICT (run_id) DO NOTHING",
                tuple(_clean(getattr(export.run, c)) for c in run_cols),
            )
            if cur.rowcount != 1:
                conn.rollback()
                return False
            with conn.pipeline():
                for sql, params in _statements([*export.events, *export.checkpoints]):
                    cur.executemany(sql, params)
            conn.commit()
        return True

    def load_checkpoint(self, run_id: str, step: int) -> dict[str, Any] | None:
        return self._rebuild(run_id, step)

    @_translated
    def _rebuild(self, run_id: str, step: int) -> dict[str, Any] | None:
        with self._cursor() as cur:
            cur.execute(
                self._reads.chain_sql, {"run": run_id, "step": step, "depth": MAX_CHAIN + 1}
            )
            rows = cur.fetchall()
        return rebuilt_store(rows, run_id, step, self.location)


# ── helpers ──────────────────────────────────────────────────────────────────
def _one(cur: psycopg.Cursor[Any]) -> dict[str, Any]:
    """The row of a query that always returns one (an aggregate)."""
    row: dict[str, Any] = cur.fetchone()  # type: ignore[assignment]
    return row


def _list_sql(
    run_sql: str, where: str, args: list[Any], limit: int | None, offset: int
) -> tuple[str, list[Any]]:
    # run_id breaks ties of equal start times, so pages never overlap.
    sql = f"{run_sql}{where} ORDER BY r.started_at DESC, r.run_id DESC LIMIT %s OFFSET %s"
    return sql, [*args, limit, offset]


def _reopen(url: str, readonly: bool) -> PostgresRunStore:
    return PostgresRunStore(url, readonly=readonly)


def _connect_kwargs(url: str, location: str) -> dict[str, Any]:
    """Connection options added to the URL's own (which always win): a connect timeout
    and an application name, so a hung server fails and sessions are recognisable."""
    try:
        given = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise ConfigurationError(
            f"{location} is not a valid PostgreSQL URL ({scrubbed(str(exc), url)}); write it "
            "as postgresql://user@host:5432/dbname (options after ?, e.g. ?sslmode=require)"
        ) from None
    kwargs: dict[str, Any] = {}
    if "connect_timeout" not in given and not os.environ.get("PGCONNECT_TIMEOUT"):
        kwargs["connect_timeout"] = CONNECT_TIMEOUT_S
    if "application_name" not in given and not os.environ.get("PGAPPNAME"):
        kwargs["application_name"] = "pocketflow-ext"
    return kwargs


def _check_server(conn: psycopg.Connection[Any], location: str) -> None:
    version = conn.info.server_version
    if version < schema.MIN_SERVER_VERSION:
        major = version // 10000 if version >= 100000 else version / 10000
        raise RecordingError(
            f"{location} runs PostgreSQL {major}, older than the run store needs (12 or "
            "newer); upgrade the server or record to another one"
        )


def _check_pool(pool: ConnectionPool) -> None:
    try:
        pool.check()
    except Exception:  # the pool is being closed, or the server is still away
        _log.debug("checking the connections of %s failed", pool.name, exc_info=True)


def _statements(rows: Iterable[Row]) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
    """Statements for ``rows`` in order, each with its parameter tuples (sent with
    executemany in one pipeline). Inserts between two updates are grouped by table (run
    rows first): each table's rows keep their order, and no row depends on another
    table's (no foreign keys), so a group commit of many nodes is three executemany calls
    instead of one call per row."""
    inserts: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        cls = type(row)
        insert = _INSERTS.get(cls)
        if insert is not None:
            sql, cols = insert
            params = tuple(_clean(getattr(row, c)) for c in cols)
            group = inserts.get(sql)
            if group is None:
                group = inserts[sql] = []
            group.append(params)
            continue
        if cls is RunUpdate:
            this, params = _update(row)  # type: ignore[arg-type]
        elif cls is CachedValue:
            this = _CACHE_PUT
            params = tuple(_clean(getattr(row, c)) for c in CachedValue.__dataclass_fields__)
        else:
            raise ConfigurationError(
                f"a run store cannot write {cls.__name__}; write RunRow, EventRow, "
                "CheckpointRow, RunUpdate or CachedValue records"
            )
        yield from _grouped(inserts)  # an update may change a run row inserted above
        inserts = {}
        yield this, [params]
    yield from _grouped(inserts)


def _grouped(
    inserts: dict[str, list[tuple[Any, ...]]],
) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
    for sql in _INSERT_ORDER:
        group = inserts.get(sql)
        if group:
            yield sql, group


def _update(row: RunUpdate) -> tuple[str, tuple[Any, ...]]:
    names = tuple(row.fields)
    sql = _update_sql.get(names)
    if sql is None:
        check_run_fields(row.fields)
        # Column names come from the allow-list; values are always bound parameters.
        sql = f"UPDATE pf_runs SET {', '.join(f'{n} = %s' for n in names)} WHERE run_id = %s"
        _update_sql[names] = sql
    if row.fields.get("status", "running") not in KNOWN_STATUSES:
        check_run_fields(row.fields)
    return sql, (*(_clean(v) for v in row.fields.values()), row.run_id)


def _clean(value: Any) -> Any:
    # PostgreSQL text cannot hold NUL; SQLite can. Error texts and node names may carry
    # one: it is stored as U+FFFD (JSON columns never hold a raw NUL, JSON escapes it).
    if type(value) is str and "\x00" in value:
        return value.replace("\x00", "\ufffd")
    return value


def _among(column: str, values: Sequence[str], negate: bool) -> tuple[str, Any]:
    """``column`` [NOT] IN ``values``, the list bound as one array parameter."""
    return f"{column} {'<> ALL' if negate else '= ANY'}(%s)", list(values)
