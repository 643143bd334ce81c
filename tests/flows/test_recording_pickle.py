"""A recording flow (``db_path=``) pickles into another process: its open store, writer and
recorder stay behind, and the copy re-opens the same store there (a relative SQLite path
is resolved where the flow was built, not where it arrives)."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from dask_flows import build

from pocketflow_ext.runstore.open import is_url, open_store

TESTS = Path(__file__).resolve().parents[1]
CHILD = """
import json, pickle, sys
flow = pickle.load(sys.stdin.buffer)
shared = {"hold": sys.argv[1]}
flow.run(shared)
print(json.dumps(shared))
"""


def test_a_recording_flow_records_into_its_store_after_unpickling_elsewhere(
    run_store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    db = run_store_url if is_url(run_store_url) else os.path.relpath(run_store_url, tmp_path)
    flow = build(db, "pickled-1")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "no-hold")],
        input=pickle.dumps(flow), capture_output=True, cwd=elsewhere, timeout=120,
        env={**os.environ, "PYTHONPATH": str(TESTS)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout)["last"] is True
    assert not (elsewhere / db).exists() or is_url(db)  # no second SQLite file over there
    with open_store(run_store_url, readonly=True) as store:
        run = store.get_run("pickled-1")
        assert run is not None and run["status"] == "completed"
        assert run["pid"] != os.getpid()
        assert [c["node_name"] for c in store.get_checkpoints("pickled-1")] == [
            "First",
            "Hold",
            "Last",
        ]


def test_the_flow_here_keeps_recording_after_being_pickled(
    run_store_url: str, tmp_path: Path
) -> None:
    flow = build(run_store_url)
    copy = pickle.loads(pickle.dumps(flow))
    for each in (flow, copy):
        each.run({"hold": str(tmp_path / "no-hold")})
    with open_store(run_store_url, readonly=True) as store:
        assert [r["status"] for r in store.list_runs()] == ["completed", "completed"]
