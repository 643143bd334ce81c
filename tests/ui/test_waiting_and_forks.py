"""The monitor on a waiting run (its question, the code and command that answer it) and on
forks (origin and descendants); the status filter finds waiting runs. Read-only throughout."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from monitor_app import KEY, monitor, open_run, runs_shown
from store_sql import is_postgres

from pocketflow_ext import Flow, Node, WaitingForAnswer, interrupt
from pocketflow_ext.runstore.location import masked
from pocketflow_ext.ui.display import plain

pytestmark = pytest.mark.timeout(120)


class Draft(Node):
    def post(self, shared: Any, prep_res: Any, exec_res: Any) -> None:
        shared["draft"] = "v1"


class Review(Node):
    def prep(self, shared: Any) -> Any:
        return interrupt({"question": "Publish?", "draft": shared["draft"]})


def _flow(db: str) -> Flow:
    draft = Draft()
    draft >> Review()
    return Flow(start=draft, db_path=db, flow_name="article")


@pytest.fixture
def waiting_db(run_store_url: str) -> tuple[str, str, str]:
    """A store (SQLite, then PostgreSQL) with a waiting run and a fork of it (recorded,
    then closed)."""
    db = run_store_url
    with pytest.raises(WaitingForAnswer) as caught:
        _flow(db).run({})
    run_id = str(caught.value.run_id)
    flow = _flow(db)
    with pytest.raises(WaitingForAnswer) as fork:
        flow.fork(run_id, step=0, overrides={"draft": "v2"})
    return db, run_id, str(fork.value.run_id)


def _texts(app: Any) -> str:
    return "\n".join(str(t.value) for t in app.text) + "\n".join(str(w.value) for w in app.warning)


def test_a_waiting_run_shows_its_question_and_how_to_answer_it(
    waiting_db: tuple[str, str, str],
) -> None:
    db, run_id, _fork = waiting_db
    app = open_run(monitor(db), run_id)
    codes = [str(c.value) for c in app.code]
    assert any('"question": "Publish?"' in c for c in codes)
    # A URL's password stays off the page (the reader puts it back, as for a resume).
    assert any(f"flow.resume({run_id!r}, db_path={masked(db)!r}, answer=...)" in c for c in codes)
    assert not is_postgres(db) or all(db not in c for c in codes)
    assert any(c.startswith(f"pocketflow-ext answer {run_id} '<JSON answer>'") for c in codes)
    assert "Waiting for an answer at Review" in _texts(app)
    assert not [b for b in app.button if "answer" in str(b.label).lower()]  # shows, never answers


def test_the_status_filter_finds_waiting_runs(waiting_db: tuple[str, str, str]) -> None:
    db, run_id, fork = waiting_db
    app = monitor(db)
    app.multiselect(key=f"{KEY}-status").set_value(["waiting"]).run()
    assert sorted(runs_shown(app)) == sorted([run_id, fork])
    table = app.dataframe[0].value.set_index("Run id")
    assert table.loc[run_id, "Status"] == "⏸ waiting"


def test_a_fork_and_its_origin_name_each_other(waiting_db: tuple[str, str, str]) -> None:
    db, run_id, fork = waiting_db
    origin = open_run(monitor(db), run_id).dataframe[1].value
    assert list(origin["Forked by"]) == [fork]
    forked = open_run(monitor(db), fork).dataframe[1].value
    assert list(forked["Forked from"]) == [f"{run_id} at step 0"]


def test_lineage_links_open_the_origin_and_the_fork(waiting_db: tuple[str, str, str]) -> None:
    db, run_id, fork = waiting_db
    app = open_run(monitor(db), fork)
    (link,) = [b for b in app.button if "forked at step 0 from" in str(b.label)]
    link.click().run()
    assert not app.exception
    assert f"Run {plain(run_id)}" in [str(h.value) for h in app.subheader]
    (back,) = [b for b in app.button if "forked by" in str(b.label)]
    back.click().run()
    assert f"Run {plain(fork)}" in [str(h.value) for h in app.subheader]


SCRIPT = """
import pocketflow

class Draft(pocketflow.Node):
    pass

class Review(pocketflow.Node):
    pass

draft = Draft()
draft >> Review()
pocketflow.Flow(start=draft).run({})
"""


def test_the_answer_command_of_a_recorded_script_names_its_store(
    run_store_url: str, tmp_path: Path
) -> None:
    """A run recorded by ``pocketflow-ext run``: the monitor repeats that command, with the
    store as given (a file by its absolute path, a URL as it is, password masked)."""
    (tmp_path / "review.py").write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("POCKETFLOW_EXT_")}
    paused = subprocess.run(
        [sys.executable, "-m", "pocketflow_ext", "run", "--no-trace", "--db", run_store_url]
        + ["--halt-before", "Review", "review.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert paused.returncode == 0, paused.stderr
    app = monitor(run_store_url)
    (run_id,) = runs_shown(app)
    codes = [str(c.value) for c in open_run(app, run_id).code]
    expected = (
        f"cd {shlex.quote(str(tmp_path))} && pocketflow-ext answer {run_id} '<JSON answer>' "
        f"--db {shlex.quote(masked(run_store_url))} {shlex.quote(str(tmp_path / 'review.py'))}"
    )
    assert expected in codes, codes
