"""WorkflowDB: PocoFlow 0.2.1's query and write methods over any run store."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError, RunExistsError
from ..store.codec import dumps_store
from ..store.store import Store
from .base import (
    CheckpointRow,
    EventRow,
    RunFilter,
    RunRow,
    RunStore,
    RunUpdate,
    check_run_fields,
)
from .open import open_store
from .runs import check_run_id, iso, params_json

_EVENT_FIELDS = frozenset(EventRow._fields) - {"run_id", "event"}


class WorkflowDB:
    """Runs, events and checkpoints of recorded flows, with PocoFlow's method names.

    >>> db = WorkflowDB("runs.db", readonly=True)                 # doctest: +SKIP
    >>> for run in db.list_runs(limit=20, status="failed"):       # doctest: +SKIP
    ...     print(run["run_id"], run["error_msg"])

    ``WorkflowDB(path)`` creates and migrates the file; ``readonly=True`` only reads an
    existing one (what a monitor or report should use). A ``postgresql://`` URL instead of
    a path opens the PostgreSQL store the same way. A :class:`RunStore` may be given
    instead of a path. Steps count from 0: the first node's checkpoint is step 0.
    """

    def __init__(
        self, db_path: str | os.PathLike[str] | RunStore, *, readonly: bool = False
    ) -> None:
        if isinstance(db_path, RunStore):
            self.store = db_path
        else:
            self.store = open_store(db_path, readonly=readonly)
        self.readonly = self.store.readonly
        # A file as a Path; a database URL as given (with its password: it reopens the
        # store). Messages show ``store.location``, which never holds a password.
        url = getattr(self.store, "url", None)
        self.db_path: Path | str = url if isinstance(url, str) else Path(self.store.location)

    def close(self) -> None:
        """Close the store's connections (call when no thread uses it any more)."""
        self.store.close()

    def __enter__(self) -> WorkflowDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"WorkflowDB({self.store.location!r})"

    @property
    def schema_version(self) -> int:
        return self.store.schema_version

    # ── runs ─────────────────────────────────────────────────────────────────
    def create_run(self, run_id: str, flow_name: str = "", **fields: Any) -> None:
        """Insert a new run (status ``running`` unless ``status=`` says otherwise, started
        now unless ``started_at=`` gives ISO text).

        Unlike PocoFlow, an existing ``run_id`` raises :class:`RunExistsError` instead of
        being silently kept: a recorded run is never overwritten or merged.
        """
        check_run_id(run_id)
        check_run_fields({k: v for k, v in fields.items() if k != "started_at"})
        self.store.create_run(RunRow(run_id=run_id, flow_name=flow_name, **fields))

    def update_run(self, run_id: str, **fields: Any) -> None:
        """Set columns of a run: ``status``, ``completed_at``, ``total_steps``,
        ``current_node``, ``error_msg`` (PocoFlow's) and the columns of docs/schema.md."""
        check_run_id(run_id)
        check_run_fields(fields)
        if fields:
            self.store.write([RunUpdate(run_id, fields)])

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        """One run as a dict (stored columns plus the derived ``status``, ``steps``,
        ``duration_s``, ``last_activity_at``, ``resumed_by``, ``resumed_ok``), or None."""
        return self.store.get_run(check_run_id(run_id))

    def list_runs(
        self,
        limit: int | None = 100,
        status: str | None = None,
        flow_name: str | None = None,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Runs newest first, optionally only one ``status`` or one ``flow_name``."""
        return self.store.list_runs(_filter(status, flow_name), limit=limit, offset=offset)

    def count_runs(self, status: str | None = None, flow_name: str | None = None) -> int:
        """How many runs ``list_runs`` would page through with these filters."""
        return self.store.count_runs(_filter(status, flow_name))

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
        check_run_id(run_id)
        _check_step(step)
        if not isinstance(store, Mapping):
            raise ConfigurationError(
                f"save_checkpoint needs the store as a dict or Store, got {type(store).__name__}"
            )
        text, lossy = dumps_store(dict(store.items()))
        for key in lossy:
            warnings.warn(
                f"run {run_id!r}: store key {key!r} is not JSON-serialisable; the checkpoint of "
                f"step {step} holds an 'unserialisable' marker (type and repr) for it instead",
                UserWarning,
                stacklevel=2,
            )
        row = CheckpointRow(run_id, step, node_name, text, iso(), path, params_json(params))
        try:
            self.store.write([row])
        except RunExistsError:
            raise RunExistsError(
                f"run {run_id!r} already has a checkpoint for step {step}; checkpoints are "
                "never overwritten"
            ) from None
        return lossy

    def get_checkpoints(self, run_id: str) -> list[dict[str, Any]]:
        """A run's checkpoints in step order, each with its ``store_json`` text: the whole
        store after that step, as PocoFlow returned it, also where the row is a delta."""
        check_run_id(run_id)
        checkpoints = self.store.get_checkpoints(run_id)
        for checkpoint in checkpoints:
            checkpoint["store_json"] = self.store.checkpoint_text(run_id, checkpoint["step"])
        return checkpoints

    def last_checkpoint(self, run_id: str) -> dict[str, Any] | None:
        """The checkpoint committed last in a run, or None if it has none.

        Commit order, not step order: a nested flow's own checkpoint has a lower step than
        the nodes inside it but is written after them, and it is the latest state.
        """
        return self.store.last_checkpoint(check_run_id(run_id))

    def load_checkpoint(self, run_id: str, step: int) -> Store:
        """The store as it was after ``step`` (0 is the first node's); ``KeyError`` if there
        is no such checkpoint."""
        check_run_id(run_id)
        _check_step(step)
        data = self.store.load_checkpoint(run_id, step)
        if data is None:
            steps = [c["step"] for c in self.store.get_checkpoints(run_id)]
            raise KeyError(
                f"no checkpoint for run_id={run_id!r} step={step}; "
                + (f"its checkpoints are steps {steps}" if steps else "that run has none")
            )
        return Store(data=data, name=f"{run_id}@step{step}")

    # ── events ───────────────────────────────────────────────────────────────
    def save_event(self, run_id: str, event: str, **kw: Any) -> None:
        """Append an event. Keywords: ``step``, ``node_name``, ``action``, ``elapsed_ms``,
        ``error_msg``, ``ts`` (ISO text or epoch seconds), ``path``, ``params``,
        ``attempt``, ``delay_ms``, ``traceback``."""
        check_run_id(run_id)
        unknown = set(kw) - _EVENT_FIELDS
        if unknown:
            raise ConfigurationError(
                f"save_event got unknown field(s) {sorted(unknown)}; "
                f"known: {', '.join(sorted(_EVENT_FIELDS))}"
            )
        ts = kw.get("ts")
        kw["ts"] = iso(ts) if isinstance(ts, (int, float)) or ts is None else ts
        if kw.get("params") is not None and not isinstance(kw["params"], str):
            kw["params"] = params_json(kw["params"])
        self.store.write([EventRow(run_id=run_id, event=event, **kw)])

    def get_events(self, run_id: str) -> list[dict[str, Any]]:
        """A run's events in the order they were recorded."""
        return self.store.get_events([check_run_id(run_id)])


def _filter(status: str | None, flow_name: str | None) -> RunFilter:
    if flow_name is not None and not isinstance(flow_name, str):
        raise ConfigurationError(f"flow_name must be a string, got {flow_name!r}")
    return RunFilter(
        statuses=() if status is None else (status,),
        flows=() if flow_name is None else (flow_name,),
    )


def _check_step(step: Any) -> None:
    if isinstance(step, bool) or not isinstance(step, int):
        raise ConfigurationError(f"step must be an int, got {type(step).__name__}")
