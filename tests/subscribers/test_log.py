"""EventLog: one structured dd-logging record per event; silent until logging is set up."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pocketflow_ext import EventLog, Flow, Node, setup_logging
from pocketflow_ext.logging import disable_logging


class Load(Node):
    def post(self, shared: Any, prep_res: Any, exec_res: Any) -> str:
        return "loaded"


class Boom(Node):
    def exec(self, prep_res: Any) -> None:
        raise ValueError("bad input")


@pytest.fixture
def jsonl(tmp_path: Path) -> Iterator[Path]:
    root = logging.getLogger("pocketflow_ext")
    level = root.level
    path = setup_logging("events", log_dir=tmp_path, log_format="jsonl")
    yield path
    disable_logging()
    root.setLevel(level)


def records(path: Path) -> list[dict]:
    for handler in logging.getLogger("pocketflow_ext").handlers:
        handler.flush()
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_jsonl_gets_one_object_per_event_with_structured_fields(jsonl: Path) -> None:
    load = Load()
    load - "loaded" >> Node()
    Flow(start=load, flow_name="Pipeline").subscribe(EventLog()).run({})
    logged = records(jsonl)
    assert [(r["event"], r["logger"]) for r in logged] == [
        ("flow_start", "pocketflow_ext.flow"),
        ("node_start", "pocketflow_ext.node"),
        ("node_end", "pocketflow_ext.node"),
        ("node_start", "pocketflow_ext.node"),
        ("node_end", "pocketflow_ext.node"),
        ("flow_end", "pocketflow_ext.flow"),
    ]
    first_end = logged[2]
    assert first_end["run_id"].startswith("Pipeline-")
    assert {k: first_end[k] for k in ("flow", "path", "step", "node", "action")} == {
        "flow": "Pipeline",
        "path": "Pipeline/Load",
        "step": 0,
        "node": "Load",
        "action": "loaded",
    }
    assert isinstance(first_end["elapsed_s"], float)
    assert logged[4]["action"] is None
    assert logged[-1]["status"] == "completed" and logged[-1]["steps"] == 2


def test_failures_are_logged_at_error_level_with_the_traceback(jsonl: Path) -> None:
    with pytest.raises(ValueError):
        Flow(start=Boom()).subscribe(EventLog()).run({})
    logged = records(jsonl)
    error = next(r for r in logged if r["event"] == "node_error")
    assert error["level"] == "ERROR"
    assert error["error"] == "ValueError: bad input"
    assert 'raise ValueError("bad input")' in error["traceback"]
    assert logged[-1]["level"] == "ERROR" and logged[-1]["status"] == "failed"


def test_nothing_is_logged_until_logging_is_set_up() -> None:
    # A fresh interpreter: no test before this one has touched logging levels.
    code = textwrap.dedent(
        """
        import logging
        from pocketflow_ext import EventLog, Flow, Node
        seen = []
        class Keep(logging.Handler):
            def emit(self, record):
                seen.append(record)
        logging.getLogger("pocketflow_ext").addHandler(Keep())
        Flow(start=Node()).subscribe(EventLog()).run({})
        print(len(seen), logging.getLogger("pocketflow_ext.node").isEnabledFor(logging.INFO))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["0", "False"]
    assert done.stderr == ""


def test_before_logging_is_set_up_only_failures_are_wanted_and_still_logged() -> None:
    # A fresh interpreter, as above: records of the frequent kinds are not even built,
    # while a failing node still reaches a handler at ERROR.
    code = textwrap.dedent(
        """
        import logging
        from pocketflow_ext import EventLog, Flow, Node
        seen = []
        class Keep(logging.Handler):
            def emit(self, record):
                seen.append(record.levelname)
        logging.getLogger("pocketflow_ext").addHandler(Keep())
        class Boom(Node):
            def exec(self, prep_res):
                raise ValueError("bad input")
        log = EventLog()
        print(*(log.wants(k) for k in ("node_start", "node_end", "node_error", "flow_end")))
        try:
            Flow(start=Boom()).subscribe(log).run({})
        except ValueError:
            pass
        print(*seen)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines() == ["False False True True", "ERROR ERROR"]


def test_once_logging_is_set_up_every_kind_is_wanted(jsonl: Path) -> None:
    log = EventLog()
    assert all(log.wants(kind) for kind in ("flow_start", "node_start", "node_end", "node_retry"))
