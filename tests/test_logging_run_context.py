"""Log lines join up with runs: records written inside a node, by any logger and from
threads the run's context reaches, carry run_id and node_path in the JSONL log."""

from __future__ import annotations

import concurrent.futures
import contextvars
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pocketflow_ext import EventLog, Flow, Node, setup_logging
from pocketflow_ext.logging import RunContextFilter, disable_logging

app_log = logging.getLogger("tests.app")


@pytest.fixture
def jsonl(tmp_path: Path) -> Iterator[Path]:
    root_level = logging.getLogger().level
    setup_logging("join", log_dir=tmp_path, log_format="jsonl", capture=True)
    yield tmp_path
    disable_logging()
    logging.getLogger().setLevel(root_level)


def records(directory: Path) -> list[dict[str, Any]]:
    (path,) = directory.glob("*.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


class Ask(Node):
    def exec(self, prep_res: Any) -> None:
        app_log.warning("asking the model")
        # A worker thread started with the node's context logs as part of the node too.
        context = contextvars.copy_context()
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(context.run, app_log.warning, "in a worker").result()


def test_the_users_own_log_lines_inside_a_node_carry_run_id_and_node_path(jsonl: Path) -> None:
    inner = Flow(start=Ask(), flow_name="Inner")
    Flow(start=inner, flow_name="Outer").subscribe(EventLog()).run({})
    app_log.warning("after the run")
    lines = records(jsonl)
    run_id = next(r["run_id"] for r in lines if r.get("event") == "flow_start")
    mine = {r["msg"]: r for r in lines if r["logger"] == "tests.app"}
    for msg in ("asking the model", "in a worker"):
        assert mine[msg]["run_id"] == run_id
        assert mine[msg]["node_path"] == "Outer/Inner/Ask"
    assert "run_id" not in mine["after the run"] and "node_path" not in mine["after the run"]


def test_event_records_keep_their_own_run_id_and_path(jsonl: Path) -> None:
    Flow(start=Ask()).subscribe(EventLog()).run({})
    end = next(r for r in records(jsonl) if r.get("event") == "node_end")
    assert end["path"] == "Flow/Ask" and end["node_path"] == "Flow/Ask"


def test_without_capture_other_loggers_stay_out_of_the_file(tmp_path: Path) -> None:
    setup_logging("quiet", log_dir=tmp_path, log_format="jsonl")
    try:
        Flow(start=Ask()).subscribe(EventLog()).run({})
    finally:
        disable_logging()
    assert all(r["logger"].startswith("pocketflow_ext") for r in records(tmp_path))
    root_files = [getattr(h, "baseFilename", "") for h in logging.getLogger().handlers]
    assert not any(name.startswith(str(tmp_path)) for name in root_files)


def test_the_filter_adds_the_fields_to_any_handler() -> None:
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    handler = Keep()
    handler.addFilter(RunContextFilter())
    app_log.addHandler(handler)
    try:
        Flow(start=Ask()).on("node_end", lambda *args: None).run({})
    finally:
        app_log.removeHandler(handler)
    assert {getattr(r, "node_path", None) for r in seen} == {"Flow/Ask"}
