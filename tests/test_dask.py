"""Runs fanned out over a real Dask ``LocalCluster`` (two worker processes) land in one
run store; a worker killed mid-run leaves its run ``interrupted`` and another worker
resumes it. On SQLite (workers on one machine) and PostgreSQL (``postgres_url`` rule)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("dask.distributed", reason='needs pip install -e ".[dask]"')

import dask  # noqa: E402
import dask_flows  # noqa: E402
from distributed import Client, KilledWorker, LocalCluster  # noqa: E402

from pocketflow_ext.runstore.open import open_store  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture
def db(run_store_url: str) -> str:
    return run_store_url


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    """Two single-threaded worker processes. Spawned workers inherit ``sys.path``, so the
    example's and the tests' flow modules import there too. A task whose worker dies is
    not re-run from scratch elsewhere (allowed-failures 0): resuming it is the point."""
    monkeypatch.syspath_prepend(str(EXAMPLES))
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        )
    with cluster, Client(cluster) as connected:
        yield connected


def test_twenty_mapped_runs_are_recorded_completed_by_the_workers(db: str, client: Client) -> None:
    import dask_runs

    built_there = [f"built-there-{i:02d}" for i in range(10)]
    drafts = client.gather(
        client.map(
            dask_runs.write_article, [db] * 10, built_there, [f"t{i}" for i in range(10)],
            pure=False,
        )
    )  # fmt: skip
    assert all(d.startswith("a draft following") for d in drafts)
    sent = [dask_runs.build(db, f"sent-{i:02d}") for i in range(10)]  # pickled to workers
    stores = client.gather(
        client.map(dask_runs.run_flow, sent, [{"topic": f"s{i}"} for i in range(10)], pure=False)
    )
    assert all("draft" in s for s in stores)

    workers = set(client.run(os.getpid).values())
    with open_store(db, readonly=True) as store:
        runs = {r["run_id"]: r for r in store.list_runs(limit=None)}
        assert sorted(runs) == sorted([*built_there, *(f"sent-{i:02d}" for i in range(10))])
        assert {r["status"] for r in runs.values()} == {"completed"}
        assert {r["pid"] for r in runs.values()} <= workers
        ends = [e for e in store.get_events(list(runs)) if e["event"] == "node_end"]
        assert len(ends) == 40  # Outline and Draft of each run


def test_a_killed_worker_leaves_its_run_interrupted_and_another_worker_resumes_it(
    db: str, client: Client, tmp_path: Path
) -> None:
    pids = client.run(os.getpid)  # worker address -> its process id
    victim, survivor = sorted(pids)
    hold = tmp_path / "hold"
    hold.touch()
    future = client.submit(
        dask_flows.run_held, db, "held-1", str(hold),
        workers=[victim], allow_other_workers=False, pure=False,
    )  # fmt: skip
    _wait_for(lambda: Path(f"{hold}.started").exists(), "the Hold node to start")
    os.kill(pids[victim], signal.SIGKILL)
    with pytest.raises(KilledWorker):
        future.result(timeout=60)

    with open_store(db, readonly=True) as store:
        _wait_for(lambda: store.get_run("held-1")["status"] == "interrupted", "interrupted")  # type: ignore[index]
        killed = store.get_run("held-1")
        assert killed is not None and killed["stored_status"] == "running"
        assert killed["pid"] == pids[victim]
        assert [c["node_name"] for c in store.get_checkpoints("held-1")] == ["First"]

    hold.unlink()
    resumed = client.submit(dask_flows.resume_held, db, "held-1", workers=[survivor], pure=False)
    shared = resumed.result(timeout=60)
    assert shared["first"] == 1 and shared["held"] and shared["last"]  # First did not run again

    with open_store(db, readonly=True) as store:
        (again,) = store.get_run("held-1")["resumed_by"]  # type: ignore[index]
        run = store.get_run(again)
        assert run is not None and run["status"] == "completed"
        assert run["pid"] == pids[survivor] and run["resumed_from"] == "held-1"
        ran = [e["node_name"] for e in store.get_events([again]) if e["event"] == "node_end"]
        assert ran == ["Hold", "Last"]


def _wait_for(condition, what: str, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
