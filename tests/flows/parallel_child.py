"""A recorded flow with a Parallel group, run in a child process by test_parallel_resume.py.

``python parallel_child.py DB fail|sigint|resume|resume-sigint [RUN_ID]``: ``fail`` makes branch
``b`` raise (while ``a`` and ``c`` finish); ``sigint`` loops until the parent sends SIGINT;
``resume`` resumes RUN_ID. Every node execution is appended to ``DB.log``.
"""

from __future__ import annotations

import operator
import os
import sys
import time
from pathlib import Path
from typing import Any

import pocketflow_ext as pf

DB = sys.argv[1]
MODE = sys.argv[2]
LOG = Path(DB + ".log")
STARTED = Path(DB + ".started")


def note(name: str) -> None:
    with LOG.open("a") as log:
        log.write(name + "\n")


class Start(pf.Node):
    def post(self, shared: Any, prep_res: Any, exec_res: Any) -> Any:
        note("Start")
        shared["parts"] = ["start"]


class Part(pf.Node):
    def __init__(self, name: str, fail: bool = False) -> None:
        super().__init__(name=name)
        self.fail = fail

    def exec(self, prep_res: Any) -> Any:
        # The failing branch fails last, after the others finished (they would be stopped
        # before their next node otherwise: on_error="cancel").
        time.sleep(0.5 if self.fail else 0.02)
        if self.fail and MODE.startswith("fail"):
            raise RuntimeError(f"{self.name} failed on purpose")

    def post(self, shared: Any, prep_res: Any, exec_res: Any) -> Any:
        note(self.name)
        shared["parts"] = [self.name]
        shared[self.name] = True


class Tick(pf.Node):
    """Counts to 5, one node per count; under ``sigint`` it never gets there by itself."""

    def __init__(self, key: str) -> None:
        super().__init__(name="Tick")
        self.key = key

    def exec(self, prep_res: Any) -> Any:
        STARTED.touch()
        time.sleep(0.02)

    def post(self, shared: Any, prep_res: Any, exec_res: Any) -> Any:
        note(f"{self.key}/Tick")
        shared[self.key] = shared.get(self.key, 0) + 1
        limit = 10**9 if MODE == "sigint" else 5
        return "again" if shared[self.key] < limit else "done"


class Merge(pf.Node):
    def post(self, shared: Any, prep_res: Any, exec_res: Any) -> Any:
        note("Merge")
        shared["merged"] = True


def ticking(key: str) -> pf.Flow:
    tick = Tick(key)
    tick - "again" >> tick
    return pf.Flow(start=tick, flow_name=key)


def build() -> pf.Flow:
    start = Start()
    c1, c2 = Part("c1"), Part("c2")
    c1 >> c2
    if MODE in ("sigint", "resume-sigint"):
        branches = [ticking("x"), ticking("y"), Part("a")]
    else:
        branches = [Part("a"), Part("b", fail=True), pf.Flow(start=c1, flow_name="c")]
    start >> pf.Parallel(branches, reducers={"parts": operator.add}, name="Fan") >> Merge()
    return pf.Flow(start=start, flow_name="fan", db_path=DB)


if __name__ == "__main__":
    flow = build()
    try:
        if MODE.startswith("resume") or MODE == "fail-resume-fails":
            store = flow.resume(sys.argv[3])
        else:
            store = {}
            flow.run(store)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(130)
    except RuntimeError as exc:
        print(f"failed: {exc}", flush=True)
        sys.exit(1)
    print(sorted((k, v) for k, v in store.items() if k != "parts"), store["parts"], flush=True)
    os._exit(0)
