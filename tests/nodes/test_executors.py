"""executor=: exec on threads, processes and a Dask cluster; prep/post where the flow runs."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from executor_nodes import (
    CountsItems,
    DiesAtOnce,
    DiesOnceOnFour,
    DiesOnThree,
    FailsOnTwo,
    FlakyItems,
    Marks,
    Sleepy,
    Square,
    Upper,
    when_go,
)

import pocketflow_ext as pf


def test_threads_run_items_off_the_flow_thread_and_return_them_in_item_order() -> None:
    shared: dict[str, Any] = {"items": list(range(20))}
    pf.Flow(start=Square(executor="threads", max_workers=4)).run(shared)
    assert shared["squares"] == [i * i for i in range(20)]
    assert threading.get_ident() not in shared["exec_threads"]


def test_processes_run_only_exec_in_other_processes() -> None:
    shared: dict[str, Any] = {"items": list(range(10))}
    pf.Flow(start=Square(executor="processes", max_workers=2)).run(shared)
    assert shared["squares"] == [i * i for i in range(10)]
    assert shared["prep_pid"] == shared["post_pid"] == os.getpid()
    assert os.getpid() not in shared["exec_pids"]


@pytest.mark.parametrize(
    ("executor", "chunksize"),
    [("threads", None), ("processes", 1), ("processes", 3), ("dask", 2), ("dask", None)],
)
def test_item_retries_happen_where_the_item_runs_and_reach_the_runs_events(
    executor: Any,
    chunksize: int | None,
    tmp_path: Path,
    events: list[pf.Event],
    request: pytest.FixtureRequest,
) -> None:
    if executor == "dask":
        executor = request.getfixturevalue("dask_client").get_executor()
    node = FlakyItems(
        str(tmp_path), executor=executor, chunksize=chunksize, max_retries=3, name="Flaky"
    )
    shared: dict[str, Any] = {"items": [0, 1, 2, 3]}
    pf.Flow(start=node, flow_name="F").run(shared)
    assert shared["results"] == [
        "item 0 after 1",
        "item 1 after 2",
        "item 2 after 3",
        "fallback for 3",  # three attempts used up: exec_fallback, in the worker
    ]
    retries = [(e.path, e.attempt, e.error) for e in events if e.kind == "node_retry"]
    assert retries == [
        ("F/Flaky", 1, "OSError: item 1 attempt 1 failed"),
        ("F/Flaky", 1, "OSError: item 2 attempt 1 failed"),
        ("F/Flaky", 2, "OSError: item 2 attempt 2 failed"),
        ("F/Flaky", 1, "OSError: item 3 attempt 1 failed"),
        ("F/Flaky", 2, "OSError: item 3 attempt 2 failed"),
    ]


def test_retry_on_is_honoured_in_the_worker(tmp_path: Path) -> None:
    node = FlakyItems(str(tmp_path), executor="processes", max_retries=3, retry_on=ValueError)
    shared: dict[str, Any] = {"items": [0, 1]}
    pf.Flow(start=node).run(shared)
    assert shared["results"] == ["item 0 after 1", "fallback for 1"]  # OSError: not retried


@pytest.mark.parametrize("chunksize", [None, 2])
def test_an_unpicklable_item_is_named_before_any_item_runs(
    chunksize: int | None, tmp_path: Path
) -> None:
    node = Marks(str(tmp_path), executor="processes", chunksize=chunksize)
    with pytest.raises(pf.ExecutorError, match=r"item 2 of node 'Marks' \(<unlocked _thread.lock"):
        pf.Flow(start=node).run({"items": [1, 2, threading.Lock(), 4]})
    assert list(tmp_path.iterdir()) == []


def test_an_unpicklable_node_is_named_before_any_item_runs(tmp_path: Path) -> None:
    node = Marks(str(tmp_path), executor="processes")
    node.lock = threading.Lock()
    with pytest.raises(pf.ExecutorError, match="node 'Marks' cannot be sent"):
        pf.Flow(start=node).run({"items": [1, 2]})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("chunksize", [None, 3])
def test_a_dying_worker_fails_the_node_naming_the_item(chunksize: int | None) -> None:
    node = DiesOnThree(executor="processes", max_workers=2, chunksize=chunksize)
    with pytest.raises(pf.ExecutorError, match="item 3 of node 'DiesOnThree' did not come back"):
        pf.Flow(start=node).run({"items": list(range(8))})


def test_a_worker_that_dies_once_costs_only_a_rerun_of_the_broken_chunks(tmp_path: Path) -> None:
    node = DiesOnceOnFour(str(tmp_path), executor="processes", max_workers=2, chunksize=3)
    shared: dict[str, Any] = {"items": list(range(10))}
    pf.Flow(start=node).run(shared)
    assert shared["results"] == [i * 10 for i in range(10)]


def test_processes_get_the_items_in_chunks_each_with_one_copy_of_the_node() -> None:
    shared: dict[str, Any] = {"items": list(range(7))}
    pf.Flow(start=CountsItems(executor="processes", max_workers=2, chunksize=3)).run(shared)
    assert shared["counts"] == [1, 2, 3, 1, 2, 3, 1]


def test_automatic_chunks_are_about_four_per_worker() -> None:
    shared: dict[str, Any] = {"items": list(range(40))}
    pf.Flow(start=CountsItems(executor="processes", max_workers=2)).run(shared)
    assert shared["counts"] == [1, 2, 3, 4, 5] * 8  # 40 items / (4 chunks x 2 workers)


def test_threads_take_one_item_per_task_whatever_the_chunksize() -> None:
    shared: dict[str, Any] = {"items": list(range(10))}
    pf.Flow(start=Square(executor="threads", max_workers=3, chunksize=5)).run(shared)
    assert shared["squares"] == [i * i for i in range(10)]


@pytest.mark.parametrize("chunksize", [None, 4])
def test_the_first_failed_item_raises_and_its_chunk_stops_there(
    chunksize: int | None, tmp_path: Path, events: list[pf.Event]
) -> None:
    node = FailsOnTwo(str(tmp_path), executor="processes", max_workers=2, chunksize=chunksize)
    node.max_retries = 2
    with pytest.raises(ValueError, match="item 2 is bad"):
        pf.Flow(start=node, flow_name="F").run({"items": list(range(8))})
    ran = {p.name for p in tmp_path.iterdir()}
    assert {"ran0", "ran1", "ran2"} <= ran
    if chunksize == 4:
        assert "ran3" not in ran  # after the failure in item 2's chunk: never started
    assert [(e.kind, e.attempt) for e in events if e.kind == "node_retry"] == [("node_retry", 1)]


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "4"])
def test_a_bad_chunksize_is_refused_saying_what_it_takes(bad: Any) -> None:
    with pytest.raises(pf.ConfigurationError, match=r"chunksize must be an int >= 1 .* or None"):
        pf.BatchNode(executor="processes", chunksize=bad)


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("chunksize", 0, "chunksize must be an int >= 1"),
        ("max_workers", -1, "max_workers must be an int >= 1"),
        ("executor", "thread", "executor must be 'threads', 'processes' or"),
    ],
)
def test_bad_executor_settings_on_the_class_are_refused_when_a_node_is_made(
    setting: str, value: Any, message: str
) -> None:
    Chunky = type("Chunky", (Square,), {setting: value})
    with pytest.raises(pf.ConfigurationError, match=message):
        Chunky()


def test_a_given_executor_is_used_and_left_open() -> None:
    with ThreadPoolExecutor(2) as pool:
        shared: dict[str, Any] = {"items": [1, 2, 3]}
        pf.Flow(start=Square(executor=pool)).run(shared)
        assert pool.submit(lambda: "still open").result() == "still open"
    assert shared["squares"] == [1, 4, 9]


def test_a_parallel_group_ships_its_node_branches_exec() -> None:
    group = pf.Parallel(Upper("a"), Upper("b"), executor="processes")
    shared: dict[str, Any] = {"text": "hi"}
    pf.Flow(start=group).run(shared)
    assert shared["a"][0] == shared["b"][0] == "HI"
    assert os.getpid() not in {shared["a"][1], shared["b"][1]}


def test_a_parallel_group_ships_a_batch_branchs_items_one_by_one() -> None:
    group = pf.Parallel(Square(), Upper("a"), executor="processes", max_workers=2)
    shared: dict[str, Any] = {"items": [1, 2, 3], "text": "hi"}
    pf.Flow(start=group).run(shared)
    assert shared["squares"] == [1, 4, 9] and shared["a"][0] == "HI"
    assert os.getpid() not in shared["exec_pids"]


@pytest.mark.parametrize("go", [True, False])
def test_a_shipped_branch_keeps_its_when_condition(go: bool) -> None:
    group = pf.Parallel(Upper("a", when=when_go), Upper("b"), executor="processes")
    shared: dict[str, Any] = {"text": "hi", "go": go}
    pf.Flow(start=group).run(shared)
    assert ("a" in shared) is go and shared["b"][0] == "HI"
    if go:
        assert shared["a"][1] != os.getpid()


def test_a_branch_that_kills_its_worker_is_named_not_the_branches_beside_it() -> None:
    sleepers = [Sleepy(name=f"s{i}") for i in range(3)]
    group = pf.Parallel(*sleepers, DiesAtOnce(), executor="processes", max_workers=4)
    with pytest.raises(pf.ExecutorError, match="of node 'DiesAtOnce' did not come back"):
        pf.Flow(start=group).run({})


def test_executor_on_an_async_batch_node_is_refused() -> None:
    with pytest.raises(pf.ConfigurationError, match="executor= is for sync batch nodes"):
        pf.AsyncBatchNode(executor="threads")


def test_a_bad_executor_is_refused_naming_the_choices() -> None:
    with pytest.raises(pf.ConfigurationError, match="'threads', 'processes' or a concurrent"):
        pf.BatchNode(executor="cluster")


def test_a_batch_node_ships_with_its_settings_but_not_its_successors() -> None:
    from pocketflow_ext.nodes.executors import travelling_copy

    node = FlakyItems("/nowhere", executor="threads", max_retries=4, backoff=2.0)
    node >> Square()
    shipped = travelling_copy(node)
    assert shipped.successors == {} and node.successors
    assert (shipped.max_retries, shipped.backoff, shipped.folder) == (4, 2.0, "/nowhere")


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    """A real LocalCluster: two single-threaded worker processes."""
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def test_a_dask_local_cluster_runs_items_with_retries_reported(
    dask_client: Any, tmp_path: Path, events: list[pf.Event]
) -> None:
    shared: dict[str, Any] = {"items": list(range(6))}
    pf.Flow(start=Square(executor=dask_client.get_executor())).run(shared)
    assert shared["squares"] == [i * i for i in range(6)]
    assert os.getpid() not in shared["exec_pids"]
    node = FlakyItems(str(tmp_path), executor=dask_client.get_executor(), max_retries=2)
    shared = {"items": [0, 1]}
    pf.Flow(start=node, flow_name="F").run(shared)
    assert shared["results"] == ["item 0 after 1", "item 1 after 2"]
    assert [(e.kind, e.attempt) for e in events if e.kind == "node_retry"] == [("node_retry", 1)]


def test_dask_gets_about_four_chunks_per_worker_thread_by_default(dask_client: Any) -> None:
    shared: dict[str, Any] = {"items": list(range(24))}
    pf.Flow(start=CountsItems(executor=dask_client.get_executor())).run(shared)
    assert shared["counts"] == [1, 2, 3] * 8  # 24 items / (4 chunks x 2 worker threads)


def test_dask_raises_the_first_failed_item_of_a_chunk(dask_client: Any, tmp_path: Path) -> None:
    node = FailsOnTwo(str(tmp_path), executor=dask_client.get_executor(), chunksize=4)
    with pytest.raises(ValueError, match="item 2 is bad"):
        pf.Flow(start=node).run({"items": list(range(8))})
    assert "ran3" not in {p.name for p in tmp_path.iterdir()}


def test_an_unpicklable_item_is_named_before_any_item_runs_on_dask(
    dask_client: Any, tmp_path: Path
) -> None:
    node = Marks(str(tmp_path), executor=dask_client.get_executor())
    with pytest.raises(pf.ExecutorError, match=r"item 1 of node 'Marks' \(<unlocked _thread.lock"):
        pf.Flow(start=node).run({"items": [1, threading.Lock(), 3]})
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def fragile_dask_client() -> Iterator[Any]:
    """A LocalCluster whose scheduler runs a task again once after its worker dies."""
    distributed = pytest.importorskip("distributed")
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        )
    with cluster, distributed.Client(cluster) as client:
        yield client


def test_dask_runs_a_chunk_again_when_its_worker_dies_and_names_it_when_it_gives_up(
    fragile_dask_client: Any, tmp_path: Path
) -> None:
    executor = fragile_dask_client.get_executor()
    shared: dict[str, Any] = {"items": list(range(8))}
    pf.Flow(start=DiesOnceOnFour(str(tmp_path), executor=executor, chunksize=3)).run(shared)
    assert shared["results"] == [i * 10 for i in range(8)]  # the scheduler's own retry

    with pytest.raises(pf.ExecutorError, match="items 2-3 of node 'DiesOnThree' did not come back"):
        pf.Flow(start=DiesOnThree(executor=executor, chunksize=2)).run({"items": list(range(6))})


def test_executors_and_groups_run_without_importing_dask() -> None:
    script = (
        "import sys, pocketflow_ext as pf\n"
        "node = pf.BatchNode(executor='threads')\n"
        "pf.Flow(start=pf.Parallel(node, pf.Node())).run({})\n"
        "print(sorted(m for m in ('dask', 'distributed') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
