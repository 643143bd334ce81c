"""The run-store interface: the rows the recorder writes and the reads every reader needs.

The recorder hands row records to :meth:`RunStore.write`; WorkflowDB, the CLI, the
monitor and resume read through the other methods. A store for another database is one
module implementing this class (``sqlite.py`` is the embedded default); nothing outside
``runstore/`` writes SQL.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

from ..errors import ConfigurationError, RunExistsError
from .runs import STATUSES, iso, parse_iso

# Rows carry values ready to store: timestamps as ISO text, stores and params as JSON
# text (the recorder encodes them, so every store keeps the same text).


def escape_surrogates(values: Iterable[Any]) -> tuple[Any, ...]:
    """``values`` with lone surrogates in text escaped (``\\udcff``, six characters).

    Text from ``os.fsdecode`` of a non-UTF-8 name (a node name, a path, an error message)
    can hold lone surrogates, which no UTF-8 database accepts. Every store writes such
    values escaped, through this one function, so each keeps the same text (JSON text,
    such as a checkpoint, reads them back exactly). Only text that failed to encode needs
    it: stores call it when the driver refuses a statement's parameters.
    """
    return tuple(
        v.encode("utf-8", "backslashreplace").decode("utf-8") if type(v) is str else v
        for v in values
    )


@dataclass(frozen=True, slots=True)
class RunRow:
    """A new run (``pf_runs``)."""

    run_id: str
    flow_name: str = ""
    started_at: str = field(default_factory=iso)
    status: str = "running"
    parent_run_id: str | None = None
    resumed_from: str | None = None
    pid: int | None = None
    hostname: str | None = None
    heartbeat_at: str | None = None
    graph: str | None = None
    params: str | None = None
    completed_at: str | None = None
    total_steps: int | None = None
    current_node: str | None = None
    error_msg: str | None = None
    traceback: str | None = None
    question: str | None = None  # JSON: what a waiting run asks (interrupt's payload)
    answer: str | None = None  # JSON: the answer a resumed run handed to interrupt()
    start_store: str | None = (
        None  # JSON: the store it began with, if it paused before any checkpoint
    )
    forked_from: str | None = None
    forked_at_step: int | None = None


# Events and checkpoints are written after every node: their records are named tuples,
# built in C and handed to the database driver as they are (a store's INSERT lists the
# columns in field order), where a frozen dataclass cost a Python call per field to build
# and another pass to turn into parameters. Both are immutable, as the dataclasses are.
class EventRow(NamedTuple):
    """One event of a run (``pf_events``); ``step`` numbers node executions from 0."""

    run_id: str
    event: str
    ts: str
    step: int | None = None
    node_name: str | None = None
    action: str | None = None
    elapsed_ms: float | None = None
    error_msg: str | None = None
    path: str | None = None
    params: str | None = None
    attempt: int | None = None
    delay_ms: float | None = None
    traceback: str | None = None


class CheckpointRow(NamedTuple):
    """The store after node execution ``step`` (``pf_checkpoints``), as JSON text.

    ``kind="full"``: ``store_json`` is the whole store. ``kind="delta"``: only the keys the
    node changed, applied on top of the checkpoint of ``parent_step``, after removing the
    keys in ``deleted_json`` (see ``recording/checkpoints.py``).
    """

    run_id: str
    step: int
    node_name: str
    store_json: str
    created_at: str
    path: str | None = None
    params: str | None = None
    kind: str = "full"
    parent_step: int | None = None
    deleted_json: str | None = None


@dataclass(frozen=True, slots=True)
class RunUpdate:
    """New values for columns of a run (``status``, ``completed_at``, ``current_node``, ...)."""

    run_id: str
    fields: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class CachedValue:
    """One entry of the result cache (``pf_cache``): an ``exec`` result as codec JSON text.

    ``created_at``/``expires_at`` are ISO-8601 UTC text (``expires_at`` None: never);
    whether an entry has expired is for the caller to decide with its own clock.
    """

    key: str
    node: str
    value_text: str
    created_at: str
    expires_at: str | None = None


# A CachedValue in ``write`` stores a cache entry as ``cache_put`` does: a recorded node's
# result goes in with the node's own rows, in the transaction that records it.
Row = RunRow | EventRow | CheckpointRow | RunUpdate | CachedValue
T = TypeVar("T")


# A run's identity and start time are written once, by create_run; the rest may change.
UPDATABLE_RUN_FIELDS = frozenset(RunRow.__dataclass_fields__) - {"run_id", "started_at"}
KNOWN_STATUSES = frozenset((*STATUSES, "paused"))  # PocoFlow 0.2.1's rows may say paused


def check_run_fields(fields: Mapping[str, Any]) -> None:
    """Refuse unknown run fields and statuses (of a RunUpdate), naming what is allowed."""
    unknown = set(fields) - UPDATABLE_RUN_FIELDS
    if unknown:
        raise ConfigurationError(
            f"unknown run field(s) {sorted(unknown)}; known: "
            f"{', '.join(sorted(UPDATABLE_RUN_FIELDS))}"
        )
    status = fields.get("status")
    if status is not None and status not in KNOWN_STATUSES:
        raise ConfigurationError(f"unknown run status {status!r}; use one of {', '.join(STATUSES)}")


@dataclass(frozen=True, slots=True)
class RunFilter:
    """Which runs a listing shows: statuses and flow names (empty = all), run id substring."""

    statuses: tuple[str, ...] = ()
    flows: tuple[str, ...] = ()
    search: str = ""


ALL_RUNS = RunFilter()


@dataclass(frozen=True, slots=True)
class RunsPage:
    """One page of runs (newest first) and how many runs the filter matches in all; with
    ``more``, at least ``total`` (stores count only so far past the page: ``views.py``)."""

    rows: list[dict[str, Any]]
    total: int
    more: bool = False


@dataclass(frozen=True, slots=True)
class RunExport:
    """One run as stored, to copy it into another store: its row (stored status, links
    such as ``resumed_from`` and ``parent_run_id``), its events in recorded order and
    every checkpoint row as stored (raw text, whatever its format), in commit order."""

    run: RunRow
    events: tuple[EventRow, ...]
    checkpoints: tuple[CheckpointRow, ...]


def row_fields(cls: type) -> tuple[str, ...]:
    """The field names of a row record class (a dataclass or a named tuple), in order."""
    named = getattr(cls, "_fields", None)
    return tuple(named if named is not None else cls.__dataclass_fields__)  # type: ignore[attr-defined]


def row_record(cls: type[T], values: Mapping[str, Any]) -> T:
    """A row record of ``cls`` from a stored row's columns (extra keys ignored, missing
    ones left at their defaults), so an export carries every column the record knows."""
    return cls(**{name: values[name] for name in row_fields(cls) if name in values})


def export_differences(a: RunExport, b: RunExport) -> list[str]:
    """What differs between two exports of one run (empty when both hold the same run).

    Timestamps compare as instants and JSON columns as decoded values, so a store that
    formats them its own way still matches a copy of the same run.
    """
    problems: list[str] = []
    if not _same_record(a.run, b.run):
        problems.append(f"run row ({', '.join(_differing_fields(a.run, b.run))})")
    for what, mine, theirs in (
        ("events", a.events, b.events),
        ("checkpoints", a.checkpoints, b.checkpoints),
    ):
        if len(mine) != len(theirs):
            problems.append(f"{what} ({len(mine)} vs {len(theirs)})")
        elif not all(_same_record(x, y) for x, y in zip(mine, theirs, strict=True)):
            problems.append(f"{what} (same count, different content)")
    return problems


def _differing_fields(a: Any, b: Any) -> list[str]:
    return [
        name
        for name in row_fields(type(a))
        if not _same_value(name, getattr(a, name), getattr(b, name))
    ]


def _same_record(a: Any, b: Any) -> bool:
    return a == b or not _differing_fields(a, b)


def _same_value(name: str, a: Any, b: Any) -> bool:
    if a == b:
        return True
    if isinstance(a, str) and isinstance(b, str):
        if name == "ts" or name.endswith("_at"):
            return parse_iso(a) is not None and parse_iso(a) == parse_iso(b)
        try:
            return bool(json.loads(a) == json.loads(b))
        except ValueError:
            return False
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return False


class RunStore(ABC):
    """Where runs are recorded. One object per database and process, used from any thread.

    Run dicts returned by ``get_run``/``list_runs`` hold the stored columns plus the
    fields :func:`~pocketflow_ext.runstore.runs.run_view` derives (``status``,
    ``last_activity_at``, ``duration_s``, ``steps``, ``resumed_by``, ``resumed_ok``,
    ``forked_by``).
    """

    location: str
    """The file path or URL, as shown in messages."""
    readonly: bool
    notice: str | None = None
    """Set when the store could only be opened in a degraded way readers should mention
    (e.g. an immutable read that cannot see uncheckpointed writes)."""

    # ── writes ───────────────────────────────────────────────────────────────
    @abstractmethod
    def create_run(self, row: RunRow) -> None:
        """Insert a new run; a used run id raises :class:`~pocketflow_ext.errors.RunExistsError`."""

    @abstractmethod
    def write(self, rows: Iterable[Row]) -> None:
        """Store ``rows`` in order, in one transaction: all or none.

        ``rows`` is iterated once, so it may be a generator (the writer streams a long
        ``exit``-mode run's rows from a temporary file). Text holding lone surrogates is
        stored escaped (:func:`escape_surrogates`).

        Raises :class:`~pocketflow_ext.errors.StoreBusy` when the store is locked, busy or
        unreachable (retry later); :class:`~pocketflow_ext.errors.RunExistsError` when a
        row collides with a stored one (a run id or checkpoint step used twice); any other
        exception means a row itself is bad.
        """

    @abstractmethod
    def heartbeat(self, run_ids: Sequence[str]) -> None:
        """Mark these live runs' processes as alive now (``heartbeat_at``)."""

    @abstractmethod
    def claim_resume(self, run_id: str, new_run_id: str) -> bool:
        """Claim run ``run_id`` for resuming as run ``new_run_id``; True if this caller
        holds the claim now.

        Of processes claiming the same run at once exactly one wins (an insert that
        conflicts, or a compare-and-set update; never check-then-act). A claim lapses
        when its run ends or its process is gone (``runs.claim_is_live``), so a failed
        resume can be resumed again.
        """

    @abstractmethod
    def resume_claim(self, run_id: str) -> dict[str, Any] | None:
        """Who claimed ``run_id`` for resuming: ``claimed_by`` (the new run id),
        ``claimed_at``, ``pid``, ``hostname``; None if nobody did."""

    @abstractmethod
    def claim_waiting(self, run_id: str) -> bool:
        """Take the answer of waiting run ``run_id``: its stored status goes from ``waiting``
        to ``completed`` (its part is done; the answering run continues it) in one
        conditional update. True for exactly one of several callers at once."""

    def maintain(self, idle: bool = False) -> None:  # noqa: B027 - optional, nothing by default
        """Upkeep, called by the writer thread after each of its passes (so cheap when
        nothing is due) and with ``idle=True`` when it is about to go idle (SQLite: the
        WAL is bounded while readers hold it, and emptied when idle)."""

    def replaced(self) -> bool:
        """Whether the database written to was deleted or replaced since the store was
        opened (SQLite: the file at the path is another one, or none); the writer then
        opens a fresh store for new runs. A database server's store keeps this default."""
        return False

    @abstractmethod
    def close(self) -> None:
        """Release connections (call when no thread uses the store any more)."""

    # ── the result cache (pocketflow_ext/cache) ──────────────────────────────
    @abstractmethod
    def cache_get(self, key: str) -> CachedValue | None:
        """The entry stored under ``key`` (expired or not), or None."""

    @abstractmethod
    def cache_put(
        self, key: str, node: str, value_text: str, created_at: str, expires_at: str | None
    ) -> None:
        """Store an entry unless a live one holds ``key``: concurrent writers of one key
        leave exactly one entry (the first), never a mixture. An entry whose
        ``expires_at`` is at or before ``created_at`` (expired by the writer's clock) is
        replaced."""

    @abstractmethod
    def cache_clear(self, node: str | None = None, older_than: str | None = None) -> int:
        """Delete entries (all, or those of node ``node``, and/or those created before the
        ISO-8601 UTC time ``older_than``); returns how many were deleted."""

    # ── reads ────────────────────────────────────────────────────────────────
    @property
    @abstractmethod
    def schema_version(self) -> int:
        """The version of the stored schema (``docs/schema.md``)."""

    @abstractmethod
    def has_run(self, run_id: str) -> bool:
        """Whether a run with this id is recorded (cheap: no derived fields)."""

    @abstractmethod
    def get_run(self, run_id: str) -> dict[str, Any] | None:
        """One run dict, or None."""

    @abstractmethod
    def list_runs(
        self, filt: RunFilter = ALL_RUNS, *, limit: int | None = 100, offset: int = 0
    ) -> list[dict[str, Any]]:
        """Run dicts newest first; ``running``/``interrupted`` filter on the derived status."""

    @abstractmethod
    def count_runs(self, filt: RunFilter = ALL_RUNS) -> int:
        """How many runs ``list_runs`` pages through with this filter."""

    def runs_page(self, filt: RunFilter, *, limit: int, offset: int) -> RunsPage:
        """A page and the filtered total (stores that can read both at once should)."""
        return RunsPage(self.list_runs(filt, limit=limit, offset=offset), self.count_runs(filt))

    @abstractmethod
    def flow_names(self) -> list[str]:
        """Every recorded flow name, sorted."""

    @abstractmethod
    def status_names(self) -> list[str]:
        """Every stored status value, sorted."""

    @abstractmethod
    def child_run_ids(self, run_id: str) -> list[str]:
        """Runs started inside this run (``parent_run_id``), oldest first."""

    @abstractmethod
    def get_events(self, run_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Events of these runs in the order they were recorded."""

    @abstractmethod
    def get_checkpoints(self, run_id: str) -> list[dict[str, Any]]:
        """A run's checkpoints by step: ``id``, ``step``, ``node_name``, ``created_at``,
        ``path``, ``params``, ``kind``, ``parent_step`` (no store; ``load_checkpoint``
        gives that)."""

    @abstractmethod
    def last_checkpoint(self, run_id: str) -> dict[str, Any] | None:
        """The checkpoint written last (commit order, not step order), as in ``get_checkpoints``."""

    @abstractmethod
    def load_checkpoint(self, run_id: str, step: int) -> dict[str, Any] | None:
        """The full store after ``step``, decoded; None when there is no such checkpoint.

        Raises ``ValueError`` naming run and step when the stored text cannot be decoded.
        """

    @abstractmethod
    def checkpoint_text(self, run_id: str, step: int) -> str | None:
        """The store after ``step`` as JSON text, or None: a full checkpoint as stored; for
        a delta checkpoint the store rebuilt and encoded as a full one would be (its row as
        stored when it cannot be rebuilt, so a damaged row can still be looked at)."""

    # ── copying runs between stores ──────────────────────────────────────────
    # Built on the reads and writes above, so every store can copy; a store overrides
    # export_run to read the run in one snapshot while a flow may still be writing.
    def export_run(self, run_id: str) -> RunExport | None:
        """The run as stored (see :class:`RunExport`), or None when it is not recorded."""
        run = self.get_run(run_id)
        if run is None:
            return None
        stored = {**run, "status": run.get("stored_status", run["status"])}
        checkpoints = []
        for meta in self.get_checkpoints(run_id):
            text = self.checkpoint_text(run_id, meta["step"])
            if text is not None:
                checkpoints.append(row_record(CheckpointRow, {**meta, "store_json": text}))
        return RunExport(
            run=row_record(RunRow, stored),
            events=tuple(row_record(EventRow, e) for e in self.get_events([run_id])),
            checkpoints=tuple(checkpoints),
        )

    def import_run(self, export: RunExport) -> bool:
        """Store a run exported from another store, in one transaction; False (and
        nothing written) when a run with its id is already recorded here."""
        if self.has_run(export.run.run_id):
            return False
        try:
            self.write([export.run, *export.events, *export.checkpoints])
        except RunExistsError:  # recorded by someone else since has_run
            return False
        return True

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
