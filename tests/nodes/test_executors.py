"""executor=: exec on threads, processes and a Dask cluster; prep/post where the flow runs."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from executor_nodes import DiesOnThree, FlakyItems, Marks, Square, Upper

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


@pytest.mark.parametrize("executor", ["threads", "processes"])
def test_item_retries_happen_where_the_item_runs_and_reach_the_runs_events(
    executor: str, tmp_path: Path, events: list[pf.Event]
) -> None:
    node = FlakyItems(str(tmp_path), executor=executor, max_retries=3, name="Flaky")
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


def test_an_unpicklable_item_is_named_before_any_item_runs(tmp_path: Path) -> None:
    node = Marks(str(tmp_path), executor="processes")
    with pytest.raises(pf.ExecutorError, match=r"item 2 of node 'Marks' \(<unlocked _thread.lock"):
        pf.Flow(start=node).run({"items": [1, 2, threading.Lock()]})
    assert list(tmp_path.iterdir()) == []


def test_an_unpicklable_node_is_named_before_any_item_runs(tmp_path: Path) -> None:
    node = Marks(str(tmp_path), executor="processes")
    node.lock = threading.Lock()
    with pytest.raises(pf.ExecutorError, match="node 'Marks' cannot be sent"):
        pf.Flow(start=node).run({"items": [1, 2]})
    assert list(tmp_path.iterdir()) == []


def test_a_dying_worker_fails_the_node_naming_the_item() -> None:
    with pytest.raises(pf.ExecutorError, match="item 3 of node 'DiesOnThree' did not come back"):
        pf.Flow(start=DiesOnThree(executor="processes", max_workers=2)).run({"items": [0, 1, 2, 3]})


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


def test_a_dask_local_cluster_runs_items_with_retries_reported(
    tmp_path: Path, events: list[pf.Event]
) -> None:
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        shared: dict[str, Any] = {"items": list(range(6))}
        pf.Flow(start=Square(executor=client.get_executor())).run(shared)
        assert shared["squares"] == [i * i for i in range(6)]
        assert os.getpid() not in shared["exec_pids"]
        node = FlakyItems(str(tmp_path), executor=client.get_executor(), max_retries=2)
        shared = {"items": [0, 1]}
        pf.Flow(start=node, flow_name="F").run(shared)
        assert shared["results"] == ["item 0 after 1", "item 1 after 2"]
    assert [(e.kind, e.attempt) for e in events if e.kind == "node_retry"] == [("node_retry", 1)]
