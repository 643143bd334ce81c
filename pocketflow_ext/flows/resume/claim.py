"""Claiming a recorded run for resuming, so two processes resuming it at once cannot both
continue it: the store decides atomically (``RunStore.claim_resume``), the loser gets a
``ResumeError`` naming the run and who holds it."""

from __future__ import annotations

import os
from typing import Any

from ...errors import ResumeError
from ...runstore.base import RunStore
from ...runstore.open import store_key
from ...stream.scope import new_run_id
from ..observe import flow_label


def claim_store(own: RunStore | None, origin: str | os.PathLike[str] | None) -> RunStore | None:
    """The store where a resume of a run recorded in ``origin`` (None: the flow's own
    store) is claimed: the recording store, when the run was recorded there. Runs read
    from another store are not claimed (nothing records the new run beside them)."""
    if own is None:
        return None
    if origin is not None and store_key(origin) != store_key(getattr(own, "url", own.location)):
        return None
    return own


def claim(store: RunStore | None, run_id: str, new_run_id: str) -> None:
    """Claim ``run_id`` for the new run ``new_run_id``, or raise ``ResumeError``."""
    if store is None or store.claim_resume(run_id, new_run_id):
        return
    held = store.resume_claim(run_id) or {}
    where = f" by process {held['pid']} on {held['hostname']}" if held.get("pid") else ""
    raise ResumeError(
        f"run {run_id!r} is already being resumed as run {held.get('claimed_by', '?')!r} "
        f"(claimed at {held.get('claimed_at', '?')}{where}); wait for that run to end, then "
        "look at it before resuming again (if it fails, resume it instead)"
    )


def next_run_id(flow: Any) -> str:
    """The id the resuming run will get: one given to the flow and still unused, else new."""
    unused = getattr(flow, "_unused_run_id", None)
    if unused:
        try:
            return str(unused.pop())
        except IndexError:  # taken by another thread just now
            pass
    return new_run_id(flow_label(flow))
