"""A process that records a failing run, or resumes it (``tests/flows/test_resume_claims.py``).

    python resume_racer.py DB record DIR           -> prints the failed run's id
    python resume_racer.py DB resume DIR RUN_ID    -> waits for DIR/go, resumes; exit 3 on ResumeError

Node ``Work`` fails while DIR/fail exists and, when resumed, waits for DIR/release, so the
winner of a race is still running when the loser tries.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from pocketflow_ext import Flow, Node
from pocketflow_ext.errors import ResumeError


def wait_for(path: Path) -> None:
    while not path.exists():
        time.sleep(0.02)


class Prepare(Node):
    def post(self, shared, prep_res, exec_res):
        shared["prepared"] = True


class Work(Node):
    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = directory

    def exec(self, prep_res):
        if (self.directory / "fail").exists():
            raise RuntimeError("switched off")
        (self.directory / "working").touch()
        wait_for(self.directory / "release")

    def post(self, shared, prep_res, exec_res):
        shared["worked"] = True


def build(db: str, directory: Path) -> Flow:
    first = Prepare()
    first >> Work(directory)
    return Flow(start=first, db_path=db, flow_name="race")


def main() -> int:
    db, mode, directory = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    flow = build(db, directory)
    if mode == "record":
        (directory / "fail").touch()
        try:
            flow.run({})
        except RuntimeError:
            pass
        (directory / "fail").unlink()
        print(flow.db.list_runs(limit=1)[0]["run_id"])
        return 0
    wait_for(directory / "go")
    try:
        store = flow.resume(sys.argv[4])
    except ResumeError as exc:
        print(exc, file=sys.stderr)
        return 3
    print("resumed", dict(store))
    return 0


if __name__ == "__main__":
    sys.exit(main())
