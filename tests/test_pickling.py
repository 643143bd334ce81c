"""Nodes and flows pickled into other processes keep every setting and behave the same.

Every drop-in class is sent, inside a flow with hooks, retry settings, names, ``then`` and
a wildcard edge (``graphs_to_pickle.py``), to a fresh interpreter through ``pickle`` and to
a spawned ``ProcessPoolExecutor`` worker; what its hooks saw comes back in the store.
"""

from __future__ import annotations

import copy
import multiprocessing
import os
import pickle
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from graphs_to_pickle import DROP_INS, build, run

import pocketflow_ext as pe

HERE = Path(__file__).parent
CHILD = """
import pickle, sys
import graphs_to_pickle
flows = pickle.load(sys.stdin.buffer)
pickle.dump({kind: graphs_to_pickle.run(flow) for kind, flow in flows.items()}, sys.stdout.buffer)
"""


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }


@pytest.fixture(scope="module")
def flows() -> dict:
    built = {kind: build(kind) for kind in DROP_INS}
    for flow in built.values():
        run(flow)  # sent after a run: caches filled in this process must not travel
    return built


@pytest.fixture(scope="module")
def seen_here(flows: dict) -> dict:
    return {kind: run(flow) for kind, flow in flows.items()}


@pytest.fixture(scope="module")
def seen_in_a_subprocess(flows: dict) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD],
        input=pickle.dumps(flows), capture_output=True, env=_env(), timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    return pickle.loads(done.stdout)


@pytest.fixture(scope="module")
def seen_in_a_process_pool(flows: dict) -> dict:
    # spawn: a fresh interpreter, so nothing set up in this one can leak into the worker;
    # a fresh one per flow where Python allows, so no flow relies on one run before it.
    spawn = multiprocessing.get_context("spawn")
    fresh = {"max_tasks_per_child": 1} if sys.version_info >= (3, 11) else {}
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn, **fresh) as pool:
        futures = {kind: pool.submit(run, flow) for kind, flow in flows.items()}
        return {kind: future.result(timeout=120) for kind, future in futures.items()}


@pytest.mark.parametrize("where", ["here", "in_a_subprocess", "in_a_process_pool"])
@pytest.mark.parametrize("kind", DROP_INS)
def test_a_flow_behaves_the_same_wherever_it_was_unpickled(
    kind: str, where: str, request: pytest.FixtureRequest
) -> None:
    seen = request.getfixturevalue(f"seen_{where}")[kind]
    # flow_name, hooks and the "*" edge after an action without an edge of its own
    assert (seen["flows"], seen["after"], seen["action"]) == (["Outer"], True, "end")
    assert seen["warnings"] == []
    if kind == "BaseNode":
        assert seen["marked"] is True
        return
    assert seen["tries"] == {"k": 1, "t": 3}  # retry_on=TimeoutError: the KeyError once
    assert seen["fallbacks"] == ["k"]
    name = (
        "Subject/Work" if kind.endswith("Flow") else "Subject"
    )  # explicit names, nested under a flow's
    (name1, attempt1, error1, delay1), (name2, attempt2, error2, delay2) = seen["retries"]
    assert (name1, attempt1, error1) == (name, 1, "TimeoutError")
    assert (name2, attempt2, error2) == (name, 2, "TimeoutError")
    assert 0.01 < delay1 <= 0.012  # wait 0.01, plus jitter up to 0.002
    assert 0.015 < delay2 <= 0.017  # backoff doubles it, max_delay caps it at 0.015, + jitter


# ── what cannot cross is named ────────────────────────────────────────────────
def test_a_lambda_hook_is_named_with_its_flow_and_the_fix() -> None:
    flow = pe.Flow(start=pe.Node(), flow_name="Pipeline").on("node_end", lambda *args: None)
    with pytest.raises(pickle.PicklingError) as caught:
        pickle.dumps(flow)
    message = str(caught.value)
    assert "the 'node_end' hook" in message and "<lambda>" in message
    assert "flow 'Pipeline'" in message and "function defined at module level" in message


def test_a_nested_flows_local_subscriber_is_named_with_the_nested_flow() -> None:
    def local_subscriber(event: pe.Event) -> None:
        pass

    inner = pe.Flow(start=pe.Node(), flow_name="Inner").subscribe(local_subscriber)
    outer = pe.Flow(start=inner, flow_name="Outer")
    with pytest.raises(
        pickle.PicklingError, match=r"subscriber .*local_subscriber of flow 'Inner'"
    ):
        pickle.dumps(outer)


def test_a_process_pool_fails_with_the_name_of_the_hook_that_cannot_cross() -> None:
    flow = pe.Flow(start=pe.Node(), flow_name="Pipeline").on("flow_end", lambda *args: None)
    with ProcessPoolExecutor(
        max_workers=1, mp_context=multiprocessing.get_context("spawn")
    ) as pool:
        with pytest.raises(
            pickle.PicklingError, match=r"'flow_end' hook .*<lambda> of flow 'Pipeline'"
        ):
            pool.submit(run, flow).result(timeout=120)


def test_copies_need_no_pickling_so_lambda_hooks_are_fine_there() -> None:
    ends: list[str] = []
    inner = pe.Flow(start=pe.Node(name="Step"), flow_name="Inner")
    inner.on("node_end", lambda name, action, elapsed, store: ends.append(name))
    outer = pe.Flow(start=inner, flow_name="Outer")
    outer.run({})  # upstream copies the nested flow on each step
    copy.deepcopy(outer).run({})
    copy.copy(outer).run({})
    assert ends == ["Step"] * 3
