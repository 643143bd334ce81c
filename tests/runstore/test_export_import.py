"""RunStore.export_run / import_run (the interface ``pocketflow-ext copy`` is built on), on
both stores: a run travels whole, once, and differences are named."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

from conftest import record_runs

from pocketflow_ext.runstore.base import RunExport, export_differences
from pocketflow_ext.runstore.open import open_store


def test_a_run_exported_from_one_store_imports_whole_into_the_other(
    run_store_url: str, tmp_path: Path
) -> None:
    source = record_runs(tmp_path / "source.db")
    with open_store(source, readonly=True) as src, open_store(run_store_url) as dst:
        for run_id in ("writer-ok", "writer-bad", "nested-ok"):
            export = src.export_run(run_id)
            assert export is not None and export.events and export.checkpoints
            assert dst.import_run(export) is True
            assert dst.export_run(run_id) == export
            assert dst.get_run(run_id)["status"] == src.get_run(run_id)["status"]  # type: ignore[index]
            assert dst.load_checkpoint(run_id, 0) == src.load_checkpoint(run_id, 0)


def test_importing_a_run_already_there_writes_nothing(run_store_url: str, tmp_path: Path) -> None:
    with open_store(record_runs(tmp_path / "source.db"), readonly=True) as src:
        export = src.export_run("writer-ok")
    assert export is not None
    with open_store(run_store_url) as dst:
        assert dst.import_run(export) is True
        assert dst.import_run(export) is False
        assert len(dst.get_events(["writer-ok"])) == len(export.events)


def test_of_concurrent_importers_of_one_run_exactly_one_writes_it(
    run_store_url: str, tmp_path: Path
) -> None:
    with open_store(record_runs(tmp_path / "source.db"), readonly=True) as src:
        export = src.export_run("writer-ok")
    assert export is not None
    results: list[bool] = []
    with open_store(run_store_url) as dst:
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


def test_export_of_an_unknown_run_is_none(run_store_url: str, tmp_path: Path) -> None:
    record_runs(tmp_path / "source.db")
    with open_store(run_store_url) as store:
        assert store.export_run("no-such-run") is None


def test_differences_are_named_and_formatting_is_not_one(tmp_path: Path) -> None:
    with open_store(record_runs(tmp_path / "source.db"), readonly=True) as src:
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
