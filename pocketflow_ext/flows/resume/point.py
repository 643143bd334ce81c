"""Where a recorded run continues: its last checkpoint, mapped onto the flow's graph.

The last completed node is the checkpoint committed last (by row order, not step: a flow
nested as a node ends after the nodes inside it). The run continues with that node's
successor for the action it returned, found by name in the same graph; for a checkpoint
inside a nested flow the outer levels restart at the nested flow and it restarts at the
successor.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pocketflow

from ...errors import CheckpointDamaged, PocketFlowExtError, ResumeError, RunNotFound
from ...graph import is_group
from ...runstore.base import RunStore
from ...store.codec import loads
from ...store.store import Store
from ..observe import flow_label
from .groups import group_resume
from .lossy import holds_marker
from .plan import check_resumable_kind, find_node, naming_root, node_names
from .warning import resumed_before_message

RESUMABLE = ("failed", "cancelled", "interrupted")

Prepared = tuple[Store, Any, dict[str, Any]]
"""What a resume needs, checked before any node runs: store, top start, nested starts."""


@dataclass(frozen=True)
class ResumePoint:
    """The last completed node of a run and the store right after it."""

    run_id: str
    flow_name: str
    step: int
    path: str
    action: str | None
    store: Store


def resume_point(
    store: RunStore, run_id: str, statuses: tuple[str, ...] | None = RESUMABLE
) -> ResumePoint:
    """The point a failed, cancelled or interrupted run (or a run in ``statuses``; None:
    the caller checked the status) continues from.

    A resumed run that failed before completing any node continues from the point of the
    run it resumed; a run that paused before any node completed, from its start.
    """
    seen: list[str] = []
    while True:
        run = store.get_run(run_id)
        if run is None:
            raise RunNotFound(
                f"no run {run_id!r} in {store.location}; list the recorded runs with "
                "WorkflowDB.list_runs() (or check db_path)"
            )
        if not seen and statuses is not None:
            _check_status(run, statuses)
        seen.append(run_id)
        last = store.last_checkpoint(run_id)  # commit order: a nested flow ends after its nodes
        if last is not None:
            return point_at(store, run, last)
        origin = run.get("resumed_from")
        if (not origin or origin in seen) and run.get("start_store"):
            return _start_point(run)  # the chain's first run paused in its first node
        if not origin or origin in seen:
            raise ResumeError(
                f"run {seen[0]!r} of flow {run['flow_name']!r} has no checkpoint: no node "
                "completed before it stopped, so there is nothing to resume; run the flow "
                "again from the start"
            )
        run_id = origin


def _start_point(run: Mapping[str, Any]) -> ResumePoint:
    """A run that paused in (or halted before) its first node: it starts again from the
    store it began with (step -1, no path)."""
    try:
        data = loads(run["start_store"])
    except (ValueError, RecursionError) as exc:
        raise ResumeError(f"the start store of run {run['run_id']!r} is damaged: {exc}") from None
    store = Store(data=data, name=f"{run['run_id']}@start")
    return ResumePoint(run["run_id"], run["flow_name"], -1, "", None, store)


def _check_status(run: Mapping[str, Any], statuses: tuple[str, ...] = RESUMABLE) -> None:
    status, run_id = run["status"], run["run_id"]
    if status == "waiting" and "waiting" not in statuses:
        raise ResumeError(
            f"run {run_id!r} of flow {run['flow_name']!r} is waiting for an answer; answer it "
            f"with flow.resume({run_id!r}, answer=...) (or pocketflow-ext answer)"
        )
    if status == "completed":
        raise ResumeError(
            f"run {run_id!r} of flow {run['flow_name']!r} completed; only failed, cancelled "
            "or interrupted runs can be resumed (run the flow again for a new run)"
        )
    if status not in statuses:
        raise ResumeError(
            f"run {run_id!r} of flow {run['flow_name']!r} is {status}; wait for it to end "
            "(or cancel it) before resuming it"
        )
    message = resumed_before_message(run)
    if message is not None:
        # _check_status <- resume_point <- prepare_resume <- _prepare_for
        # <- _prepare_continuation <- flow.resume (or resume_background) <- caller
        warnings.warn(message, UserWarning, stacklevel=7)


def point_at(store: RunStore, run: Mapping[str, Any], checkpoint: Mapping[str, Any]) -> ResumePoint:
    """The point right after ``checkpoint`` (metadata as ``get_checkpoints`` gives) of ``run``."""
    run_id, step = run["run_id"], checkpoint["step"]
    # PocoFlow 0.2.1 checkpoints carry no path: their nodes are the top flow's own.
    path = checkpoint.get("path") or f"{run['flow_name']}/{checkpoint['node_name']}"
    ends = [
        e
        for e in store.get_events([run_id])
        if e["event"] == "node_end" and e["step"] == step and (e.get("path") or path) == path
    ]
    if not ends:
        raise ResumeError(
            f"run {run_id!r} has a checkpoint for step {step} ({path}) but no node_end event "
            "saying which action that node returned; resume it with "
            "flow.run(WorkflowDB.load_checkpoint(run_id, step), resume_from=<next node>)"
        )
    try:
        data = store.load_checkpoint(run_id, step)
    except CheckpointDamaged as exc:
        raise ResumeError(
            f"cannot resume run {run_id!r}: {exc}. Resume from an earlier step with "
            f"flow.run(WorkflowDB(...).load_checkpoint({run_id!r}, <step>), resume_from=<node>)"
        ) from None
    except PocketFlowExtError as exc:
        raise ResumeError(f"cannot resume run {run_id!r} from step {step}: {exc}") from None
    if data is None:  # deleted between the two reads
        raise ResumeError(f"run {run_id!r} has no checkpoint for step {step} any more")
    restored = Store(data=data, name=f"{run_id}@step{step}")
    return ResumePoint(run_id, run["flow_name"], step, path, ends[-1]["action"], restored)


def plan_starts(flow: Any, point: ResumePoint) -> tuple[Any, dict[str, Any]]:
    """The node the top flow starts at, and the start of each nested flow level on the way."""
    top_start, nested, _group = plan_group_starts(flow, point)
    return top_start, nested


def plan_group_starts(flow: Any, point: ResumePoint) -> tuple[Any, dict[str, Any], str | None]:
    """``plan_starts``, and the path of the Parallel group the run stopped inside (None if
    it did not): the group runs again, as the start of its level."""
    label = flow_label(flow)
    if point.path == "":  # paused before any node completed: from the start
        if point.flow_name != label:
            raise ResumeError(
                f"run {point.run_id!r} was recorded by flow {point.flow_name!r}, not {label!r}; "
                "resume it with the flow that recorded it"
            )
        return naming_root(flow), {}, None
    top, *segments = point.path.split("/")
    if top != label or not segments:
        raise ResumeError(
            f"run {point.run_id!r} was recorded by flow {top!r}, not {label!r}; resume it "
            "with the flow that recorded it"
        )
    current, level_path = flow, label
    top_start: Any = None
    nested: dict[str, Any] = {}
    group_path = None
    for i, name in enumerate(segments):
        _check_not_batch(current, level_path, point)
        node = find_node(current, name)
        if node is None:
            raise ResumeError(
                f"run {point.run_id!r} stopped after node {point.path!r}, but flow "
                f"{level_path!r} no longer has a node named {name!r} (its nodes: "
                f"{', '.join(sorted(node_names(current).values()))}); resume with the graph "
                "that recorded the run, or start a new run"
            )
        if i == len(segments) - 1:
            start = node.successors.get(point.action or "default")
            if start is None:
                raise _nothing_left(point, name, level_path, nested=i > 0)
        elif is_group(node):
            # Stopped inside a group: it runs again, without the branches that finished.
            start, group_path = node, f"{level_path}/{name}"
        elif isinstance(node, pocketflow.Flow):
            start = node
        else:
            raise ResumeError(
                f"run {point.run_id!r} stopped inside a flow that node {name!r} ran from its "
                f"own code ({point.path}); that is not part of the graph, so it cannot be "
                f"resumed mid-way: resume_from={name!r} with an earlier checkpoint instead"
            )
        if i == 0:
            top_start = start
        else:
            nested[level_path] = start
        if group_path is not None:
            break
        current, level_path = node, f"{level_path}/{name}"
    return top_start, nested, group_path


def _check_not_batch(flow: Any, level_path: str, point: ResumePoint) -> None:
    if isinstance(flow, pocketflow.BatchFlow):
        raise ResumeError(
            f"run {point.run_id!r} stopped inside BatchFlow {level_path!r} ({point.path}); "
            "resuming in the middle of batch iterations is not supported: run the batch "
            "again, or resume from a checkpoint outside it"
        )


def _nothing_left(point: ResumePoint, name: str, level_path: str, nested: bool) -> ResumeError:
    action = point.action or "default"
    if nested:
        return ResumeError(
            f"run {point.run_id!r} stopped after {point.path!r}, the last node of nested flow "
            f"{level_path!r} (action {action!r} has no successor), before that flow's end was "
            "recorded; continuing from there is not supported: resume_from the node after "
            f"{level_path.rsplit('/', 1)[-1]!r} with this checkpoint's store"
        )
    return ResumeError(
        f"run {point.run_id!r} stopped after {name!r}, whose action {action!r} has no "
        "successor in the graph: no node is left to run"
    )


def restored_store(
    point: ResumePoint,
    overrides: Mapping[str, Any] | None,
    live: Mapping[str, Any] | None = None,
) -> Store:
    """The checkpoint's store with ``overrides`` applied; refuses unserialisable markers.

    ``live``: the store a script is resuming into (``pocketflow-ext run --resume``); its
    values stand in for the keys the checkpoint could not save, as overrides would.
    """
    store = point.store
    if overrides:
        store.update(overrides)
    if live is not None:
        store.update({k: live[k] for k, v in store.items() if k in live and holds_marker(v)})
    lost = [key for key, value in store.items() if holds_marker(value)]
    if lost and live is not None:
        raise ResumeError(
            f"the checkpoint of run {point.run_id!r} (step {point.step}) could not save "
            f"{', '.join(map(repr, lost))} (not JSON) and the script's store has no value for "
            "them when it runs the flow; set them in the store before flow.run()"
        )
    if lost:
        raise ResumeError(
            f"the checkpoint of run {point.run_id!r} (step {point.step}) could not save "
            f"{', '.join(map(repr, lost))} (not JSON); pass the live values back with "
            f"resume(run_id, overrides={{{', '.join(f'{k!r}: ...' for k in lost)}}})"
        )
    return store


def prepare(
    flow: Any,
    store: RunStore,
    run_id: str,
    overrides: Mapping[str, Any] | None,
    live: Mapping[str, Any] | None = None,
) -> Prepared:
    """Where run ``run_id`` (recorded in ``store``) continues in ``flow``, and its store."""
    return prepare_resume(flow, store, run_id, overrides, live)[0]


def prepare_resume(
    flow: Any,
    store: RunStore,
    run_id: str,
    overrides: Mapping[str, Any] | None,
    live: Mapping[str, Any] | None = None,
) -> tuple[Prepared, dict[str, Any]]:
    """``prepare``, and the options the new run carries: for a run that stopped inside a
    Parallel group, the branches that finished (the group then runs only the others)."""
    check_resumable_kind(flow, "resume")
    point = resume_point(store, run_id)
    top_start, nested, group_path = plan_group_starts(flow, point)
    if group_path is None:
        return (restored_store(point, overrides, live), top_start, nested), {}
    group = group_resume(store, point.run_id, group_path)
    point = dataclasses.replace(point, store=group.store)
    return (restored_store(point, overrides, live), top_start, nested), group.options()
