"""Flows the Dask tests run on worker processes (importable there: spawned workers get
the test process's ``sys.path``, which holds this directory)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pocketflow_ext import Flow, Node


class First(Node):
    def post(self, shared, prep_res, exec_res):
        shared["first"] = shared.get("first", 0) + 1


class Hold(Node):
    """Marks that it started, then waits while the hold file exists (at most a minute)."""

    def prep(self, shared):
        return shared["hold"]

    def exec(self, hold):
        Path(hold + ".started").touch()
        deadline = time.monotonic() + 60
        while Path(hold).exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    def post(self, shared, prep_res, exec_res):
        shared["held"] = True


class Last(Node):
    def post(self, shared, prep_res, exec_res):
        shared["last"] = True


def build(db: str, run_id: str | None = None) -> Flow:
    first = First()
    first >> Hold() >> Last()
    return Flow(start=first, db_path=db, flow_name="held", run_id=run_id)


def run_held(db: str, run_id: str, hold: str) -> dict[str, Any]:
    shared: dict[str, Any] = {"hold": hold}
    build(db, run_id).run(shared)
    return shared


def resume_held(db: str, run_id: str) -> dict[str, Any]:
    return dict(build(db).resume(run_id))
