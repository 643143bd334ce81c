"""Answering a waiting run: what it asked, where it continues, and the claim that lets
exactly one answer through (``RunStore.claim_waiting``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ...errors import ResumeError, RunNotFound
from ...runstore.base import RunStore
from ...store.codec import loads
from ..interrupt import Answers, is_halt
from .point import Prepared, plan_starts, restored_store, resume_point

NO_ANSWER: Any = object()
"""``answer=`` was not given (None is an answer)."""


def answer_values(answer: Any, answers: Sequence[Any] | None) -> list[Any] | None:
    """The answers given to ``resume``, in order; None when neither was given."""
    if answer is not NO_ANSWER and answers is not None:
        raise ResumeError("give answer= (one answer) or answers=[...] (several), not both")
    if answers is not None:
        if isinstance(answers, (str, bytes, Mapping)) or not isinstance(answers, Sequence):
            raise ResumeError(
                f"answers= takes a list of answers in the order interrupt() asks, got "
                f"{type(answers).__name__}; for one answer use answer="
            )
        return list(answers)
    return None if answer is NO_ANSWER else [answer]


def waiting_question(runs: RunStore, run_id: str) -> tuple[str, Any]:
    """The path of the node that asked and its question, from the run's last pause."""
    run = runs.get_run(run_id)
    if run is None:
        raise RunNotFound(
            f"no run {run_id!r} in {runs.location}; list waiting runs with "
            "pocketflow-ext runs --status waiting"
        )
    if run["status"] != "waiting":
        by = run.get("resumed_by") or []
        answered = f" (answered by run {by[0]!r})" if by and run["status"] == "completed" else ""
        raise ResumeError(
            f"run {run_id!r} of flow {run['flow_name']!r} is {run['status']}{answered}, not "
            "waiting for an answer; only a waiting run can be answered (list them with "
            "pocketflow-ext runs --status waiting)"
        )
    pauses = [e for e in runs.get_events([run_id]) if e["event"] == "run_waiting"]
    if not pauses:
        raise ResumeError(f"run {run_id!r} is waiting but recorded no run_waiting event")
    question = loads(run["question"]) if run.get("question") else None
    return str(pauses[-1]["path"]), question


def prepare_answer(
    flow: Any,
    runs: RunStore,
    run_id: str,
    values: list[Any],
    overrides: Mapping[str, Any] | None,
    live: Mapping[str, Any] | None = None,
) -> tuple[Prepared, Answers]:
    """Where a waiting run continues (the node that paused, from its start) and the
    answers its ``interrupt()`` calls get. A halted run's answer may edit the store:
    ``{"store": {key: value}}``."""
    path, question = waiting_question(runs, run_id)
    # waiting_question checked the status; another answer may have claimed it since, which
    # claim_answer reports.
    point = resume_point(runs, run_id, statuses=None)
    top_start, nested = plan_starts(flow, point)
    edits = dict(overrides or {})
    if is_halt(question) and values and isinstance(values[0], Mapping) and "store" in values[0]:
        store_edits = values[0]["store"]
        if not isinstance(store_edits, Mapping):
            raise ResumeError(
                'a halted run\'s answer {"store": ...} takes an object of store keys and '
                f"values, got {type(store_edits).__name__}"
            )
        edits = {**store_edits, **edits}
    store = restored_store(point, edits or None, live)
    return (store, top_start, nested), Answers(path, values)


def claim_answer(runs: RunStore, run_id: str) -> None:
    """Let exactly one answer through; the others get a ``ResumeError``."""
    if not runs.claim_waiting(run_id):
        run = runs.get_run(run_id) or {}
        by = run.get("resumed_by") or []
        raise ResumeError(
            f"run {run_id!r} was answered already"
            + (f" (by run {by[0]!r})" if by else "")
            + " or is no longer waiting; look at that run instead of answering again"
        )
