"""Resuming a run that stopped inside a ``Parallel`` group: several branches were in flight.

The group runs again on the store it started with (the checkpoint of the node that ended
last before the group started), and the branches that had finished keep their results:
their writes are the difference between their own checkpoint (a branch's store is the
group's starting store plus its writes) and that starting store. The resumed group runs
only the other branches, then joins all of them in branch order, as the original would
have. A run resumed inside a group that fails again is looked through to the run it
resumed, so branches finished in either run are kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...errors import ResumeError
from ...nodes.parallel import FINISHED_BRANCHES
from ...runstore.base import RunStore
from ...store.store import MISSING, Store
from .lossy import holds_marker


@dataclass
class GroupResume:
    """The starting store of the group a run stopped in, and its finished branches' writes."""

    path: str
    store: Store
    finished: dict[str, dict[str, Any]]

    def options(self) -> dict[str, Any]:
        """What the resumed run's options carry to the group (see nodes/parallel.py)."""
        return {FINISHED_BRANCHES: {self.path: self.finished}}


def group_resume(runs: RunStore, run_id: str, group_path: str) -> GroupResume:
    """Where the group at ``group_path`` of run ``run_id`` (or the runs it resumed) stood."""
    finished_steps: dict[str, tuple[str, int]] = {}
    seen: set[str] = set()
    current: str | None = run_id
    while current is not None and current not in seen:
        seen.add(current)
        events = runs.get_events([current])
        started = _last_start(events, group_path)
        if started is None:
            break
        prefix = group_path + "/"
        for event in events[started + 1 :]:
            path = event.get("path") or ""
            if event["event"] != "node_end" or not path.startswith(prefix):
                continue
            branch = path[len(prefix) :]
            if "/" not in branch and branch not in finished_steps:
                finished_steps[branch] = (current, event["step"])
        base = _ended_before(events, started)
        if base is not None:
            data = runs.load_checkpoint(current, base)
            if data is None:
                break
            store = Store(data=data, name=f"{current}@step{base}")
            return GroupResume(group_path, store, _writes(runs, finished_steps, dict(data)))
        run = runs.get_run(current)
        current = run.get("resumed_from") if run else None
    raise ResumeError(
        f"run {run_id!r} stopped inside the Parallel group {group_path!r}, but no checkpoint "
        "shows the store the group started with (it was the run's first node, and checkpoints "
        "are taken after nodes), so its finished branches cannot be told apart from it; run "
        "the flow again, or give the group a node before it"
    )


def _last_start(events: list[dict[str, Any]], path: str) -> int | None:
    for index in range(len(events) - 1, -1, -1):
        event = events[index]
        if event["event"] == "node_start" and event.get("path") == path:
            return index
    return None


def _ended_before(events: list[dict[str, Any]], index: int) -> int | None:
    """The step of the last node that ended before event ``index``: its checkpoint is the
    store the group started with."""
    for event in reversed(events[:index]):
        if event["event"] == "node_end" and event["step"] is not None:
            return int(event["step"])
    return None


def _writes(
    runs: RunStore, finished: Mapping[str, tuple[str, int]], base: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Each finished branch's writes. A branch whose checkpoint could not save a value it
    wrote (not JSON) is run again rather than kept without it."""
    kept: dict[str, dict[str, Any]] = {}
    for branch, (run_id, step) in finished.items():
        data = runs.load_checkpoint(run_id, step)
        if data is None:
            continue
        written = {k: v for k, v in data.items() if k not in base or base[k] != v}
        written.update((k, MISSING) for k in base if k not in data)
        if any(holds_marker(v) for v in written.values()):
            continue
        kept[branch] = written
    return kept
