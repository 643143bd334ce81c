"""RunStore.export_run / import_run (the interface ``pocketflow-ext copy`` is built on), on
both stores: a run travels whole, once, and differences are named."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import pytest

from pocketflow_ext.runstore.base import RunExport, export_differences
from pocketflow_ext.runstore.open import is_url, open_store


@pytest.fixture
def dst_url(run_store_url: str, tmp_path: Path) -> str:
    """The store runs are imported into: PostgreSQL, or an SQLite file beside the source
    (``recorded_db``, the runs recorded by real flows)."""
    return run_store_url if is_url(run_store_url) else str(tmp_path / "dst.db")


def test_a_run_exported_from_one_store_imports_whole_into_the_other(
    recorded_db: Path, dst_url: str
) -> None:
    with open_store(recorded_db, readonly=True) as src, open_store(dst_url) as dst:
        for run_id in ("writer-ok", "writer-bad", "nested-ok"):
            export = src.export_run(run_id)
            assert export is not None and export.events and export.checkpoints
            assert dst.import_run(export) is True
            assert dst.export_run(run_id) == export
            assert dst.get_run(run_id)["status"] == src.get_run(run_id)["status"]  # type: ignore[index]
            assert dst.load_checkpoint(run_id, 0) == src.load_checkpoint(run_id, 0)


def test_importing_a_run_already_there_writes_nothing(recorded_db: Path, dst_url: str) -> None:
    with open_store(recorded_db, readonly=True) as src:
        export = src.export_run("writer-ok")
    assert export is not None
    with open_store(dst_url) as dst:
        assert dst.import_run(export) is True
        assert dst.import_run(export) is False
        assert len(dst.get_events(["writer-ok"])) == len(export.events)


def test_of_concurrent_importers_of_one_run_exactly_one_writes_it(
    recorded_db: Path, dst_url: str
) -> None:
    with open_store(recorded_db, readonly=True) as src:
        export = src.export_run("writer-ok")
    assert export is not None
    results: list[bool] = []
    with open_store(dst_url) as dst:
        gate = threading.Barrier(4)

        def importing() -> None:
            gate.wait()
            results.append(dst.import_run(export))

        threads = [threading.Thread(target=importing) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(results) == [False, False, False, True]
        assert len(dst.get_events(["writer-ok"])) == len(export.events)


def test_export_of_an_unknown_run_is_none(recorded_db: Path, dst_url: str) -> None:
    with open_store(recorded_db) as store:
        assert store.export_run("no-such-run") is None
    with open_store(dst_url) as store:
        assert store.export_run("no-such-run") is None


def test_differences_are_named_and_formatting_is_not_one(recorded_db: Path) -> None:
    with open_store(recorded_db, readonly=True) as src:
        export = src.export_run("writer-ok")
    assert export is not None
    run = export.run
    reformatted = RunExport(
        dataclasses.replace(
            run,
            started_at=run.started_at.replace("+00:00", ""),  # naive ISO text is UTC
            graph=None if run.graph is None else run.graph.replace(",", ", "),
        ),
        export.events,
        export.checkpoints,
    )
    assert export_differences(export, reformatted) == []
    edited = RunExport(
        dataclasses.replace(run, status="failed"), export.events[:-1], export.checkpoints
    )
    assert export_differences(export, edited) == [
        "run row (status)",
        f"events ({len(export.events)} vs {len(export.events) - 1})",
    ]
