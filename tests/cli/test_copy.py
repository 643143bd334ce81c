"""``pocketflow-ext copy SRC DST``: runs move whole between stores, once, never overwritten.

Runs are recorded by real flows in this process; the real console script copies them;
both stores are then read back through the run-store interface. Store pairs: SQLite to
SQLite, SQLite to PostgreSQL and back (PostgreSQL ones follow the ``postgres_url`` rule).
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pocketflow_ext import Flow, Node
from pocketflow_ext.runstore.base import CheckpointRow, RunStore, RunUpdate
from pocketflow_ext.runstore.open import open_store

Runner = Callable[..., subprocess.CompletedProcess[str]]
POCOFLOW_DB = Path(__file__).resolve().parents[1] / "ui" / "fixtures" / "pocoflow-0.2.1.db"


class Put(Node):
    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = self.name = key

    def post(self, shared, prep_res, exec_res):
        shared[self.key] = len(shared)


class FailOnce(Node):
    """Fails while the shared dict says so: the first run fails here, its resume passes."""

    def post(self, shared, prep_res, exec_res):
        if shared.get("fail"):
            raise RuntimeError("publisher offline")
        shared["published"] = True


class Wait(Node):
    def __init__(self, started: threading.Event, release: threading.Event) -> None:
        super().__init__()
        self.started, self.release = started, release

    def exec(self, prep_res):
        self.started.set()
        self.release.wait(30)


def record_history(location: str) -> None:
    """``plain-1`` and ``plain-2`` (completed), ``report-bad`` (failed at FailOnce) and its
    resume (completed), and a run nested in an unrecorded flow."""
    for run_id in ("plain-1", "plain-2"):
        a = Put("a")
        a >> Put("b")
        Flow(start=a, db_path=location, flow_name="plain", run_id=run_id).run({})
    with pytest.raises(RuntimeError):
        _report(location, run_id="report-bad").run({"fail": True})
    store = _report(location).resume("report-bad", overrides={"fail": False})
    assert store["published"] is True
    inner = Flow(start=Put("x"), db_path=location, flow_name="inner")
    # The outer flow records nothing but has a hook, so its run exists for the inner one.
    Flow(start=inner, flow_name="outer").on("flow_end", _ignore).run({})


def _ignore(*args: object) -> None:
    pass


def _report(location: str, run_id: str | None = None) -> Flow:
    a = Put("draft")
    a >> FailOnce()
    return Flow(start=a, db_path=location, flow_name="report", run_id=run_id)


@pytest.fixture(params=["sqlite->sqlite", "sqlite->postgres", "postgres->sqlite"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``(SRC, DST)`` locations of the parametrised kinds, both empty."""
    src_kind, dst_kind = request.param.split("->")

    def location(kind: str, name: str) -> str:
        if kind == "sqlite":
            return str(tmp_path / f"{name}.db")
        return str(request.getfixturevalue("postgres_url"))

    yield location(src_kind, "src"), location(dst_kind, "dst")


def test_every_run_arrives_whole_with_events_checkpoints_and_links(
    stores: tuple[str, str], run_cli: Runner
) -> None:
    src_url, dst_url = stores
    record_history(src_url)
    done = run_cli("copy", src_url, dst_url)
    assert done.returncode == 0, done.stderr
    with open_store(src_url, readonly=True) as src, open_store(dst_url, readonly=True) as dst:
        ids = sorted(r["run_id"] for r in src.list_runs(limit=None))
        assert len(ids) == 5
        assert "copied: 5 run(s)" in done.stdout and "already there: 0" in done.stdout
        assert sorted(r["run_id"] for r in dst.list_runs(limit=None)) == ids
        for run_id in ids:
            mine, theirs = src.export_run(run_id), dst.export_run(run_id)
            assert mine == theirs, run_id
            for checkpoint in src.get_checkpoints(run_id):
                step = checkpoint["step"]
                assert dst.checkpoint_text(run_id, step) == src.checkpoint_text(run_id, step)
        (again,) = dst.get_run("report-bad")["resumed_by"]  # type: ignore[index]
        assert dst.get_run(again)["resumed_from"] == "report-bad"  # type: ignore[index]
        assert dst.load_checkpoint(again, 1) == src.load_checkpoint(again, 1)
        (inner,) = [r for r in dst.list_runs(limit=None) if r["flow_name"] == "inner"]
        assert inner["parent_run_id"] is not None


def test_copying_twice_copies_nothing_twice(stores: tuple[str, str], run_cli: Runner) -> None:
    src_url, dst_url = stores
    record_history(src_url)
    assert run_cli("copy", src_url, dst_url).returncode == 0
    with open_store(dst_url, readonly=True) as dst:
        events = len(dst.get_events([r["run_id"] for r in dst.list_runs(limit=None)]))
    second = run_cli("copy", src_url, dst_url)
    assert second.returncode == 0, second.stderr
    assert "copied: 0 run(s)" in second.stdout and "already there: 5" in second.stdout
    with open_store(dst_url, readonly=True) as dst:
        assert dst.count_runs() == 5
        assert len(dst.get_events([r["run_id"] for r in dst.list_runs(limit=None)])) == events


def test_a_run_stored_differently_in_dst_is_reported_and_left_alone(
    tmp_path: Path, run_cli: Runner
) -> None:
    src_url, dst_url = str(tmp_path / "src.db"), str(tmp_path / "dst.db")
    record_history(src_url)
    assert run_cli("copy", src_url, dst_url).returncode == 0
    with open_store(dst_url) as dst:
        dst.write([RunUpdate("plain-1", {"status": "failed", "error_msg": "edited"})])
    done = run_cli("copy", src_url, dst_url)
    assert done.returncode == 1
    assert "different plain-1: already in" in done.stdout and "status" in done.stdout
    assert "already there: 4" in done.stdout and "different, not overwritten: 1" in done.stdout
    with open_store(dst_url, readonly=True) as dst:
        assert dst.get_run("plain-1")["error_msg"] == "edited"  # type: ignore[index]


def test_checkpoint_rows_travel_as_stored_even_when_they_are_not_json(
    tmp_path: Path, run_cli: Runner
) -> None:
    src_url, dst_url = str(tmp_path / "src.db"), str(tmp_path / "dst.db")
    record_history(src_url)
    raw = '{"delta": true, "changed": {"b": 2}} <- a format this version cannot decode'
    with open_store(src_url) as src:
        src.write([CheckpointRow("plain-1", 7, "Later", raw, "2026-11-28T08:00:00+00:00")])
    assert run_cli("copy", src_url, dst_url, "--run", "plain-1").returncode == 0
    with open_store(dst_url, readonly=True) as dst:
        assert dst.checkpoint_text("plain-1", 7) == raw
        assert [c["step"] for c in dst.get_checkpoints("plain-1")] == [0, 1, 7]


def test_a_run_named_with_run_brings_the_runs_it_links_to(tmp_path: Path, run_cli: Runner) -> None:
    src_url, dst_url = str(tmp_path / "src.db"), str(tmp_path / "dst.db")
    record_history(src_url)
    with open_store(src_url, readonly=True) as src:
        (again,) = src.get_run("report-bad")["resumed_by"]  # type: ignore[index]
    done = run_cli("copy", src_url, dst_url, "--run", again)
    assert done.returncode == 0, done.stderr
    with open_store(dst_url, readonly=True) as dst:
        assert sorted(r["run_id"] for r in dst.list_runs()) == sorted([again, "report-bad"])


def test_flow_and_since_select_runs(tmp_path: Path, run_cli: Runner) -> None:
    src_url = str(tmp_path / "src.db")
    record_history(src_url)
    done = run_cli("copy", src_url, "plain.db", "--flow", "plain")
    assert done.returncode == 0, done.stderr
    with open_store(tmp_path / "plain.db", readonly=True) as dst:
        assert sorted(r["run_id"] for r in dst.list_runs()) == ["plain-1", "plain-2"]
    assert (
        "copied: 0 run(s)" in run_cli("copy", src_url, "later.db", "--since", "2999-01-01").stdout
    )
    assert "copied: 5 run(s)" in run_cli("copy", src_url, "recent.db", "--since", "1h").stdout


def test_a_live_run_is_skipped_unless_include_running(tmp_path: Path, run_cli: Runner) -> None:
    src_url = str(tmp_path / "src.db")
    started, release = threading.Event(), threading.Event()
    flow = Flow(start=Wait(started, release), db_path=src_url, flow_name="slow", run_id="live")
    thread = threading.Thread(target=flow.run, args=({},))
    thread.start()
    try:
        assert started.wait(30)
        skipped = run_cli("copy", src_url, "a.db")
        assert skipped.returncode == 0, skipped.stderr
        assert "skipped live: still running" in skipped.stdout and "skipped: 1" in skipped.stdout
        forced = run_cli("copy", src_url, "b.db", "--include-running")
        assert "copied: 1 run(s)" in forced.stdout
    finally:
        release.set()
        thread.join(30)
    with open_store(tmp_path / "b.db", readonly=True) as partial:
        assert partial.get_run("live")["stored_status"] == "running"  # type: ignore[index]
    # The finished run now differs from its partial copy: reported, not overwritten.
    assert "different live" in run_cli("copy", src_url, "b.db").stdout


def test_a_pocoflow_database_copies_into_ours(tmp_path: Path, run_cli: Runner) -> None:
    # PocoFlow records no process, so its run left 'running' counts as live.
    done = run_cli("copy", POCOFLOW_DB, "ours.db")
    assert done.returncode == 0, done.stderr
    assert "copied: 2 run(s)" in done.stdout and "still running" in done.stdout
    done = run_cli("copy", POCOFLOW_DB, "ours.db", "--include-running")
    assert "copied: 1 run(s)" in done.stdout and "already there: 2" in done.stdout
    with open_store(POCOFLOW_DB, readonly=True) as src, open_store(tmp_path / "ours.db") as dst:
        assert dst.count_runs() == src.count_runs() > 0
        for run in src.list_runs(limit=None):
            assert _events(dst, run["run_id"]) == _events(src, run["run_id"])


def _events(store: RunStore, run_id: str) -> list[tuple[object, ...]]:
    return [(e["event"], e["step"], e["node_name"]) for e in store.get_events([run_id])]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("missing.db", "dst.db"), "Database file not found"),
        (("src.db", "src.db"), "SRC and DST are the same store"),
        (("src.db", "dst.db", "--since", "last tuesday"), "cannot read 'last tuesday' as a time"),
        (("src.db", "dst.db", "--run", "nope"), "skipped nope: not recorded in"),
        (("src.db", "dst.db", "--run", "plain-1", "--flow", "plain"), "without --flow"),
    ],
)
def test_bad_input_is_one_clear_line(
    tmp_path: Path, run_cli: Runner, args: tuple[str, ...], message: str
) -> None:
    record_history(str(tmp_path / "src.db"))
    done = run_cli("copy", *args)
    assert done.returncode in (1, 2)
    assert message in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


def test_passwords_never_appear_in_messages(tmp_path: Path, run_cli: Runner) -> None:
    record_history(str(tmp_path / "src.db"))
    url = "postgresql://alice:s3cret-pw@127.0.0.1:1/runs"  # nothing listens on port 1
    done = run_cli("copy", "src.db", url)
    assert done.returncode == 1
    assert "s3cret-pw" not in done.stdout + done.stderr
    assert "127.0.0.1" in done.stderr
