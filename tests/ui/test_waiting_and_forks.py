"""The monitor on a waiting run (its question, the code and command that answer it) and on
forks (origin and descendants); the status filter finds waiting runs. Read-only throughout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from monitor_app import KEY, monitor, open_run, runs_shown

from pocketflow_ext import Flow, Node, WaitingForAnswer, interrupt
from pocketflow_ext.ui.display import plain

pytestmark = pytest.mark.timeout(120)


class Draft(Node):
    def post(self, shared: Any, prep_res: Any, exec_res: Any) -> None:
        shared["draft"] = "v1"


class Review(Node):
    def prep(self, shared: Any) -> Any:
        return interrupt({"question": "Publish?", "draft": shared["draft"]})


def _flow(db: Path) -> Flow:
    draft = Draft()
    draft >> Review()
    return Flow(start=draft, db_path=db, flow_name="article")


@pytest.fixture
def waiting_db(tmp_path: Path) -> tuple[Path, str, str]:
    """A database with a waiting run and a fork of it (recorded, then closed)."""
    db = tmp_path / "runs.db"
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
    waiting_db: tuple[Path, str, str],
) -> None:
    db, run_id, _fork = waiting_db
    app = open_run(monitor(db), run_id)
    codes = [str(c.value) for c in app.code]
    assert any('"question": "Publish?"' in c for c in codes)
    assert any(f"flow.resume({run_id!r}, db_path={str(db)!r}, answer=...)" in c for c in codes)
    assert any(c.startswith(f"pocketflow-ext answer {run_id} '<JSON answer>'") for c in codes)
    assert "Waiting for an answer at Review" in _texts(app)
    assert not [b for b in app.button if "answer" in str(b.label).lower()]  # shows, never answers


def test_the_status_filter_finds_waiting_runs(waiting_db: tuple[Path, str, str]) -> None:
    db, run_id, fork = waiting_db
    app = monitor(db)
    app.multiselect(key=f"{KEY}-status").set_value(["waiting"]).run()
    assert sorted(runs_shown(app)) == sorted([run_id, fork])
    table = app.dataframe[0].value.set_index("Run id")
    assert table.loc[run_id, "Status"] == "⏸ waiting"


def test_a_fork_and_its_origin_name_each_other(waiting_db: tuple[Path, str, str]) -> None:
    db, run_id, fork = waiting_db
    origin = open_run(monitor(db), run_id).dataframe[1].value
    assert list(origin["Forked by"]) == [fork]
    forked = open_run(monitor(db), fork).dataframe[1].value
    assert list(forked["Forked from"]) == [f"{run_id} at step 0"]


def test_lineage_links_open_the_origin_and_the_fork(waiting_db: tuple[Path, str, str]) -> None:
    db, run_id, fork = waiting_db
    app = open_run(monitor(db), fork)
    (link,) = [b for b in app.button if "forked at step 0 from" in str(b.label)]
    link.click().run()
    assert not app.exception
    assert f"Run {plain(run_id)}" in [str(h.value) for h in app.subheader]
    (back,) = [b for b in app.button if "forked by" in str(b.label)]
    back.click().run()
    assert f"Run {plain(fork)}" in [str(h.value) for h in app.subheader]
