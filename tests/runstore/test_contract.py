"""The RunStore contract, through the interface only (no SQL): what the recorder may write
and what every reader gets back. Each store implementation adds its factory to STORES
(the PostgreSQL store adds one when it lands) and must pass every test here."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pocketflow_ext.errors import ConfigurationError, RecordingError, RunExistsError
from pocketflow_ext.runstore import (
    CheckpointRow,
    EventRow,
    RunFilter,
    RunRow,
    RunStore,
    RunUpdate,
    open_store,
)
from pocketflow_ext.runstore.runs import iso

# name -> (a writer store in a fresh location, a reader of that same location)
Factory = Callable[[Path], tuple[RunStore, Callable[[], RunStore]]]


def sqlite(tmp_path: Path) -> tuple[RunStore, Callable[[], RunStore]]:
    path = tmp_path / "runs.db"
    return open_store(path), lambda: open_store(path, readonly=True)


STORES: dict[str, Factory] = {"sqlite": sqlite}


@pytest.fixture(params=sorted(STORES))
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple]:
    writer, open_reader = STORES[request.param](tmp_path)
    opened: list[RunStore] = [writer]

    def reader() -> RunStore:
        opened.append(open_reader())
        return opened[-1]

    yield writer, reader
    for store in opened:
        store.close()


def at(second: int) -> str:
    return f"2026-01-01T00:00:{second:02d}.000000+00:00"


def run(run_id: str, second: int = 0, **fields: object) -> RunRow:
    return RunRow(run_id=run_id, flow_name=str(fields.pop("flow_name", "f")),
                  started_at=at(second), **fields)  # type: ignore[arg-type]  # fmt: skip


def node_rows(run_id: str, step: int, node: str, store_json: str) -> list:
    path = f"f/{node}"
    return [
        EventRow(run_id=run_id, event="node_start", ts=iso(), step=step, node_name=node, path=path),
        EventRow(
            run_id=run_id,
            event="node_end",
            ts=iso(),
            step=step,
            node_name=node,
            path=path,
            action="default",
            elapsed_ms=1.0,
        ),  # fmt: skip
        CheckpointRow(
            run_id=run_id,
            step=step,
            node_name=node,
            store_json=store_json,
            created_at=iso(),
            path=path,
        ),  # fmt: skip
    ]


def test_a_run_id_is_recorded_once(stores) -> None:
    writer, _ = stores
    writer.create_run(run("r-1"))
    with pytest.raises(RunExistsError, match="r-1"):
        writer.create_run(run("r-1"))
    assert writer.has_run("r-1") and not writer.has_run("r-2")


def test_rows_are_written_in_order_and_read_back(stores) -> None:
    writer, reader = stores
    writer.create_run(run("r-1"))
    writer.write([*node_rows("r-1", 0, "A", '{"a": 1}'), *node_rows("r-1", 1, "B", '{"a": 2}')])
    writer.write([RunUpdate("r-1", {"status": "completed", "completed_at": at(9),
                                    "total_steps": 2, "current_node": "B"})])  # fmt: skip
    store = reader()
    got = store.get_run("r-1")
    assert got is not None and (got["status"], got["steps"], got["current_node"]) == (
        "completed", 2, "B")  # fmt: skip
    assert [(e["event"], e["step"]) for e in store.get_events(["r-1"])] == [
        ("node_start", 0), ("node_end", 0), ("node_start", 1), ("node_end", 1)]  # fmt: skip
    assert [(c["step"], c["node_name"]) for c in store.get_checkpoints("r-1")] == [
        (0, "A"), (1, "B")]  # fmt: skip
    assert store.load_checkpoint("r-1", 0) == {"a": 1}
    assert store.checkpoint_text("r-1", 1) == '{"a": 2}'
    assert store.load_checkpoint("r-1", 5) is None
    assert store.last_checkpoint("r-1")["node_name"] == "B"


def test_delta_checkpoints_read_back_as_whole_stores(stores) -> None:
    # A nested flow's own checkpoint (step 1) is written after the node inside it (step 2).
    writer, reader = stores
    writer.create_run(run("r-1"))
    rows = [
        CheckpointRow("r-1", 0, "A", '{"a": 1, "b": [1]}', at(1)),
        CheckpointRow("r-1", 2, "Inner/C", '{"c": 3}', at(2), kind="delta", parent_step=0,
                      deleted_json='["a"]'),
        CheckpointRow("r-1", 1, "Inner", "{}", at(3), kind="delta", parent_step=2,
                      deleted_json="[]"),
    ]  # fmt: skip
    writer.write(rows)
    store = reader()
    assert store.load_checkpoint("r-1", 2) == {"b": [1], "c": 3}
    assert store.load_checkpoint("r-1", 1) == {"b": [1], "c": 3}
    assert json.loads(store.checkpoint_text("r-1", 2) or "") == {"b": [1], "c": 3}
    assert [c["kind"] for c in store.get_checkpoints("r-1")] == ["full", "delta", "delta"]
    assert store.last_checkpoint("r-1")["step"] == 1


def test_a_write_is_all_or_nothing(stores) -> None:
    writer, _ = stores
    writer.create_run(run("r-1"))
    writer.write(node_rows("r-1", 0, "A", "{}"))
    with pytest.raises(RunExistsError):  # the checkpoint of step 0 again
        writer.write([*node_rows("r-1", 1, "B", "{}"), *node_rows("r-1", 0, "A", "{}")])
    assert [c["step"] for c in writer.get_checkpoints("r-1")] == [0]
    assert len(writer.get_events(["r-1"])) == 2


def test_an_unknown_run_field_or_status_is_a_bad_row(stores) -> None:
    writer, _ = stores
    writer.create_run(run("r-1"))
    with pytest.raises(ConfigurationError, match="unknown run field"):
        writer.write([RunUpdate("r-1", {"colour": "red"})])
    with pytest.raises(ConfigurationError, match="unknown run status"):
        writer.write([RunUpdate("r-1", {"status": "done"})])


def test_a_reader_never_writes(stores) -> None:
    writer, reader = stores
    writer.create_run(run("r-1"))
    store = reader()
    assert store.readonly
    for attempt in (
        lambda: store.create_run(run("r-2")),
        lambda: store.write([RunUpdate("r-1", {"status": "failed"})]),
        lambda: store.heartbeat(["r-1"]),
    ):
        with pytest.raises(RecordingError):
            attempt()
    assert writer.get_run("r-1")["status"] == "running"


def test_listing_filters_pages_and_counts(stores) -> None:
    writer, reader = stores
    for i in range(6):
        writer.create_run(run(f"r-{i}", i, flow_name="even" if i % 2 == 0 else "odd",
                              status="failed" if i < 2 else "completed"))  # fmt: skip
    store = reader()
    assert [r["run_id"] for r in store.list_runs(limit=None)] == [
        f"r-{i}" for i in range(5, -1, -1)
    ]
    page = store.runs_page(RunFilter(flows=("odd",)), limit=2, offset=1)
    assert [r["run_id"] for r in page.rows] == ["r-3", "r-1"] and page.total == 3
    assert store.count_runs(RunFilter(statuses=("failed",), flows=("odd",))) == 1
    assert store.count_runs(RunFilter(search="r-4")) == 1
    assert store.flow_names() == ["even", "odd"]
    assert store.status_names() == ["completed", "failed"]


def test_a_running_run_whose_process_is_gone_is_interrupted_everywhere(stores) -> None:
    writer, reader = stores
    writer.create_run(run("alive", 1, pid=os.getpid(), hostname=socket.gethostname(),
                          heartbeat_at=iso()))  # fmt: skip
    writer.create_run(run("stale", 2, pid=1, hostname="elsewhere", heartbeat_at=at(3)))
    store = reader()
    assert store.get_run("stale")["status"] == "interrupted"
    assert store.get_run("stale")["stored_status"] == "running"
    assert [r["run_id"] for r in store.list_runs(RunFilter(statuses=("interrupted",)))] == [
        "stale"]  # fmt: skip
    assert store.count_runs(RunFilter(statuses=("running",))) == 1


def test_heartbeat_marks_live_runs(stores) -> None:
    writer, _ = stores
    writer.create_run(run("r-1", heartbeat_at=at(0)))
    writer.heartbeat(["r-1"])
    assert writer.get_run("r-1")["heartbeat_at"] > at(0)
    writer.maintain()  # upkeep is always safe to call


def test_child_runs_and_resumes_are_linked(stores) -> None:
    writer, reader = stores
    writer.create_run(run("outer", 0, status="failed"))
    writer.create_run(run("inner", 1, parent_run_id="outer"))
    writer.create_run(run("again", 2, resumed_from="outer", status="completed"))
    store = reader()
    assert store.child_run_ids("outer") == ["inner"]
    outer = store.get_run("outer")
    assert outer["resumed_by"] == ["again"] and outer["resumed_ok"] is True
    assert store.get_events(["outer", "inner"]) == []


def test_schema_version_is_known(stores) -> None:
    writer, reader = stores
    writer.create_run(run("r-1"))
    assert writer.schema_version == reader().schema_version >= 1
