"""Checkpoint text of a shared store: plain values as the C encoder writes them, hostile values cost only their key."""

from __future__ import annotations

import json
import math
import os
import threading
import warnings
from pathlib import Path

import pytest

from pocketflow_ext import Flow, Node, Store, Unserialisable, WorkflowDB
from pocketflow_ext.recording.snapshot import store_json
from pocketflow_ext.store.codec import loads

SURROGATE_NAME = os.fsdecode(b"report-\xff.txt")
HUGE = 10**5000 + 7


@pytest.mark.parametrize("store", [{"a": 1, "b": "x", "c": 2.5, "d": None}, Store({"a": True})])
def test_a_store_of_plain_scalars_is_the_text_the_c_encoder_writes(store) -> None:
    assert json.dumps(dict(store), ensure_ascii=False) == store_json(store)[0]


@pytest.mark.parametrize(
    "store",
    [
        {"name": SURROGATE_NAME},
        {SURROGATE_NAME: 1},
        {"n": HUGE},
        {"x": math.nan},
        {"x": -math.inf},
        {1: "int key"},
        {"pair": (1, 2)},
        {"items": [1]},
    ],
    ids=["surrogate-value", "surrogate-key", "huge-int", "nan", "inf", "int-key", "tuple", "list"],
)
def test_stores_that_need_the_codec_come_back_exactly(store) -> None:
    text, lossy = store_json(store)
    text.encode("utf-8")
    back = loads(text)
    assert lossy == [] and list(back) == list(store)
    assert all((isinstance(v, float) and math.isnan(v)) or back[k] == v for k, v in store.items())


def test_a_shared_value_that_is_not_a_mapping_is_saved_under_one_key() -> None:
    assert loads(store_json([1, (2,)])[0]) == {"shared": [1, (2,)]}
    text, lossy = store_json(threading.Lock())
    assert lossy == ["shared"] and isinstance(loads(text)["shared"], Unserialisable)


class WriteHostile(Node):
    def post(self, shared, prep_res, exec_res):
        shared["file"] = SURROGATE_NAME
        shared["big"] = HUGE
        shared["ratio"] = math.nan
        shared["nested"] = {"pair": (1, 2), 3: [b"raw"]}
        shared["lock"] = threading.Lock()
        return "default"


class Then(Node):
    def post(self, shared, prep_res, exec_res):
        shared["after"] = "still recorded"


class WriteFlatHostile(Node):
    """Only scalars: the store takes the flat-copy path, which must not let them through raw."""

    def post(self, shared, prep_res, exec_res):
        shared["file"] = SURROGATE_NAME
        shared["big"] = HUGE
        shared["ratio"] = math.inf


@pytest.mark.parametrize("durability", ["sync", "async", "exit"])
def test_a_run_with_hostile_scalars_records_them_exactly(tmp_path: Path, durability: str) -> None:
    db_path = tmp_path / "runs.db"
    Flow(start=WriteFlatHostile(), db_path=db_path, durability=durability).run({"seed": 1})
    db = WorkflowDB(db_path)
    run = db.list_runs()[0]
    checkpoints = db.get_checkpoints(run["run_id"])
    assert run["status"] == "completed" and len(checkpoints) == 1
    assert db.load_checkpoint(run["run_id"], step=checkpoints[0]["step"]) == {
        "seed": 1,
        "file": SURROGATE_NAME,
        "big": HUGE,
        "ratio": math.inf,
    }


@pytest.mark.parametrize("durability", ["sync", "async", "exit"])
def test_a_run_with_hostile_values_records_every_node_and_checkpoint(
    tmp_path: Path, durability: str
) -> None:
    db_path = tmp_path / "runs.db"
    start = WriteHostile()
    start >> Then()
    flow = Flow(start=start, db_path=db_path, flow_name="hostile", durability=durability)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        flow.run(Store({"seed": 1}))
    assert any("'lock'" in str(w.message) for w in caught)  # the one key that became a marker

    db = WorkflowDB(db_path)
    run = db.list_runs()[0]
    assert run["status"] == "completed"
    ends = [e for e in db.get_events(run["run_id"]) if e["event"] == "node_end"]
    assert [e["node_name"] for e in ends] == ["WriteHostile", "Then"]
    checkpoints = db.get_checkpoints(run["run_id"])
    assert len(checkpoints) == 2
    last = db.load_checkpoint(run["run_id"], step=checkpoints[-1]["step"])
    assert last["file"] == SURROGATE_NAME and last["big"] == HUGE and math.isnan(last["ratio"])
    assert last["nested"] == {"pair": (1, 2), 3: [b"raw"]} and last["after"] == "still recorded"
    assert isinstance(last["lock"], Unserialisable) and last["seed"] == 1
