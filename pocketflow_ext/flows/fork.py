"""Forking a recorded run: a new run from the checkpoint after any step, with the store
edited, at the node that followed that step. The original run is only read."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ResumeError, RunNotFound
from ..runstore.base import RunStore
from .resume.plan import check_resumable_kind
from .resume.point import Prepared, plan_starts, point_at, restored_store


def prepare_fork(
    flow: Any,
    runs: RunStore,
    run_id: str,
    step: int | None,
    overrides: Mapping[str, Any] | None,
    live: Mapping[str, Any] | None = None,
) -> tuple[Prepared, int]:
    """The fork's store, top start and nested starts, and the step it forks at."""
    check_resumable_kind(flow, "fork")
    run = runs.get_run(run_id)
    if run is None:
        raise RunNotFound(
            f"no run {run_id!r} in {runs.location}; list the recorded runs with "
            "pocketflow-ext runs (or check db_path)"
        )
    checkpoints = runs.get_checkpoints(run_id)
    if not checkpoints:
        raise ResumeError(
            f"run {run_id!r} has no checkpoint (no node completed), so there is no step to "
            "fork from; run the flow again with the store you want"
        )
    if step is None:
        chosen = runs.last_checkpoint(run_id)
    else:
        if isinstance(step, bool) or not isinstance(step, int):
            raise ResumeError(f"step must be an int (a checkpoint's step), got {step!r}")
        chosen = next((c for c in checkpoints if c["step"] == step), None)
        if chosen is None:
            steps = ", ".join(str(c["step"]) for c in checkpoints)
            raise ResumeError(
                f"run {run_id!r} has no checkpoint for step {step}; its steps are {steps}"
            )
    assert chosen is not None
    point = point_at(runs, run, chosen)
    top_start, nested = plan_starts(flow, point)
    return (restored_store(point, overrides, live), top_start, nested), point.step
