"""The warning given when a run is resumed although an earlier resume of it completed:
resuming again runs its remaining nodes a second time (two completed runs of one job)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def resumed_before_message(run: Mapping[str, Any]) -> str | None:
    """The warning's text when ``run`` (a run dict with ``resumed_by``/``resumed_ok``)
    already has a completed resume, else None."""
    by = [str(r) for r in run.get("resumed_by") or ()]
    if not by or not run.get("resumed_ok"):
        return None
    return (
        f"run {run['run_id']!r} was already resumed and completed (resumed by "
        f"{', '.join(repr(r) for r in by)}); resuming it again runs its remaining nodes a "
        "second time"
    )
