"""A PostgreSQL server stopped (``pg_ctl stop``) while a recorded run's node works: the run
stops with a ``RecordingError`` naming the masked URL and what to do, in every durability
mode, and every row committed before the loss is still there once the server is back.

Each test starts a throwaway server of its own with ``.ci/postgres`` (stopping the shared
one would break the other tests) and runs the flow in a child process, so the run's
process is really gone afterwards (the run then reads as interrupted)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pocketflow_ext import WorkflowDB

psycopg = pytest.importorskip("psycopg", reason='needs pip install -e ".[postgres]"')

ROOT = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("server_gone_child.py")


class Server:
    """A throwaway cluster started by ``.ci/postgres``, which can be stopped and started."""

    def __init__(self) -> None:
        if not shutil.which("bash") or not (
            os.environ.get("POCKETFLOW_EXT_TEST_PG_URL") or os.environ.get("CI")
        ):
            pytest.skip("needs PostgreSQL's server programs (run `bash .ci/run`)")
        started = subprocess.run(
            ["bash", str(ROOT / ".ci" / "postgres"), "start"],
            capture_output=True, text=True, check=True, timeout=300,
        )  # fmt: skip
        exports = dict(
            line.removeprefix("export ").split("=", 1) for line in started.stdout.splitlines()
        )
        self.url = exports["POCKETFLOW_EXT_TEST_PG_URL"]
        self.dir = Path(exports["POCKETFLOW_EXT_TEST_PG_DIR"])
        self.bin = max(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))

    def pg_ctl(self, *args: str) -> None:
        command = [str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-w", *args]
        if os.getuid() == 0:  # the cluster belongs to the postgres user (initdb refuses root)
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def stop(self) -> None:
        self.pg_ctl("-m", "fast", "stop")

    def start(self) -> None:
        port = urllib.parse.urlsplit(self.url).port
        options = f"-p {port} -k {self.dir} -c listen_addresses=127.0.0.1"
        self.pg_ctl("-l", str(self.dir / "server.log"), "-o", options, "start")

    def remove(self) -> None:
        env = {**os.environ, "POCKETFLOW_EXT_TEST_PG_DIR": str(self.dir)}
        subprocess.run(["bash", str(ROOT / ".ci" / "postgres"), "stop"], env=env, timeout=120)


@pytest.fixture
def server() -> Iterator[Server]:
    own = Server()
    try:
        yield own
    finally:
        own.remove()


def run_while_server_stops(
    server: Server,
    mode: str,
    folder: Path,
    ready: Callable[[], bool] | None = None,
    *shape: str,
) -> dict[str, object]:
    """Run the child's flow, stop the server once it is ``ready`` (by default: its
    ``Wait`` node works), let the node(s) end, and return what the child reported; the
    server is started again after."""
    ready = ready or (lambda: (folder / "waiting").exists())
    child = subprocess.Popen(
        [sys.executable, str(CHILD), server.url, mode, str(folder), *shape],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not ready():
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the child never reached its waiting node(s)"
            time.sleep(0.05)
        server.stop()
        (folder / "go").touch()
        out, err = child.communicate(timeout=180)
    finally:
        if child.poll() is None:
            child.kill()
    server.start()
    assert child.returncode == 0, err
    assert "Traceback" not in err, err  # no thread died of a raw error on the way
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def assert_clean_failure(outcome: dict[str, object], server: Server) -> str:
    assert outcome["error"] == "RecordingError", outcome
    message = str(outcome["message"])
    password = urllib.parse.urlsplit(server.url).password
    assert password and password not in message
    assert "postgresql://postgres:***@127.0.0.1" in message
    assert "cannot be reached" in message and "resume the run" in message
    return message


def test_sync_retries_then_stops_the_run_before_its_next_node_keeping_every_row(
    server: Server, tmp_path: Path
) -> None:
    outcome = run_while_server_stops(server, "sync", tmp_path)
    assert_clean_failure(outcome, server)
    assert outcome["ran"] == ["A", "Wait"]  # B never started: its store was gone
    with WorkflowDB(server.url, readonly=True) as db:
        run = db.get_run("gone-sync")
        assert run is not None and run["status"] == "interrupted"  # its process is gone
        assert [c["node_name"] for c in db.get_checkpoints("gone-sync")] == ["A"]
        events = [(e["event"], e["node_name"]) for e in db.get_events("gone-sync")]
    assert ("node_end", "A") in events
    assert ("node_end", "Wait") not in events and ("node_start", "B") not in events


def test_async_stops_the_run_once_the_writer_gives_up_keeping_every_row(
    server: Server, tmp_path: Path
) -> None:
    outcome = run_while_server_stops(server, "async", tmp_path)
    assert_clean_failure(outcome, server)
    with WorkflowDB(server.url, readonly=True) as db:
        run = db.get_run("gone-async")
        assert run is not None and run["status"] == "interrupted"
        assert [c["node_name"] for c in db.get_checkpoints("gone-async")] == ["A"]


def test_exit_mode_fails_the_run_at_its_end_keeping_its_run_row(
    server: Server, tmp_path: Path
) -> None:
    outcome = run_while_server_stops(server, "exit", tmp_path)
    assert_clean_failure(outcome, server)
    assert outcome["ran"] == ["A", "Wait", "B"]  # exit mode writes only when the run ends
    with WorkflowDB(server.url, readonly=True) as db:
        run = db.get_run("gone-exit")
        assert run is not None and run["status"] == "interrupted"
        assert db.get_checkpoints("gone-exit") == []


BRANCHES = ["B1", "B2", "B3"]


def branches_in_flight(server: Server, folder: Path, run_id: str, mode: str) -> Callable[[], bool]:
    """Ready once the three branches wait and (sync, async) their ``node_start`` rows are
    committed (sync mode commits a slow node's start from the writer thread), so what the
    run recorded before the server stopped is known."""

    def ready() -> bool:
        if not all((folder / f"waiting-{name}").exists() for name in BRANCHES):
            return False
        if mode == "exit":  # nothing but the run row is written before the run ends
            return True
        # A WorkflowDB in this process, kept across the server's restart below: opening
        # another one afterwards must reconnect rather than fail on the dead pooled one.
        db = WorkflowDB(server.url)
        rows = [(e["node_name"],) for e in db.get_events(run_id) if e["event"] == "node_start"]
        return {name for (name,) in rows} >= set(BRANCHES)

    return ready


@pytest.mark.parametrize(
    ("shape", "mode"),
    [
        ("parallel", "sync"),
        ("parallel", "async"),
        ("parallel", "exit"),
        ("parallel-flows", "sync"),
        ("parallel-flows finish", "sync"),
        ("parallel-async", "sync"),
    ],
)
def test_parallel_branches_committing_at_once_stop_the_run_with_one_error(
    server: Server, tmp_path: Path, shape: str, mode: str
) -> None:
    """Three branches end, and commit, while the server is gone. Sync: one of them spends
    the attempts under the run's lock and stops the run, the others find it stopped and
    drop their rows (and a branch flow runs no further node); async: the writer gives up
    once for the run; exit: the run's end does. Either way the run ends with one
    RecordingError (no hang, no raw psycopg error, not one per branch, not the group's
    "stopped before branches finished"), the child exits, and what was committed before
    is kept. Async branches (on the event loop) lost the error before the fix in
    ``nodes/parallel.py``, and a node branch that met it let branch flows run on."""
    shape, *on_error = shape.split()  # on_error="finish" too: the run stops all the same
    run_id = f"{shape}-{mode}"
    ready = branches_in_flight(server, tmp_path, run_id, mode)
    outcome = run_while_server_stops(server, mode, tmp_path, ready, shape, *on_error)
    message = assert_clean_failure(outcome, server)
    assert message.count("was stopped") == 1 and f"run {run_id!r} was stopped" in message
    if mode == "sync":  # the group stopped its branches and never joined: End never started
        assert sorted(outcome["ran"]) == [*BRANCHES, "Start"]
    with WorkflowDB(server.url, readonly=True) as db:
        run = db.get_run(run_id)
        assert run is not None and run["status"] == "interrupted"  # its process is gone
        checkpoints = [c["node_name"] for c in db.get_checkpoints(run_id)]
        events = [(e["event"], e["node_name"]) for e in db.get_events(run_id)]
    if mode == "exit":  # exit mode writes only when the run ends: the run row is all
        assert sorted(outcome["ran"]) == [*BRANCHES, "End", "Start"]
        assert checkpoints == [] and events == []
        return
    assert checkpoints == ["Start"]
    assert ("node_end", "Start") in events
    assert {name for event, name in events if event == "node_start"} >= set(BRANCHES)
    assert not any(event == "node_end" and name in BRANCHES for event, name in events)
    assert ("node_start", "End") not in events


def test_a_store_opened_again_after_the_server_restarted_reconnects(server: Server) -> None:
    """The process's pool still holds a connection the restart killed: a new store on the
    same URL connects afresh instead of reporting the dead connection as the database's
    problem."""
    for readonly in (False, True):
        WorkflowDB(server.url, readonly=readonly).list_runs()  # pools a connection
        server.stop()
        server.start()
        assert WorkflowDB(server.url, readonly=readonly).list_runs() == []
