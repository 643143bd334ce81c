"""Record real runs of real pocketflow-ext flows into one database, for the monitor's tests.

    python tests/ui/record_runs.py runs.db

Runs recorded (fixed run ids): ``writer-ok`` completed (a loop, a flaky node that retries,
store values of several types, one removed key), ``writer-bad`` failed with a traceback,
``nested-ok`` with a nested flow, ``slow-cancelled`` cancelled in the background, and
``crash-1`` left running by a process that died (shown as interrupted).
``python tests/ui/record_runs.py runs.db many N`` records N quick runs instead.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from pocketflow_ext import Flow, Node

GATE = threading.Event()
STARTED = threading.Event()


class Fetch(Node):
    def exec(self, prep_res):
        time.sleep(0.02)  # stands in for real work, so the timeline chart has something to show

    def post(self, shared, prep_res, exec_res):
        shared["notes"] = "notes about <b>otters</b> [link](http://x)"
        shared["draft_count"] = 0
        shared["scratch"] = {"tmp": True}
        return "default"


class Draft(Node):
    max_retries = 3
    calls = 0

    def exec(self, prep_res):
        Draft.calls += 1
        if Draft.calls == 1:
            raise ConnectionError("rate limited (call 1)")
        time.sleep(0.03)
        return "draft"

    def post(self, shared, prep_res, exec_res):
        shared["draft_count"] += 1
        shared["tags"] = ("a", "b")
        shared["when"] = dt.date(2026, 1, 2)
        return "review"


class Review(Node):
    def post(self, shared, prep_res, exec_res):
        shared.pop("scratch", None)
        return "again" if shared["draft_count"] < 2 else "done"


class Publish(Node):
    def post(self, shared, prep_res, exec_res):
        shared["published"] = True


class Broken(Node):
    def exec(self, prep_res):
        raise ValueError("publisher offline")


class Wait(Node):
    def exec(self, prep_res):
        STARTED.set()
        GATE.wait(10)


class Crash(Node):
    def exec(self, prep_res):
        os._exit(0)  # the process dies mid-run: its run row stays 'running'


def writer(db: str, last: Node, run_id: str) -> Flow:
    fetch, draft, review = Fetch(), Draft(), Review()
    fetch >> draft
    draft - "review" >> review
    review - "again" >> draft
    review - "done" >> last
    return Flow(start=fetch, db_path=db, flow_name="writer", run_id=run_id)


def nested(db: str) -> Flow:
    inner_start, inner_end = Fetch(), Publish()
    inner_start >> inner_end
    inner = Flow(start=inner_start)
    inner.flow_name = "polish"
    first = Publish()
    first >> inner
    return Flow(start=first, db_path=db, flow_name="nested", run_id="nested-ok")


def many(db: str, count: int) -> None:
    """``count`` quick completed runs of a one-node flow (run ids ``tiny-<n>``)."""
    for n in range(count):
        Flow(
            start=Publish(), db_path=db, flow_name="tiny", run_id=f"tiny-{n:04d}-{os.getpid()}"
        ).run({})


def record(db: Path | str, *args: str) -> Path | str:
    """Run ``record_runs.py`` in its own process (one of its runs kills its process)."""
    subprocess.run([sys.executable, __file__, str(db), *args], check=True, capture_output=True)
    return db


def main(db: str, mode: str = "all", count: str = "0") -> None:
    if mode == "many":
        many(db, int(count))
        return
    if mode == "crash":
        fetch = Fetch()
        fetch >> Crash()
        Flow(start=fetch, db_path=db, flow_name="crashing", run_id="crash-1").run({})
        return
    writer(db, Publish(), "writer-ok").run({"topic": "otters"})
    try:
        writer(db, Broken(), "writer-bad").run({"topic": "moles"})
    except ValueError:
        pass
    nested(db).run({})
    wait = Wait()
    wait >> Publish()
    handle = Flow(start=wait, db_path=db, flow_name="slow", run_id="slow-cancelled").run_background(
        {}
    )
    STARTED.wait(10)
    handle.cancel()
    GATE.set()
    try:
        handle.wait(10)
    except Exception:
        pass  # the cancelled run raises RunCancelled from wait(); recorded as cancelled
    subprocess.run([sys.executable, __file__, db, "crash"], check=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
