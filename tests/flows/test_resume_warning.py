"""Resuming a run that an earlier resume already completed warns (twice the side effects)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from pocketflow_ext import Flow, Node


class Flaky(Node):
    broken = True

    def post(self, shared, prep_res, exec_res):
        if Flaky.broken:
            raise RuntimeError("Flaky is broken")
        shared["done"] = True


class First(Node):
    def post(self, shared, prep_res, exec_res):
        shared["first"] = True


def build(db: Path) -> Flow:
    first = First()
    first >> Flaky()
    return Flow(start=first, db_path=db, flow_name="job")


def test_resuming_a_run_already_resumed_to_completion_warns(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    Flaky.broken = True
    with pytest.raises(RuntimeError):
        build(db).run({})
    (failed,) = build(db).db.list_runs()
    Flaky.broken = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the first resume is not warned about
        build(db).resume(failed["run_id"])
    with pytest.warns(UserWarning, match="already resumed and completed") as caught:
        build(db).resume(failed["run_id"])
    assert caught[0].filename == __file__  # points at the caller's resume() line
