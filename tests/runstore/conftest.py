"""Run databases for the store's tests: runs recorded by real flows, and a file written by
the real PocoFlow 0.2.1 package (``tests/ui/fixtures/pocoflow-0.2.1.db``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pocketflow_ext import Flow, Node

POCOFLOW_DB = Path(__file__).resolve().parents[1] / "ui" / "fixtures" / "pocoflow-0.2.1.db"


class Put(Node):
    def __init__(self, key: str, action: str | None = None) -> None:
        super().__init__()
        self.key, self.action, self.name = key, action, key

    def post(self, shared, prep_res, exec_res):
        shared[self.key] = len(shared)
        return self.action


class Boom(Node):
    def exec(self, prep_res):
        raise ValueError("publisher offline")


def chain(*nodes: Node) -> Node:
    for a, b in zip(nodes, nodes[1:], strict=False):
        a >> b
    return nodes[0]


def record_runs(path: Path) -> Path:
    """``writer-ok`` (3 nodes, completed), ``writer-bad`` (failed at its second node) and
    ``nested-ok`` (a nested flow), recorded by real flows."""
    Flow(start=chain(Put("a"), Put("b"), Put("c")), db_path=path, flow_name="writer",
         run_id="writer-ok").run({})  # fmt: skip
    with pytest.raises(ValueError):
        Flow(start=chain(Put("a"), Boom()), db_path=path, flow_name="writer",
             run_id="writer-bad").run({})  # fmt: skip
    inner = Flow(start=chain(Put("x"), Put("y")), flow_name="Inner")
    Flow(start=chain(Put("a"), inner), db_path=path, flow_name="nested",
         run_id="nested-ok").run({})  # fmt: skip
    return path


@pytest.fixture
def recorded_db(tmp_path: Path) -> Path:
    return record_runs(tmp_path / "runs.db")


@pytest.fixture
def pocoflow_db(tmp_path: Path) -> Path:
    """A copy of a database written by PocoFlow 0.2.1 itself."""
    target = tmp_path / "pocoflow.db"
    shutil.copyfile(POCOFLOW_DB, target)
    return target
