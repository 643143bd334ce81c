"""WorkflowDB: the SQLite recording database (runs, events, checkpoints) and its queries.

Method names and signatures are PocoFlow 0.2.1's. One connection per thread is opened
lazily and reused (WAL, busy timeout, ``synchronous=NORMAL``); every write is one
``BEGIN IMMEDIATE`` transaction so concurrent writers queue instead of failing.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import urllib.parse
import weakref
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError, RecordingError, RunExistsError
from ..logging import get_logger
from ..store.codec import dumps_store, loads
from ..store.store import Store
from . import schema
from .snapshot import LossyKeyWarnings, store_json

_log = get_logger("db")

BUSY_TIMEOUT_MS = 30_000
Statement = tuple[str, tuple[Any, ...]]


class WorkflowDB:
    """Runs, events and checkpoints of recorded flows in one SQLite file.

    >>> db = WorkflowDB("runs.db")          # doctest: +SKIP
    >>> for run in db.list_runs(limit=20, status="failed"):   # doctest: +SKIP
    ...     print(run["run_id"], run["error_msg"])

    The file (and its directory) is created and migrated to the current schema on open;
    ``readonly=True`` opens an existing file for reading only, never creating or
    migrating it (what a monitor should use).
    """

    def __init__(self, db_path: str | os.PathLike[str], *, readonly: bool = False) -> None:
        if not isinstance(db_path, (str, os.PathLike)) or not str(db_path):
            raise ConfigurationError(
                f"db_path must be a file path such as 'runs.db', got {db_path!r}"
            )
        self.db_path = Path(db_path).expanduser()
        self.readonly = readonly
        # False when a background thread checkpoints the WAL instead of the committing one.
        self.wal_autocheckpoint = True
        self._local = threading.local()
        # Every open connection with its thread: a dead thread's is closed at the next open,
        # so short-lived threads (background runs) do not leak file handles.
        self._all: list[tuple[weakref.ref[threading.Thread], sqlite3.Connection, int]] = []
        self._all_lock = threading.Lock()
        if readonly:
            if not self.db_path.is_file():
                raise RecordingError(f"no recording database at {self.db_path}")
            self._check(lambda conn: conn.execute("SELECT count(*) FROM sqlite_master"))
        else:
            self._prepare_path()
            self._check(self._init_schema)
        _log.debug("WorkflowDB ready  path=%s  readonly=%s", self.db_path, readonly)

    # ── connections ──────────────────────────────────────────────────────────
    def _prepare_path(self) -> None:
        if self.db_path.is_dir():
            raise RecordingError(
                f"db_path {self.db_path} is a directory; give a file path such as "
                f"{self.db_path / 'runs.db'}"
            )
        try:
            self.db_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RecordingError(
                f"cannot create the directory for db_path {self.db_path}: {exc.strerror or exc}; "
                "choose a writable location"
            ) from None

    def _check(self, action: Any) -> None:
        try:
            action(self.conn())
        except sqlite3.DatabaseError as exc:
            self.close()
            raise RecordingError(
                f"cannot use {self.db_path} as a recording database: {exc}. " + _hint(str(exc))
            ) from None

    def _init_schema(self, conn: sqlite3.Connection) -> None:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() != "wal":
            conn.execute("PRAGMA journal_mode=WAL")
        schema.migrate(conn)

    def conn(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use, then reused)."""
        local = self._local
        conn = getattr(local, "conn", None)
        # A forked child must not share its parent's SQLite handle.
        if conn is None or local.pid != os.getpid():
            conn = self._open()
            local.conn, local.pid = conn, os.getpid()
        return conn

    def _open(self) -> sqlite3.Connection:
        if self.readonly:
            uri = f"file:{urllib.parse.quote(str(self.db_path.resolve()))}?mode=ro"
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        else:
            conn = sqlite3.connect(str(self.db_path), isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA synchronous = NORMAL")
        if not self.wal_autocheckpoint:
            conn.execute("PRAGMA wal_autocheckpoint = 0")
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
                if thread is not None and thread.is_alive():
                    live.append(entry)
                else:
                    _close(entry[1])
            live.append((weakref.ref(threading.current_thread()), conn, pid))
            self._all = live
        return conn

    def close(self) -> None:
        """Close every connection this object opened (call when no thread uses it any more)."""
        with self._all_lock:
            conns, self._all = self._all, []
        for _thread, conn, pid in conns:
            if pid == os.getpid():
                _close(conn)
        self._local = threading.local()

    def __enter__(self) -> WorkflowDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"WorkflowDB({str(self.db_path)!r})"

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction on this thread's connection: committed, or rolled back on error."""
        conn = self.conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def execute_all(self, statements: Iterable[Statement]) -> None:
        """Run prepared ``(sql, params)`` statements in one transaction; consecutive
        inserts into the same table go in as one multi-row INSERT."""
        conn = self.conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for sql, params in _grouped(statements):
                conn.execute(sql, params)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @property
    def schema_version(self) -> int:
        return int(self.conn().execute("PRAGMA user_version").fetchone()[0])

    # ── runs ─────────────────────────────────────────────────────────────────
    def create_run(self, run_id: str, flow_name: str = "", **fields: Any) -> None:
        """Insert a new run (status ``running`` unless ``status=`` says otherwise).

        Unlike PocoFlow, an existing ``run_id`` raises :class:`RunExistsError` instead of
        being silently kept: a recorded run is never overwritten or merged.
        """
        statement = run_insert(run_id, flow_name, **fields)
        try:
            with self.transaction() as conn:
                conn.execute(*statement)
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc) or "PRIMARY KEY" in str(exc):
                raise self.run_exists_error(run_id) from None
            raise ConfigurationError(f"cannot record run {run_id!r}: {exc}") from None

    def has_run(self, run_id: str) -> bool:
        schema.check_run_id(run_id)
        row = self.conn().execute("SELECT 1 FROM pf_runs WHERE run_id = ?", (run_id,))
        return row.fetchone() is not None

    def run_exists_error(self, run_id: str) -> RunExistsError:
        return RunExistsError(
            f"run {run_id!r} is already recorded in {self.db_path}; run ids are never "
            "reused: pass another run_id (or none to get a fresh one), or resume it"
        )

    def update_run(self, run_id: str, **fields: Any) -> None:
        """Set columns of a run: ``status``, ``completed_at``, ``total_steps``,
        ``current_node``, ``error_msg`` (PocoFlow's) and the columns of docs/schema.md."""
        schema.check_run_id(run_id)
        _check_fields(fields)
        if not fields:
            return
        # Column names come from the allow-list above; values are always bound parameters.
        assignments = ", ".join(f"{name} = ?" for name in fields)
        with self.transaction() as conn:
            conn.execute(
                f"UPDATE pf_runs SET {assignments} WHERE run_id = ?", (*fields.values(), run_id)
            )

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        """One run as a dict (status derived, see :func:`schema.derive_status`), or None."""
        schema.check_run_id(run_id)
        row = self.conn().execute("SELECT * FROM pf_runs WHERE run_id = ?", (run_id,)).fetchone()
        return _run_dict(row) if row else None

    def list_runs(
        self,
        limit: int | None = 100,
        status: str | None = None,
        flow_name: str | None = None,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Runs newest first, optionally only one ``status`` or one ``flow_name``."""
        limit, offset = _check_page(limit, offset)
        where, params = _filters(status, flow_name)
        # rowid breaks ties of equal start times, so pages never overlap; the indexes
        # already hold rows in this order (no sort step).
        conn = self.conn()
        if status in ("running", "interrupted"):
            # Stored as 'running' until a reader sees the process gone: derive, then page.
            rows = conn.execute(
                f"SELECT * FROM pf_runs {where} ORDER BY started_at DESC, rowid", params
            ).fetchall()
            runs = [r for r in map(_run_dict, rows) if r["status"] == status]
            return runs[offset : None if limit is None else offset + limit]
        rows = conn.execute(
            f"SELECT * FROM pf_runs {where} ORDER BY started_at DESC, rowid LIMIT ? OFFSET ?",
            (*params, -1 if limit is None else limit, offset),
        ).fetchall()
        return [_run_dict(r) for r in rows]

    def count_runs(self, status: str | None = None, flow_name: str | None = None) -> int:
        """How many runs ``list_runs`` would page through with these filters."""
        where, params = _filters(status, flow_name)
        conn = self.conn()
        if status in ("running", "interrupted"):
            rows = conn.execute(f"SELECT * FROM pf_runs {where}", params).fetchall()
            return sum(1 for r in rows if schema.derive_status(dict(r)) == status)
        return int(conn.execute(f"SELECT count(*) FROM pf_runs {where}", params).fetchone()[0])

    # ── checkpoints ──────────────────────────────────────────────────────────
    def save_checkpoint(
        self,
        run_id: str,
        step: int,
        node_name: str,
        store: Any,
        *,
        path: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> list[str]:
        """Save the store after ``step``; returns the keys saved as unserialisable markers.

        A step is saved once: saving it again raises :class:`RunExistsError`.
        """
        schema.check_run_id(run_id)
        text, lossy = store_json(store)
        LossyKeyWarnings().report(lossy, run_id, f"the checkpoint of step {step}")
        row = (run_id, step, node_name, text, schema.iso(), path, params_json(params))
        try:
            with self.transaction() as conn:
                conn.execute(schema.INSERT_CHECKPOINT, row)
        except sqlite3.IntegrityError:
            raise RunExistsError(
                f"run {run_id!r} already has a checkpoint for step {step}; checkpoints are "
                "never overwritten"
            ) from None
        return lossy

    def get_checkpoints(self, run_id: str) -> list[dict[str, Any]]:
        """A run's checkpoints in step order (``store_json`` as text)."""
        schema.check_run_id(run_id)
        rows = self.conn().execute(
            "SELECT * FROM pf_checkpoints WHERE run_id = ? ORDER BY step", (run_id,)
        )
        return [dict(r) for r in rows]

    def last_checkpoint(self, run_id: str) -> dict[str, Any] | None:
        """The checkpoint committed last in a run, or None if it has none.

        Commit order, not step order: a nested flow's own checkpoint has a lower step than
        the nodes inside it but is written after them, and it is the latest state.
        """
        schema.check_run_id(run_id)
        row = (
            self.conn()
            .execute(
                "SELECT * FROM pf_checkpoints WHERE run_id = ? ORDER BY id DESC LIMIT 1",
                (run_id,),
            )
            .fetchone()
        )
        return dict(row) if row else None

    def resume(
        self, run_id: str, flow: Any, *, overrides: Mapping[str, Any] | None = None
    ) -> Store:
        """Continue the failed, cancelled or interrupted run ``run_id`` with ``flow`` (the
        same graph), from its last checkpoint; returns the store. See ``Flow.resume``."""
        from ..flows.resume import resume_run  # flows.resume imports this module

        return resume_run(self, run_id, flow, overrides=overrides)

    def load_checkpoint(self, run_id: str, step: int) -> Store:
        """The store as it was after ``step`` (raises ``KeyError`` if there is none)."""
        schema.check_run_id(run_id)
        if isinstance(step, bool) or not isinstance(step, int):
            raise ConfigurationError(f"step must be an int, got {type(step).__name__}")
        row = (
            self.conn()
            .execute(
                "SELECT store_json FROM pf_checkpoints WHERE run_id = ? AND step = ?",
                (run_id, step),
            )
            .fetchone()
        )
        if row is None:
            steps = [c["step"] for c in self.get_checkpoints(run_id)]
            raise KeyError(
                f"no checkpoint for run_id={run_id!r} step={step}; "
                + (f"its checkpoints are steps {steps}" if steps else "that run has none")
            )
        data = loads(row["store_json"])
        return Store(data=data, name=f"{run_id}@step{step}")

    # ── events ───────────────────────────────────────────────────────────────
    def save_event(self, run_id: str, event: str, **kw: Any) -> None:
        """Append an event. Keywords: ``step``, ``node_name``, ``action``, ``elapsed_ms``,
        ``error_msg``, ``ts`` (ISO text or epoch seconds), ``path``, ``params``,
        ``attempt``, ``delay_ms``, ``traceback``."""
        schema.check_run_id(run_id)
        unknown = set(kw) - set(schema.EVENT_COLUMNS)
        if unknown:
            raise ConfigurationError(
                f"save_event got unknown field(s) {sorted(unknown)}; "
                f"known: {', '.join(schema.EVENT_COLUMNS[2:])}"
            )
        ts = kw.get("ts")
        kw["ts"] = schema.iso(ts) if isinstance(ts, (int, float)) or ts is None else ts
        if kw.get("params") is not None and not isinstance(kw["params"], str):
            kw["params"] = params_json(kw["params"])
        kw.update(run_id=run_id, event=event)
        row = tuple(kw.get(c) for c in schema.EVENT_COLUMNS)
        with self.transaction() as conn:
            conn.execute(schema.INSERT_EVENT, row)

    def get_events(self, run_id: str) -> list[dict[str, Any]]:
        """A run's events in the order they were recorded."""
        schema.check_run_id(run_id)
        rows = self.conn().execute(
            "SELECT * FROM pf_events WHERE run_id = ? ORDER BY id", (run_id,)
        )
        return [dict(r) for r in rows]


# ── helpers for the queries above ──────────────────────────────────────────────
def run_insert(run_id: str, flow_name: str = "", **fields: Any) -> Statement:
    """The INSERT of a new run row (column names checked against the schema)."""
    schema.check_run_id(run_id)
    _check_fields(fields)
    row = {"run_id": run_id, "flow_name": flow_name, "started_at": schema.iso(), **fields}
    sql = f"INSERT INTO pf_runs ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})"
    return sql, tuple(row.values())


_MAX_GROUP = 50  # rows per multi-row INSERT: stays under SQLite's oldest 999-variable limit
_multi_sql: dict[tuple[str, int], str] = {}


def _grouped(statements: Iterable[Statement]) -> Iterator[Statement]:
    group_sql: str | None = None
    group: list[Any] = []
    rows = 0
    for sql, params in statements:
        if sql is group_sql and rows < _MAX_GROUP:
            group.extend(params)
            rows += 1
            continue
        if group_sql is not None:
            yield _multi(group_sql, rows), tuple(group)
            group_sql = None
        if sql.startswith("INSERT") and sql.endswith(")"):
            group_sql, group, rows = sql, list(params), 1
        else:
            yield sql, params
    if group_sql is not None:
        yield _multi(group_sql, rows), tuple(group)


def _multi(sql: str, rows: int) -> str:
    if rows == 1:
        return sql
    text = _multi_sql.get((sql, rows))
    if text is None:
        values = sql[sql.rindex("VALUES") + len("VALUES") :].strip()
        text = _multi_sql[(sql, rows)] = sql + (", " + values) * (rows - 1)
    return text


def _close(conn: sqlite3.Connection) -> None:
    try:
        conn.close()
    except sqlite3.Error:
        pass


def params_json(params: Mapping[str, Any] | None) -> str | None:
    return dumps_store(params)[0] if params else None


def _run_dict(row: Any) -> dict[str, Any]:
    run = dict(row)
    run["status"] = schema.derive_status(run)
    return run


def _check_fields(fields: Mapping[str, Any]) -> None:
    unknown = set(fields) - schema.UPDATABLE_RUN_COLUMNS
    if unknown:
        raise ConfigurationError(
            f"unknown run field(s) {sorted(unknown)}; known: "
            f"{', '.join(sorted(schema.UPDATABLE_RUN_COLUMNS))}"
        )
    status = fields.get("status")
    if status is not None and status not in schema.STATUSES:
        raise ConfigurationError(
            f"unknown run status {status!r}; use one of {', '.join(schema.STATUSES)}"
        )


def _check_page(limit: Any, offset: Any) -> tuple[int | None, int]:
    for name, value in (("limit", limit), ("offset", offset)):
        if value is None and name == "limit":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigurationError(f"{name} must be a non-negative int, got {value!r}")
    return limit, offset


def _filters(status: str | None, flow_name: str | None) -> tuple[str, tuple[Any, ...]]:
    clauses: list[str] = []
    params: list[Any] = []
    if status is not None:
        if status not in (*schema.STATUSES, "paused"):
            raise ConfigurationError(
                f"unknown status filter {status!r}; use one of {', '.join(schema.STATUSES)}"
            )
        if status in ("running", "interrupted"):
            clauses.append("status IN ('running', 'interrupted')")
        else:
            clauses.append("status = ?")
            params.append(status)
    if flow_name is not None:
        if not isinstance(flow_name, str):
            raise ConfigurationError(f"flow_name must be a string, got {flow_name!r}")
        clauses.append("flow_name = ?")
        params.append(flow_name)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", tuple(params)


def _hint(message: str) -> str:
    text = message.lower()
    if "not a database" in text or "malformed" in text:
        return "The file exists but is not a SQLite database: choose another db_path."
    if "readonly" in text or "unable to open" in text or "permission" in text:
        return "Check that the file and its directory are writable, or choose another db_path."
    return "Choose another db_path."
