"""The Resume tab's Python, executed: it continues the recorded run after the chosen
checkpoint and never re-runs the checkpointed node."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
import record_runs
from monitor_app import monitor, open_run, tab
from record_runs import Publish, writer
from store_sql import execute

from pocketflow_ext import Node
from pocketflow_ext.runstore import open_store
from pocketflow_ext.runstore.location import masked
from pocketflow_ext.ui.resume_snippet import python_snippet, resume_command, resume_point


class Broken(Node):
    """The fixed version of the node that failed (same name, so the same graph)."""

    def post(self, shared: Any, prep_res: Any, exec_res: Any) -> None:
        shared["published"] = True


def snippet_for(db: Path, run_id: str, step: int | None = None) -> str:
    with open_store(db, readonly=True) as store:
        run = store.get_run(run_id)
        assert run is not None
        checkpoints = store.get_checkpoints(run_id)
        events = store.get_events([run_id])
        chosen = step if step is not None else max(checkpoints, key=lambda c: c["id"])["step"]
        return python_snippet(
            run, resume_point(checkpoints, events, chosen), str(db), has_resume=True
        )


def run_snippet(snippet: str, db: Path, run_id: str) -> dict[str, Any]:
    """Execute the snippet with ``build_flow`` building the fixed flow under a new run id."""
    namespace: dict[str, Any] = {"build_flow": lambda: writer(str(db), Broken(), run_id)}
    exec(compile(snippet, "<resume snippet>", "exec"), namespace)
    return namespace


def started_nodes(db: Path | str, run_id: str) -> list[str]:
    rows = execute(
        str(db),
        "SELECT node_name FROM pf_events WHERE run_id = ? AND event = 'node_start' ORDER BY id",
        (run_id,),
    )
    return [r[0] for r in rows]


def test_latest_checkpoint_snippet_resumes_the_failed_run_at_the_failed_node(
    recorded_db: Path,
) -> None:
    snippet = snippet_for(recorded_db, "writer-bad")
    namespace = run_snippet(snippet, recorded_db, "writer-fixed")
    assert started_nodes(recorded_db, "writer-fixed") == ["Broken"]  # Review is not re-run
    assert namespace["store"]["published"] is True
    assert namespace["store"]["draft_count"] == 2  # the checkpoint's store carried over
    origin = execute(recorded_db, "SELECT resumed_from FROM pf_runs WHERE run_id = 'writer-fixed'")
    assert origin == [("writer-bad",)]


def test_earlier_checkpoint_snippet_continues_with_the_node_that_ran_next(
    recorded_db: Path,
) -> None:
    record_runs.Draft.calls = 1  # no flaky first call in this process
    snippet = snippet_for(recorded_db, "writer-bad", step=2)  # after the first Review
    namespace = run_snippet(snippet, recorded_db, "writer-again")
    assert started_nodes(recorded_db, "writer-again") == ["Draft", "Review", "Broken"]
    assert namespace["store"]["draft_count"] == 2
    assert namespace["store"]["published"] is True


def test_snippet_after_the_last_node_says_nothing_is_left(recorded_db: Path) -> None:
    snippet = snippet_for(recorded_db, "writer-ok")
    assert "nothing to continue" in snippet
    namespace = run_snippet(snippet, recorded_db, "unused")
    assert namespace["store"]["published"] is True  # it loads the final store to inspect


def test_pocoflow_run_snippet_resumes_with_resume_from(pocoflow_db: Path) -> None:
    with open_store(pocoflow_db, readonly=True) as store:
        run = store.get_run("writer-bad-0002")
        assert run is not None
        point = resume_point(
            store.get_checkpoints("writer-bad-0002"),
            store.get_events(["writer-bad-0002"]),
            4,
        )
    snippet = python_snippet(run, point, str(pocoflow_db), has_resume=False)
    assert "flow.run(store, resume_from='Publish')" in snippet
    assert "readonly=True" in snippet  # loading the store must not migrate PocoFlow's file
    # `pocketflow-ext run` records pocketflow-ext's schema: no CLI resume into PocoFlow's file.
    assert resume_command(run, point, str(pocoflow_db), has_resume=False) is None
    namespace: dict[str, Any] = {"build_flow": lambda: writer(str(pocoflow_db), Publish(), "x")}
    first = snippet.split("flow = build_flow()")[0]  # only load the store: the graph differs
    exec(compile(first, "<resume snippet>", "exec"), namespace)
    assert namespace["store"]["rounds"] == 2


class StillBroken(Node):
    name = "Broken"

    def exec(self, prep_res: Any) -> None:
        raise ValueError("still offline")


def test_resumed_run_without_checkpoints_resumes_through_its_origin(recorded_db: Path) -> None:
    flow = writer(str(recorded_db), StillBroken(), "writer-retry")
    with pytest.raises(ValueError, match="still offline"):
        flow.resume("writer-bad")  # fails at its first node: no checkpoint of its own
    app = open_run(monitor(recorded_db), "writer-retry")
    snippet = tab(app, "Resume").code[0].value
    assert "flow.resume('writer-retry'" in snippet
    command = tab(app, "Resume").code[1].value
    shown = shlex.quote(masked(str(recorded_db)))  # a URL's password stays off the page
    assert command == f"pocketflow-ext run --db {shown} --resume writer-retry your_script.py"
    # The user puts the password back in (for a file, nothing changes).
    run_snippet(
        snippet.replace(masked(str(recorded_db)), str(recorded_db)), recorded_db, "writer-final"
    )
    assert started_nodes(recorded_db, "writer-final") == ["Broken"]


def test_resume_tab_warns_that_a_running_run_has_not_ended(pocoflow_db: Path) -> None:
    app = open_run(monitor(pocoflow_db), "crashing-0001")
    assert "has not ended" in tab(app, "Resume").warning[0].value
