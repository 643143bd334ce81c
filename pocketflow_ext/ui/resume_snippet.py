"""The Resume tab's text: Python that continues a recorded run after a chosen checkpoint.

A checkpoint is the store right *after* its node finished, so the run continues with the
node that started next; that node is read from the run's events (the first ``node_start``
written after the checkpointed node's ``node_end``), so the snippet never re-runs the
checkpointed node. The latest checkpoint of a failed, cancelled or interrupted run is
resumed with ``flow.resume(run_id)``, which finds the next node in the flow's graph itself
(nested flows too), or from the command line with ``pocketflow-ext run --resume RUN_ID
SCRIPT.py`` (the script ``pocketflow-ext run`` recorded, when it recorded the run).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .graph_dot import node_key
from .run_facts import RESUMABLE, resume_command_line


@dataclass(frozen=True)
class ResumePoint:
    """Checkpoint ``step`` of node ``node``; ``next_node``/``next_path`` is what ran after
    it (None when nothing did); ``latest`` when it is the run's last checkpoint."""

    step: int
    node: str
    next_node: str | None
    next_path: str | None
    latest: bool

    @property
    def nested_next(self) -> bool:
        """The next node is inside a nested flow, which ``resume_from`` cannot name."""
        return self.next_path is not None and self.next_path.count("/") > 1


def resume_point(
    checkpoints: Sequence[Mapping[str, Any]], events: Sequence[Mapping[str, Any]], step: int
) -> ResumePoint:
    chosen = next(c for c in checkpoints if int(c["step"]) == step)
    node = str(chosen.get("path") or chosen.get("node_name"))
    # The checkpoint was written when this node ended; the latest one is the last written.
    ended = [
        i
        for i, e in enumerate(events)
        if e.get("event") == "node_end" and e.get("step") == step and node_key(e) == node
    ]
    after = events[ended[-1] + 1 :] if ended else []
    first = next((e for e in after if e.get("event") == "node_start"), None)
    newest = max(checkpoints, key=lambda c: int(c.get("id") or c["step"]))
    return ResumePoint(
        step=step,
        node=node,
        next_node=None if first is None else str(first.get("node_name")),
        next_path=None if first is None else node_key(first),
        latest=int(newest["step"]) == step,
    )


def python_snippet(
    run: Mapping[str, Any], point: ResumePoint, db_path: str, *, has_resume: bool
) -> str:
    """Ready-to-paste Python that continues ``run`` after ``point``.

    ``has_resume``: the database has pocketflow-ext's schema, where ``flow.resume`` works.
    """
    run_id = str(run["run_id"])
    build = _build(run, db_path)
    load = (
        "from pocketflow_ext import WorkflowDB\n\n"
        f"store = WorkflowDB({db_path!r}, readonly=True).load_checkpoint({run_id!r}, "
        f"step={point.step})\n"
    )
    if has_resume and point.latest and run.get("status") in RESUMABLE:
        # flow.resume finds the node after the checkpointed one in the flow's graph, so
        # this holds whether or not the next node had started when the run stopped.
        after = (
            f"The next node to run is {point.next_path}."
            if point.next_path
            else f"It goes on with the node that follows {point.node} in the flow."
        )
        return (
            f"# Continue run {run_id!r} ({run.get('status')}) after its last checkpoint: "
            f"step {point.step} ({point.node}).\n# {after}\n"
            + build
            + f"store = flow.resume({run_id!r}, db_path={db_path!r})\n"
        )
    if point.next_node is None:
        return (
            f"# Nothing ran after step {point.step} ({point.node}) in run {run_id!r},\n"
            "# so there is nothing to continue. The store saved at that checkpoint:\n" + load
        )
    if point.nested_next:
        return (
            f"# After step {point.step} ({point.node}) the run went on inside a nested flow\n"
            f"# ({point.next_path}); resume_from only names nodes of the outer flow. Pick the\n"
            "# checkpoint of the nested flow itself, or the run's last checkpoint\n"
            "# (flow.resume(run_id) re-enters nested flows where they stopped).\n" + load
        )
    return (
        f"# Continue run {run_id!r} from the store saved after step {point.step} "
        f"({point.node});\n# the node that ran next was {point.next_path}, so the flow "
        "starts there.\n" + load + build + f"flow.run(store, resume_from={point.next_node!r})\n"
    )


def chained_snippet(run: Mapping[str, Any], db_path: str) -> str:
    """For a resumed run that stopped before its first checkpoint: ``flow.resume`` goes on
    from the point of the run it resumed."""
    run_id = str(run["run_id"])
    return (
        f"# Run {run_id!r} saved no checkpoint; it resumed {run.get('resumed_from')!r}, so it\n"
        "# continues from that run's last checkpoint.\n"
        + _build(run, db_path)
        + f"store = flow.resume({run_id!r}, db_path={db_path!r})\n"
    )


def _build(run: Mapping[str, Any], db_path: str) -> str:
    flow_name = str(run.get("flow_name") or "flow")
    return (
        f"flow = build_flow()  # your code: the {flow_name!r} flow built as for this run,\n"
        f"#                      with db_path={db_path!r} to record the continued run\n"
    )


def show_command(run: Mapping[str, Any], db_path: str) -> str:
    """The CLI line showing this run's timeline."""
    return f"pocketflow-ext show {shlex.quote(db_path)} {shlex.quote(str(run['run_id']))}"


def resume_command(
    run: Mapping[str, Any], point: ResumePoint | None, db_path: str, *, has_resume: bool
) -> str | None:
    """The CLI line continuing ``run`` by running the script that recorded it again, or None.

    ``pocketflow-ext run --resume`` continues after the run's last checkpoint only (as
    ``flow.resume`` does); ``point`` None: the run has no checkpoint but resumed another.
    The script is the one ``pocketflow-ext run`` recorded, else ``your_script.py``.
    """
    if not has_resume or run.get("status") not in RESUMABLE:
        return None
    if point is not None and not point.latest:
        return None
    return resume_command_line(run, db_path)[0]
