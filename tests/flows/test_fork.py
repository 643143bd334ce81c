"""flow.fork(run_id, step=N, overrides=...): a new run from any checkpoint; the original
run and its checkpoints stay byte-for-byte as they were."""

from __future__ import annotations

from typing import Any

import pytest
from store_sql import execute

from pocketflow_ext import Flow, Node, ResumeError, RunNotFound, WaitingForAnswer, interrupt


class Add(Node):
    """Adds ``shared["step_size"]`` to ``shared["total"]`` and logs its name."""

    def post(self, shared: Any, prep_res: Any, exec_res: Any) -> None:
        shared["total"] = shared.get("total", 0) + shared["step_size"]
        shared.setdefault("ran", []).append(self.name)


class Boom(Node):
    def post(self, shared: Any, prep_res: Any, exec_res: Any) -> None:
        if shared.get("fail", True):
            raise RuntimeError("broken")
        shared.setdefault("ran", []).append("Boom")


def _chain(db: str, last: Node | None = None) -> Flow:
    a, b, c = Add(name="A"), Add(name="B"), Add(name="C")
    a >> b >> c
    if last is not None:
        c >> last
    return Flow(start=a, db_path=db, flow_name="sums")


def _rows(db: str, run_id: str) -> list[tuple[Any, ...]]:
    """Every stored row of one run, as stored (SQLite or PostgreSQL): the byte-for-byte
    picture of it."""
    return [
        *execute(db, "SELECT * FROM pf_runs WHERE run_id = ?", (run_id,)),
        *execute(db, "SELECT * FROM pf_events WHERE run_id = ? ORDER BY id", (run_id,)),
        *execute(db, "SELECT * FROM pf_checkpoints WHERE run_id = ? ORDER BY id", (run_id,)),
    ]


def _recorded(flow: Flow, store: dict[str, Any]) -> str:
    flow.run(store)
    return str(flow.db.list_runs(limit=1)[0]["run_id"])


def test_a_fork_follows_the_override_and_leaves_the_original_untouched(run_store_url: str) -> None:
    db = run_store_url
    original = _recorded(_chain(db), {"step_size": 1})
    before = _rows(db, original)

    store = _chain(db).fork(original, step=0, overrides={"step_size": 10})

    assert store["ran"] == ["A", "B", "C"] and store["total"] == 1 + 10 + 10
    assert _rows(db, original) == before
    flow = _chain(db)
    fork = flow.db.get_run(flow.db.list_runs(limit=1)[0]["run_id"])
    assert fork["forked_from"] == original and fork["forked_at_step"] == 0
    assert flow.db.get_run(original)["forked_by"] == [fork["run_id"]]


def test_fork_defaults_to_the_latest_checkpoint(run_store_url: str) -> None:
    db = run_store_url
    flow = _chain(db, Boom())
    with pytest.raises(RuntimeError):
        flow.run({"step_size": 1})
    original = str(flow.db.list_runs(limit=1)[0]["run_id"])
    before = _rows(db, original)
    store = _chain(db, Boom()).fork(original, overrides={"fail": False})
    assert store["ran"] == ["A", "B", "C", "Boom"] and store["total"] == 3
    assert _rows(db, original) == before


@pytest.mark.parametrize("status", ["completed", "failed", "waiting"])
def test_runs_of_any_status_can_be_forked(run_store_url: str, status: str) -> None:
    db = run_store_url

    class Ask(Node):
        def prep(self, shared: Any) -> Any:
            return interrupt("go on?")

    last: Node | None = {"completed": None, "failed": Boom(), "waiting": Ask()}[status]
    flow = _chain(db, last)
    try:
        flow.run({"step_size": 2})
    except (RuntimeError, WaitingForAnswer):
        pass
    original = str(flow.db.list_runs(limit=1)[0]["run_id"])
    assert flow.db.get_run(original)["status"] == status
    before = _rows(db, original)
    store = _chain(db).fork(original, step=1, overrides={"step_size": 5})
    assert store["ran"] == ["A", "B", "C"] and store["total"] == 2 + 2 + 5
    assert _rows(db, original) == before


def test_a_step_without_a_checkpoint_is_refused_listing_the_steps(run_store_url: str) -> None:
    db = run_store_url
    original = _recorded(_chain(db), {"step_size": 1})
    with pytest.raises(ResumeError, match="no checkpoint for step 7; its steps are 0, 1, 2"):
        _chain(db).fork(original, step=7)


def test_forking_after_the_last_node_says_nothing_is_left(run_store_url: str) -> None:
    db = run_store_url
    original = _recorded(_chain(db), {"step_size": 1})
    with pytest.raises(ResumeError, match="no node is left to run"):
        _chain(db).fork(original)


def test_forking_an_unknown_run_names_it(run_store_url: str) -> None:
    with pytest.raises(RunNotFound, match="no run 'nope'"):
        _chain(run_store_url).fork("nope")


def test_a_fork_in_the_background_records_its_origin(run_store_url: str) -> None:
    db = run_store_url
    original = _recorded(_chain(db), {"step_size": 1})
    handle = _chain(db).fork_background(original, step=1, overrides={"step_size": 3})
    assert handle.wait(timeout=60)["total"] == 1 + 1 + 3
    assert _chain(db).db.get_run(handle.run_id)["forked_at_step"] == 1
