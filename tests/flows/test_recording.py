"""RecordingMixin: db_path/checkpoint_dir/run_id/durability arguments and their errors."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pocketflow
import pytest

from pocketflow_ext import Flow, Node, Store, WorkflowDB
from pocketflow_ext.errors import ConfigurationError, RecordingError, RunExistsError
from pocketflow_ext.mixins import HooksMixin, RecordingMixin
from pocketflow_ext.stream.scope import RunOptions, run_options


class Count(Node):
    runs = 0

    def post(self, shared, prep_res, exec_res):
        Count.runs += 1
        shared["n"] = shared.get("n", 0) + 1


class Keep(Node):
    """Puts a value JSON cannot hold into the store."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key
        self.name = f"keep_{key}"

    def post(self, shared, prep_res, exec_res):
        shared[self.key] = object()


@pytest.fixture(autouse=True)
def _reset_count() -> None:
    Count.runs = 0


def test_flow_run_id_names_the_run(run_store_url: str, tmp_path: Path) -> None:
    flow = Flow(start=Count(), db_path=run_store_url, run_id="nightly-0001")
    flow.run({})
    assert flow.db.get_run("nightly-0001")["status"] == "completed"


def test_flow_run_id_run_twice_is_an_error_not_an_overwrite(
    run_store_url: str, tmp_path: Path
) -> None:
    flow = Flow(start=Count(), db_path=run_store_url, run_id="nightly-0001")
    flow.run({})
    with pytest.raises(RunExistsError, match="nightly-0001"):
        flow.run({})
    assert Count.runs == 1
    assert len(flow.db.get_checkpoints("nightly-0001")) == 1


def test_flow_run_id_run_twice_without_db_is_an_error_too(tmp_path: Path) -> None:
    flow = Flow(start=Count(), checkpoint_dir=tmp_path / "ck", run_id="nightly-0001")
    flow.run({})
    with pytest.raises(RunExistsError):
        flow.run({})
    assert Count.runs == 1


def test_run_id_already_in_the_database_fails_before_any_node(
    run_store_url: str, tmp_path: Path
) -> None:
    WorkflowDB(run_store_url).create_run("taken-1", "other")
    flow = Flow(start=Count(), db_path=run_store_url)
    with run_options(RunOptions(run_id="taken-1")), pytest.raises(RunExistsError):
        flow.run({})
    assert Count.runs == 0


def test_per_call_run_id_from_run_options_is_used(run_store_url: str, tmp_path: Path) -> None:
    flow = Flow(start=Count(), db_path=run_store_url)
    with run_options(RunOptions(run_id="call-1")):
        flow.run({})
    with run_options(RunOptions(run_id="call-2")):
        flow.run({})
    assert {r["run_id"] for r in flow.db.list_runs()} == {"call-1", "call-2"}


def test_resumed_from_in_run_options_links_the_runs(run_store_url: str, tmp_path: Path) -> None:
    flow = Flow(start=Count(), db_path=run_store_url)
    with run_options(RunOptions(run_id="second-1", extra={"resumed_from": "first-1"})):
        flow.run({})
    assert flow.db.get_run("second-1")["resumed_from"] == "first-1"


def test_malformed_run_id_is_rejected_at_construction(run_store_url: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="malformed run_id"):
        Flow(start=Count(), db_path=run_store_url, run_id="a/b")


def test_unknown_durability_is_rejected(run_store_url: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="durability"):
        Flow(start=Count(), db_path=run_store_url, durability="eventually")


def test_bad_db_path_fails_when_the_flow_is_built(tmp_path: Path) -> None:
    not_sqlite = tmp_path / "notes.db"
    not_sqlite.write_text("plain text " * 100)
    with pytest.raises(RecordingError, match="not a SQLite database"):
        Flow(start=Count(), db_path=not_sqlite)
    assert Count.runs == 0


def test_bad_checkpoint_dir_fails_when_the_flow_is_built(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(RecordingError, match="checkpoint_dir"):
        Flow(start=Count(), checkpoint_dir=blocker)


def test_checkpoint_dir_alone_writes_one_restorable_file_per_node(tmp_path: Path) -> None:
    a, b = Count(), Count()
    a >> b
    Flow(start=a, checkpoint_dir=tmp_path / "ck").run({})
    files = sorted(p.name for p in (tmp_path / "ck").iterdir())
    assert files == ["step_000_Count.json", "step_001_Count#2.json"]
    assert Store.restore(tmp_path / "ck" / "step_001_Count#2.json") == {"n": 2}


def test_checkpoint_dir_and_db_path_hold_the_same_store(run_store_url: str, tmp_path: Path) -> None:
    flow = Flow(start=Count(), checkpoint_dir=tmp_path / "ck", db_path=run_store_url)
    flow.run({})
    run_id = flow.db.list_runs()[0]["run_id"]
    from_file = json.loads((tmp_path / "ck" / "step_000_Count.json").read_text())["data"]
    assert from_file == json.loads(flow.db.get_checkpoints(run_id)[0]["store_json"])


def test_unserialisable_values_warn_once_per_key_and_run(
    run_store_url: str, tmp_path: Path
) -> None:
    a, b, c = Keep("client"), Keep("lock"), Keep("client")
    a >> b >> c
    flow = Flow(start=a, db_path=run_store_url)
    for _ in range(2):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            flow.run({})
        messages = [str(w.message) for w in caught]
        assert len(messages) == 2, messages
        assert any("'client'" in m for m in messages) and any("'lock'" in m for m in messages)
    run = flow.db.list_runs()[0]
    assert run["status"] == "completed"
    stored = json.loads(flow.db.get_checkpoints(run["run_id"])[-1]["store_json"])
    assert stored["lock"]["__pocketflow_ext__"] == "unserialisable"
    assert stored["lock"]["type"] == "object"


def test_mixin_records_an_upstream_flow(run_store_url: str, tmp_path: Path) -> None:
    class RecordedFlow(RecordingMixin, HooksMixin, pocketflow.Flow):
        pass

    class Plain(pocketflow.Node):
        def post(self, shared, prep_res, exec_res):
            shared["done"] = True

    flow = RecordedFlow(start=Plain(), db_path=run_store_url)
    flow.run({})
    run = flow.db.list_runs()[0]
    assert run["status"] == "completed"
    assert [c["node_name"] for c in flow.db.get_checkpoints(run["run_id"])] == ["Plain"]


def test_mixin_without_hooks_mixin_says_what_is_missing(run_store_url: str, tmp_path: Path) -> None:
    class Broken(RecordingMixin, pocketflow.Flow):
        pass

    with pytest.raises(TypeError, match="HooksMixin"):
        Broken(start=Count(), db_path=run_store_url)


def test_flow_without_recording_stays_dormant() -> None:
    flow = Flow(start=Count())
    assert flow.db is None and flow._recorder is None and flow._listeners == ()


@pytest.mark.parametrize("durability", ["sync", "async", "exit"])
def test_run_id_collision_fails_before_any_node_in_every_mode(
    run_store_url: str, tmp_path: Path, durability: str
) -> None:
    flow = Flow(start=Count(), db_path=run_store_url, durability=durability)
    with run_options(RunOptions(run_id="same-1")):
        flow.run({})
    with run_options(RunOptions(run_id="same-1")), pytest.raises(RunExistsError):
        flow.run({})
    assert Count.runs == 1
    assert len(flow.db.get_checkpoints("same-1")) == 1


def test_run_failing_in_flow_prep_is_closed_as_failed(run_store_url: str, tmp_path: Path) -> None:
    class BadPrep(Flow):
        def prep(self, shared):
            raise LookupError("missing input")

    flow = BadPrep(start=Count(), db_path=run_store_url, durability="async")
    with pytest.raises(LookupError):
        flow.run({})
    run = flow.db.list_runs()[0]
    assert run["status"] == "failed" and run["error_msg"] == "LookupError: missing input"
    assert Count.runs == 0


def test_run_options_apply_to_the_next_run_only(run_store_url: str, tmp_path: Path) -> None:
    flow = Flow(start=Count(), db_path=run_store_url)
    with run_options(RunOptions(run_id="once-1")):
        flow.run({})
        flow.run({})
    run_ids = {r["run_id"] for r in flow.db.list_runs()}
    assert "once-1" in run_ids and len(run_ids) == 2


def test_flow_name_with_spaces_gives_usable_run_ids(run_store_url: str, tmp_path: Path) -> None:
    flow = Flow(start=Count(), db_path=run_store_url, flow_name=" weekly digest ")
    flow.run({})
    run = flow.db.list_runs()[0]
    assert run["run_id"].startswith(" weekly digest -") and run["status"] == "completed"
    assert flow.db.get_run(run["run_id"])["flow_name"] == " weekly digest "


@pytest.mark.parametrize("flow_name", ["two\nlines", "x" * 10_000, "tab\there"])
def test_a_flow_name_that_cannot_make_run_ids_fails_when_the_flow_is_built(
    tmp_path: Path, flow_name: str
) -> None:
    with pytest.raises(ConfigurationError, match="cannot name recorded runs"):
        Flow(start=Count(), db_path=tmp_path / "r.db", flow_name=flow_name)
    assert not (tmp_path / "r.db").exists()  # checked before any file is touched
