"""The result cache: hits skip exec (and its retries), keys follow input, code and version."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import cached_nodes
import pytest
from cached_nodes import Summarise, square

import pocketflow_ext
from pocketflow_ext import AsyncFlow, AsyncNode, Cache, CacheError, Flow, Node, WorkflowDB, node
from pocketflow_ext.cache.policy import store_for
from pocketflow_ext.runstore import open_store

HERE = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def _fresh_calls():
    cached_nodes.CALLS.clear()


def entries(path) -> list[dict]:
    with open_store(path) as store:
        rows = store.conn().execute("SELECT key, node, value_text FROM pf_cache").fetchall()
    return [dict(r) for r in rows]


def test_a_second_run_with_the_same_input_takes_exec_from_the_cache(cache_db) -> None:
    first, second = {"text": "hi"}, {"text": "hi"}
    Flow(start=Summarise()).run(first)
    flow = Flow(start=Summarise())
    hits = []
    flow.on("cache_hit", lambda name, store: hits.append(name))
    flow.run(second)
    assert first["summary"] == second["summary"] == "HI"
    assert cached_nodes.CALLS == ["prep", "exec", "post", "prep", "post"]
    assert hits == ["Summarise"]
    assert [e["node"] for e in entries(cache_db)] == ["Summarise"]


def test_the_hit_is_reported_between_the_nodes_start_and_end(events) -> None:
    Flow(start=Summarise()).run({"text": "a"})
    Flow(start=Summarise()).run({"text": "a"})
    kinds = [e.kind for e in events if e.node == "Summarise"]
    assert kinds == ["node_start", "node_end", "node_start", "cache_hit", "node_end"]


def test_another_input_misses() -> None:
    Flow(start=Summarise()).run({"text": "a"})
    Flow(start=Summarise()).run({"text": "b"})
    assert cached_nodes.CALLS.count("exec") == 2


def test_equal_dict_inputs_in_another_order_hit() -> None:
    class Keys(Node):
        cache = True

        def prep(self, shared):
            return shared["d"]

        def exec(self, d):
            cached_nodes.CALLS.append("exec")
            return sorted(d)

    Flow(start=Keys()).run({"d": {"a": 1, "b": 2}})
    Flow(start=Keys()).run({"d": {"b": 2, "a": 1}})
    assert cached_nodes.CALLS == ["exec"]


def test_bumping_the_version_invalidates() -> None:
    Flow(start=Summarise()).run({"text": "a"})
    Flow(start=Summarise(cache_version="2")).run({"text": "a"})
    Flow(start=Summarise(cache_version="2")).run({"text": "a"})
    assert cached_nodes.CALLS.count("exec") == 2


def test_entries_expire_after_their_ttl(clock) -> None:
    Flow(start=Summarise(cache_ttl=60)).run({"text": "a"})
    clock.advance(59)
    Flow(start=Summarise(cache_ttl=60)).run({"text": "a"})
    assert cached_nodes.CALLS.count("exec") == 1
    clock.advance(2)  # 61 s after the entry was made
    Flow(start=Summarise(cache_ttl=60)).run({"text": "a"})
    assert cached_nodes.CALLS.count("exec") == 2
    clock.advance(30)  # the replaced entry is fresh again
    Flow(start=Summarise(cache_ttl=60)).run({"text": "a"})
    assert cached_nodes.CALLS.count("exec") == 2


def test_a_policy_object_sets_ttl_version_and_database(tmp_path, clock) -> None:
    own = tmp_path / "own.db"

    class Policy(Summarise):
        cache = Cache(ttl=10, version=1, db=str(own))

    Flow(start=Policy()).run({"text": "a"})
    clock.advance(11)
    Flow(start=Policy()).run({"text": "a"})
    assert cached_nodes.CALLS.count("exec") == 2
    assert [e["node"] for e in entries(own)] == ["Policy"]


def test_failures_and_fallbacks_are_never_cached() -> None:
    class Fails(Node):
        cache = True

        def prep(self, shared):
            return shared["n"]

        def exec(self, n):
            cached_nodes.CALLS.append("exec")
            raise ValueError("down")

        def exec_fallback(self, prep_res, exc):
            return "fallback"

        def post(self, shared, prep_res, exec_res):
            shared["out"] = exec_res

    first, second = {"n": 1}, {"n": 1}
    Flow(start=Fails()).run(first)
    Flow(start=Fails()).run(second)
    assert first["out"] == second["out"] == "fallback"
    assert cached_nodes.CALLS == ["exec", "exec"]


def test_a_hit_skips_the_retries_and_a_retried_success_is_cached() -> None:
    attempts = []

    class Flaky(Node):
        cache = True
        max_retries = 3

        def prep(self, shared):
            return shared["n"]

        def exec(self, n):
            attempts.append(n)
            if len(attempts) < 2:
                raise ValueError("once")
            return n * 2

        def post(self, shared, prep_res, exec_res):
            shared["out"] = exec_res

    first, second = {"n": 4}, {"n": 4}
    Flow(start=Flaky()).run(first)
    Flow(start=Flaky()).run(second)
    assert first["out"] == second["out"] == 8 and attempts == [4, 4]


def test_a_value_that_cannot_be_encoded_is_not_cached_and_warned_about_once(ext_logs) -> None:
    class Lock(Node):
        cache = True

        def prep(self, shared):
            return shared["n"]

        def exec(self, n):
            cached_nodes.CALLS.append("exec")
            return threading.Lock()

    for _ in range(3):
        Flow(start=Lock()).run({"n": 1})
    assert cached_nodes.CALLS == ["exec"] * 3
    warnings = [r for r in ext_logs.records if "cannot be encoded" in r.getMessage()]
    assert len(warnings) == 1 and "'Lock'" in warnings[0].getMessage()


def test_an_input_that_cannot_be_encoded_is_not_cached(ext_logs) -> None:
    class Client(Node):
        cache = True

        def prep(self, shared):
            return shared["client"]

        def exec(self, client):
            cached_nodes.CALLS.append("exec")
            return 1

    Flow(start=Client()).run({"client": threading.Lock()})
    Flow(start=Client()).run({"client": threading.Lock()})
    assert cached_nodes.CALLS == ["exec", "exec"]
    assert any(
        "its input (prep result) cannot be encoded" in r.getMessage() for r in ext_logs.records
    )


def test_batch_items_are_cached_one_by_one() -> None:
    Flow(start=square.clone()).run({"items": [1, 2]})
    shared = {"items": [1, 2, 3]}
    Flow(start=square.clone()).run(shared)
    assert shared["square"] == [1, 4, 9]
    assert cached_nodes.CALLS == ["square 1", "square 2", "square 3"]


def test_resuming_a_batch_reuses_the_items_the_failed_run_computed(tmp_path) -> None:
    @node(writes="items")
    def load():
        return [1, 2, 3, 4]

    db = str(tmp_path / "runs.db")
    load >> square.clone()
    flow = Flow(start=load, db_path=db, flow_name="squares")
    cached_nodes.CALLS.append("crash")
    with pytest.raises(RuntimeError, match="crashed on item 3"):
        flow.run({})
    run_id = WorkflowDB(db).list_runs()[0]["run_id"]
    hits = []
    flow.on("cache_hit", lambda name, store: hits.append(name))
    store = flow.resume(run_id)
    assert store["square"] == [1, 4, 9, 16]
    assert cached_nodes.CALLS == ["square 1", "square 2", "square 3", "square 3", "square 4"]
    assert hits == ["square", "square"]


def test_inside_a_recorded_flow_entries_live_in_its_run_store(tmp_path, cache_db) -> None:
    db = tmp_path / "runs.db"
    Flow(start=Summarise(), db_path=str(db)).run({"text": "a"})
    assert [e["node"] for e in entries(db)] == ["Summarise"]
    assert not cache_db.exists()


def test_outside_a_recorded_flow_the_default_database_is_used(cache_db) -> None:
    Summarise().run({"text": "a"})
    assert store_for(Cache())[0].location == str(cache_db)
    assert [e["node"] for e in entries(cache_db)] == ["Summarise"]


def test_async_nodes_cache_exec_async() -> None:
    class Fetch(AsyncNode):
        cache = True

        async def prep_async(self, shared):
            return shared["url"]

        async def exec_async(self, url):
            cached_nodes.CALLS.append("exec")
            return f"page {url}"

        async def post_async(self, shared, prep_res, exec_res):
            shared["page"] = exec_res

    for _ in range(2):
        shared = {"url": "u"}
        asyncio.run(AsyncFlow(start=Fetch()).run_async(shared))
        assert shared["page"] == "page u"
    assert cached_nodes.CALLS == ["exec"]


def test_function_nodes_cache_on_their_arguments() -> None:
    @node(cache=True, version=1)
    def add(a, b):
        cached_nodes.CALLS.append("add")
        return a + b

    for _ in range(2):
        shared = {"a": 1, "b": 2}
        Flow(start=add.clone()).run(shared)
        assert shared["add"] == 3
    assert cached_nodes.CALLS == ["add"]


def test_concurrent_misses_compute_at_most_twice_and_leave_one_valid_entry(cache_db) -> None:
    barrier = threading.Barrier(4)

    class Slow(Node):
        cache = True

        def prep(self, shared):
            return shared["n"]

        def exec(self, n):
            barrier.wait(timeout=10)  # every thread misses before any stores
            cached_nodes.CALLS.append("exec")
            return {"n": n, "payload": "x" * 1000}

        def post(self, shared, prep_res, exec_res):
            shared["out"] = exec_res

    results: list[dict] = []

    def run() -> None:
        shared = {"n": 7}
        Flow(start=Slow()).run(shared)
        results.append(shared["out"])

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == 4 and all(r == {"n": 7, "payload": "x" * 1000} for r in results)
    rows = entries(cache_db)
    assert len(rows) == 1
    shared = {"n": 7}
    Flow(start=Slow()).run(shared)  # a later run reads the one entry
    assert shared["out"] == results[0] and cached_nodes.CALLS.count("exec") == 4


def test_a_bad_cache_setting_fails_when_the_node_is_made() -> None:
    with pytest.raises(CacheError, match="must be True, False/None or a pocketflow_ext.Cache"):
        Summarise(cache="yes")
    with pytest.raises(CacheError, match="ttl must be a number of seconds > 0"):
        Cache(ttl=0)


def test_nodes_without_cache_keep_their_class_and_cached_ones_pickle() -> None:
    import pickle

    assert type(Node()) is Node and type(Summarise(cache=False)) is Summarise
    cached = Summarise(cache_ttl=30)
    assert isinstance(cached, Summarise) and type(cached).__name__ == "Summarise"
    copied = pickle.loads(pickle.dumps(cached))
    assert copied.cache is True and copied.cache_ttl == 30
    shared = {"text": "p"}
    Flow(start=copied).run(shared)
    Flow(start=Summarise()).run({"text": "p"})
    assert shared["summary"] == "P" and cached_nodes.CALLS.count("exec") == 1


def test_a_damaged_entry_is_a_clear_error(cache_db) -> None:
    Flow(start=Summarise()).run({"text": "a"})
    with open_store(cache_db) as store:
        store.conn().execute("UPDATE pf_cache SET value_text = '{not json'")
    with pytest.raises(CacheError, match="is damaged.*pocketflow-ext cache clear"):
        Flow(start=Summarise()).run({"text": "a"})


# ── across processes, and when the code changes ────────────────────────────────
SCRIPT = """
import sys
sys.path.insert(0, {here!r})
from pocketflow_ext import Flow, Node

SCALE = {scale}


def helper(x):
    return x * SCALE{extra}


class Compute(Node):
    cache = True

    def prep(self, shared):
        return shared["x"]

    def exec(self, x):
        with open({log!r}, "a") as log:
            log.write("exec\\n")
        return helper(x)

    def post(self, shared, prep_res, exec_res):
        print("result", exec_res)


Flow(start=Compute()).run({{"x": 5}})
"""


def run_script(tmp_path: Path, cache_db: Path, scale: int = 2, extra: str = "") -> tuple[str, int]:
    log = tmp_path / "calls.log"
    script = tmp_path / "compute_flow.py"
    script.write_text(
        textwrap.dedent(SCRIPT).format(here=str(tmp_path), scale=scale, extra=extra, log=str(log))
    )
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True, text=True, timeout=120,
        env={**__import__("os").environ, "POCKETFLOW_EXT_CACHE_DB": str(cache_db)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    calls = log.read_text().count("exec") if log.exists() else 0
    return done.stdout.strip(), calls


def test_a_hit_works_across_processes(tmp_path, cache_db) -> None:
    assert run_script(tmp_path, cache_db) == ("result 10", 1)
    assert run_script(tmp_path, cache_db) == ("result 10", 1)  # the second process hit


def test_changing_a_constant_the_code_uses_invalidates(tmp_path, cache_db) -> None:
    assert run_script(tmp_path, cache_db, scale=2) == ("result 10", 1)
    assert run_script(tmp_path, cache_db, scale=3) == ("result 15", 2)
    assert run_script(tmp_path, cache_db, scale=3) == ("result 15", 2)


def test_editing_a_helper_the_node_calls_invalidates(tmp_path, cache_db) -> None:
    assert run_script(tmp_path, cache_db) == ("result 10", 1)
    edited = " + 0  # same result, other code"
    assert run_script(tmp_path, cache_db, extra=edited) == ("result 10", 2)


def test_instrument_recording_keeps_entries_in_its_database(tmp_path) -> None:
    import pocketflow

    db = tmp_path / "instrumented.db"

    with pocketflow_ext.instrument(db_path=str(db)):
        pocketflow.Flow(start=Summarise()).run({"text": "z"})
    assert [e["node"] for e in entries(db)] == ["Summarise"]
