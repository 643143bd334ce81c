"""@node / task: a function becomes a node usable wherever a node is."""

from __future__ import annotations

import asyncio
import copy
import pickle

import pytest
from function_nodes import doubled, squared

import pocketflow_ext
from pocketflow_ext import (
    Action,
    AsyncFlow,
    AsyncNode,
    BatchNode,
    ConfigurationError,
    Flow,
    Node,
    NodeInputError,
    node,
    task,
)


def test_parameters_are_read_by_name_and_the_result_is_written_under_the_function_name() -> None:
    @node
    def total(price, quantity):
        return price * quantity

    shared = {"price": 3, "quantity": 4}
    Flow(start=total).run(shared)
    assert shared["total"] == 12
    assert isinstance(total, Node) and type(total).__name__ == "total"


def test_reads_maps_parameters_to_keys_and_writes_names_the_output() -> None:
    @node(reads={"text": "document"}, writes="summary")
    def summarise(text):
        return text[:5]

    shared = {"document": "hello world"}
    Flow(start=summarise).run(shared)
    assert shared == {"document": "hello world", "summary": "hello"}


def test_a_tuple_of_keys_unpacks_a_tuple_result_and_empty_writes_nothing() -> None:
    @node(writes=("low", "high"))
    def bounds(values):
        return min(values), max(values)

    @node(writes=())
    def quiet(values):
        return "ignored"

    shared = {"values": [3, 1, 2]}
    bounds >> quiet
    Flow(start=bounds).run(shared)
    assert shared == {"values": [3, 1, 2], "low": 1, "high": 3}


def test_writes_of_several_keys_needs_as_many_values() -> None:
    @node(writes=("a", "b"))
    def one(values):
        return 1

    with pytest.raises(ConfigurationError, match=r"writes 2 keys \['a', 'b'\].*got 1"):
        Flow(start=one).run({"values": 1})


def test_a_missing_key_names_the_node_the_parameter_and_the_keys_present() -> None:
    @node(reads={"text": "document"})
    def summarise(text):
        return text

    with pytest.raises(NodeInputError) as caught:
        Flow(start=summarise).run({"title": "t", "body": "b"})
    message = str(caught.value)
    assert "'summarise'" in message and "'document'" in message and "'text'" in message
    assert "'title', 'body'" in message
    assert isinstance(caught.value, KeyError)


def test_a_parameter_default_is_used_when_its_key_is_missing() -> None:
    @node
    def greet(name, greeting="hello"):
        return f"{greeting} {name}"

    shared = {"name": "ada"}
    Flow(start=greet).run(shared)
    assert shared["greet"] == "hello ada"


def test_a_parameter_named_shared_receives_the_whole_store() -> None:
    @node
    def keys(shared):
        return sorted(shared)

    shared = {"b": 1, "a": 2}
    Flow(start=keys).run(shared)
    assert shared["keys"] == ["a", "b"]


def test_action_returns_an_action_with_a_value_and_route_derives_one() -> None:
    @node
    def classify(score):
        return Action("high" if score > 5 else "low", score * 10)

    @node(route=lambda result: "big" if result > 100 else "small")
    def grow(classify):
        return classify * 2

    @node
    def big(grow):
        return "big"

    @node
    def small(grow):
        return "small"

    classify - "high" >> grow
    grow - "big" >> big
    grow - "small" >> small
    shared = {"score": 9}
    Flow(start=classify).run(shared)
    assert shared["classify"] == 90 and shared["grow"] == 180 and shared["big"] == "big"
    assert "small" not in shared


def test_route_must_return_a_string() -> None:
    @node(route=lambda result: 3)
    def bad():
        return 1

    with pytest.raises(ConfigurationError, match="route= of node 'bad' must return an action"):
        Flow(start=bad).run({})


def test_retries_count_retries_after_the_first_attempt_and_survive_the_library_built_class() -> (
    None
):
    calls = []

    @node(retries=2, delay=0.0, backoff=2.0)
    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise ValueError("not yet")
        return "ok"

    assert flaky.max_retries == 3 and flaky.backoff == 2.0
    shared = {}
    Flow(start=flaky).run(shared)
    assert shared["flaky"] == "ok" and len(calls) == 3


def test_max_retries_counts_attempts_and_retry_on_limits_what_is_retried() -> None:
    calls = []

    @node(max_retries=5, retry_on=KeyError, fallback="gave up")
    def strict():
        calls.append(1)
        raise ValueError("not retried")

    shared = {}
    Flow(start=strict).run(shared)
    assert shared["strict"] == "gave up" and len(calls) == 1 and strict.max_retries == 5


def test_retries_and_max_retries_together_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="retries= .* or max_retries="):

        @node(retries=1, max_retries=2)
        def both():
            return 1


def test_a_callable_fallback_gets_the_exception() -> None:
    @node(fallback=lambda exc: f"fallback: {exc}")
    def broken():
        raise RuntimeError("boom")

    shared = {}
    Flow(start=broken).run(shared)
    assert shared["broken"] == "fallback: boom"


def test_the_function_stays_callable_and_testable() -> None:
    @node
    def shout(text):
        """Upper-case it."""
        return text.upper()

    assert shout("hi") == "HI"
    assert shout.__wrapped__("hi") == "HI"
    assert shout.__doc__ == "Upper-case it."


def test_task_is_an_alias_of_node() -> None:
    assert task is node and pocketflow_ext.task is pocketflow_ext.node


def test_async_functions_become_async_nodes() -> None:
    @node
    async def fetch(url):
        await asyncio.sleep(0)
        return f"page of {url}"

    assert isinstance(fetch, AsyncNode)
    shared = {"url": "x"}
    asyncio.run(AsyncFlow(start=fetch).run_async(shared))
    assert shared["fetch"] == "page of x"
    other = {"url": "y"}
    Flow(start=fetch.clone()).run(other)  # an async node inside a sync flow
    assert other["fetch"] == "page of y"


def test_batch_maps_the_function_over_an_iterable_input() -> None:
    @node(batch="url", reads={"url": "urls"}, writes="pages")
    def fetch(url, prefix):
        return prefix + url

    assert isinstance(fetch, BatchNode)
    shared = {"urls": ["a", "b"], "prefix": "p:"}
    Flow(start=fetch).run(shared)
    assert shared["pages"] == ["p:a", "p:b"]


def test_async_batch_and_parallel_batch() -> None:
    @node(batch=True, parallel=True)
    async def square(numbers):
        await asyncio.sleep(0)
        return numbers * numbers

    shared = {"numbers": [1, 2, 3]}
    asyncio.run(AsyncFlow(start=square).run_async(shared))
    assert shared["square"] == [1, 4, 9]


def test_batch_over_something_not_iterable_is_a_clear_error() -> None:
    @node(batch=True)
    def each(items):
        return items

    with pytest.raises(ConfigurationError, match="maps over parameter 'items'.*int"):
        Flow(start=each).run({"items": 3})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"reads": {"nope": "x"}}, r"maps \['nope'\], which are not its parameters"),
        ({"batch": "nope"}, "batch='nope'.*not one of its parameters"),
        ({"writes": 3}, "writes= .* must be a key"),
        ({"parallel": True}, "parallel=True .* needs an async def function and batch="),
        ({"when": 3}, "when= .* must be callable"),
        ({"executor": object()}, "executor= .* runs a batch's items elsewhere; add batch="),
        ({"max_workers": 2}, "max_workers= .* runs a batch's items elsewhere; add batch="),
    ],
)
def test_bad_options_are_refused_when_decorating(options, message) -> None:
    with pytest.raises(ConfigurationError, match=message):

        @node(**options)
        def f(a):
            return a


def test_executor_settings_go_to_the_batch_node() -> None:
    @node(batch=True, executor="threads", max_workers=2, chunksize=3)
    def doubled_each(items):
        return items * 2

    assert (doubled_each.executor, doubled_each.max_workers, doubled_each.chunksize) == (
        "threads",
        2,
        3,
    )
    shared = {"items": [1, 2, 3]}
    Flow(start=doubled_each).run(shared)
    assert shared["doubled_each"] == [2, 4, 6]


def test_bad_executor_settings_are_refused_when_decorating() -> None:
    with pytest.raises(ConfigurationError, match="chunksize"):

        @node(batch=True, executor="processes", chunksize=0)
        def each(items):
            return items


def test_star_parameters_cannot_be_read_from_the_store() -> None:
    with pytest.raises(ConfigurationError, match=r"parameter \*args"):

        @node
        def f(*args):
            return args


def test_function_nodes_pickle_with_every_setting() -> None:
    clone = pickle.loads(pickle.dumps(doubled))
    assert clone.max_retries == 3 and clone.wait == 0.25 and clone.backoff == 3.0
    assert clone.reads == {"size": "n"} and clone(4) == 8
    shared = {"n": 20}
    Flow(start=clone).run(shared)
    assert shared["doubled"] == 40
    small = {"n": 2}
    Flow(start=pickle.loads(pickle.dumps(doubled))).run(small)  # when= travelled too
    assert "doubled" not in small
    batch = pickle.loads(pickle.dumps(squared))
    assert batch.cache is True and batch.cache_ttl == 60 and batch.cache_version == "v2"
    assert isinstance(batch, BatchNode) and batch.batch_param == "item"


def test_a_pickled_flow_of_function_nodes_runs_elsewhere_with_its_name() -> None:
    flow = Flow(start=doubled.clone(name="Double"))
    copied = pickle.loads(pickle.dumps(flow))
    assert copied.start_node.name == "Double"


def test_a_function_node_defined_in_a_function_cannot_pickle_and_says_why() -> None:
    @node
    def local():
        return 1

    with pytest.raises(pickle.PicklingError, match="not defined at module level"):
        pickle.dumps(local)


def test_copies_keep_the_function_and_settings_and_clone_has_no_edges() -> None:
    @node(name="First")
    def first():
        return 1

    @node
    def second(first):
        return first + 1

    first >> second
    shallow, deep = copy.copy(first), copy.deepcopy(first)
    assert shallow.successors is first.successors and shallow.name == "First"
    assert deep.successors["default"] is not second and deep.name == "First"
    fresh = first.clone()
    assert fresh.successors == {} and fresh.name == "First" and type(fresh) is type(first)
    assert first.clone(name="Again").name == "Again"


def test_function_nodes_report_events_and_nest_in_flows(events) -> None:
    @node
    def inner_step(x):
        return x + 1

    @node
    def outer_step(inner_step):
        return inner_step * 10

    inner = Flow(start=inner_step, flow_name="Inner")
    inner >> outer_step
    shared = {"x": 1}
    Flow(start=inner, flow_name="Outer").run(shared)
    assert shared["outer_step"] == 20
    starts = [e.path for e in events if e.kind == "node_start"]
    assert starts == ["Outer/Inner", "Outer/Inner/inner_step", "Outer/outer_step"]


def test_a_recorded_flow_of_function_nodes_resumes_after_a_failure(tmp_path) -> None:
    attempts = []

    @node
    def first():
        return 1

    @node
    def second(first):
        attempts.append(first)
        if len(attempts) == 1:
            raise RuntimeError("crash")
        return first + 1

    first >> second
    db = str(tmp_path / "runs.db")
    flow = Flow(start=first, db_path=db, flow_name="fn")
    with pytest.raises(RuntimeError):
        flow.run({})
    run_id = pocketflow_ext.WorkflowDB(db).list_runs()[0]["run_id"]
    store = flow.resume(run_id)
    assert store["second"] == 2 and attempts == [1, 1]


def test_function_nodes_run_under_instrument_with_plain_pocketflow(tmp_path) -> None:
    import pocketflow

    @node
    def step(x):
        return x * 2

    seen = []
    with pocketflow_ext.instrument(hooks={"node_end": lambda name, *a: seen.append(name)}):
        shared = {"x": 2}
        pocketflow.Flow(start=step).run(shared)
    assert shared["step"] == 4 and seen == ["step"]
