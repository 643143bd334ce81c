"""The run-store interface: the rows the recorder writes and the reads every reader needs.

The recorder hands row records to :meth:`RunStore.write`; WorkflowDB, the CLI, the
monitor and resume read through the other methods. A store for another database is one
module implementing this class (``sqlite.py`` is the embedded default); nothing outside
``runstore/`` writes SQL.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigurationError
from .runs import STATUSES, iso

# Rows carry values ready to store: timestamps as ISO text, stores and params as JSON
# text (the recorder encodes them, so every store keeps the same text).


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


@dataclass(frozen=True, slots=True)
class EventRow:
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


@dataclass(frozen=True, slots=True)
class CheckpointRow:
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


Row = RunRow | EventRow | CheckpointRow | RunUpdate

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
    """One page of runs (newest first) and how many runs the filter matches in all."""

    rows: list[dict[str, Any]]
    total: int


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
    def write(self, rows: Sequence[Row]) -> None:
        """Store ``rows`` in order, in one transaction: all or none.

        Raises :class:`~pocketflow_ext.errors.StoreBusy` when the store is locked, busy or
        unreachable (retry later); :class:`~pocketflow_ext.errors.RunExistsError` when a
        row collides with a stored one (a run id or checkpoint step used twice); any other
        exception means a row itself is bad.
        """

    @abstractmethod
    def heartbeat(self, run_ids: Sequence[str]) -> None:
        """Mark these live runs' processes as alive now (``heartbeat_at``)."""

    def claim_waiting(self, run_id: str) -> bool:
        """Take the answer of waiting run ``run_id``: its stored status goes from ``waiting``
        to ``completed`` (its part is done; the answering run continues it) in one
        conditional update. True for exactly one of several callers at once."""
        raise NotImplementedError(
            f"{type(self).__name__} cannot answer waiting runs yet (claim_waiting)"
        )

    def maintain(self) -> None:  # noqa: B027 - optional upkeep, nothing by default
        """Periodic upkeep, called by the writer thread about once a second."""

    @abstractmethod
    def close(self) -> None:
        """Release connections (call when no thread uses the store any more)."""

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

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
