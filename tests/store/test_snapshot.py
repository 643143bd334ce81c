"""Store.snapshot / Store.restore: atomic JSON files, explicit markers, PocoFlow's format."""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from pathlib import Path

import pytest

from pocketflow_ext import Store, Unserialisable


def test_snapshot_and_restore_round_trip_with_name_and_schema(tmp_path: Path) -> None:
    data = {
        "text": "héllo",
        "n": 3,
        "items": [1, 2.5, None, True],
        "nested": {"a": {"b": [1]}},
        "pair": (1, 2),
        "tags": {"x"},
        "raw": b"\x00\x01",
        "when": dt.datetime(2026, 1, 2, 3, 4, 5),
        "day": dt.date(2026, 1, 2),
        "int_keys": {1: "one"},
    }
    path = Store(data, name="mine").snapshot(tmp_path / "deep" / "s.json")
    back = Store.restore(path, schema={"n": int})
    assert back == data and back.name == "mine" and back.schema == {"n": int}


def test_snapshot_keeps_keys_that_are_not_strings(tmp_path: Path) -> None:
    data = {1: "one", "1": "string one", "k": [1]}
    back = Store.restore(Store(data).snapshot(tmp_path / "s.json"))
    assert back == data and list(back) == [1, "1", "k"]


def test_snapshot_writes_pocoflows_name_and_data_object(tmp_path: Path) -> None:
    path = Store({"a": 1}, name="s").snapshot(tmp_path / "s.json")
    assert json.loads(path.read_text()) == {"name": "s", "data": {"a": 1}}


def test_restore_reads_a_pocoflow_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "poco.json"
    path.write_text(json.dumps({"name": "pipeline", "data": {"query": "q", "hits": [1, 2]}}))
    store = Store.restore(path)
    assert store == {"query": "q", "hits": [1, 2]} and store.name == "pipeline"


def test_restore_applies_the_given_schema(tmp_path: Path) -> None:
    path = Store({"n": "three"}).snapshot(tmp_path / "s.json")
    with pytest.raises(TypeError, match="'n'"):
        Store.restore(path, schema={"n": int})


def test_unserialisable_values_become_explicit_markers_with_a_warning(tmp_path: Path) -> None:
    lock = threading.Lock()
    with pytest.warns(UserWarning, match="'client'"):
        path = Store({"client": lock, "ok": 1}).snapshot(tmp_path / "s.json")
    back = Store.restore(path)
    marker = back["client"]
    assert isinstance(marker, Unserialisable) and back["ok"] == 1
    assert marker.type_name == "_thread.lock" and "lock" in marker.repr


def test_a_marker_survives_a_second_snapshot_and_passes_schema_checks(tmp_path: Path) -> None:
    with pytest.warns(UserWarning):
        first = Store({"c": threading.Lock()}).snapshot(tmp_path / "a.json")
    restored = Store.restore(first, schema={"c": type(threading.Lock())})
    with pytest.warns(UserWarning):
        second = restored.snapshot(tmp_path / "b.json")
    assert Store.restore(second)["c"] == restored["c"]


def test_snapshot_replaces_a_file_without_leaving_temporary_files(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    Store({"v": 1}).snapshot(path)
    Store({"v": 2}).snapshot(path)
    assert Store.restore(path) == {"v": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json"]


def test_a_failed_snapshot_keeps_the_previous_file(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "s.json"
    Store({"v": 1}).snapshot(path)

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        Store({"v": 2, "big": "x" * 100_000}).snapshot(path)
    monkeypatch.undo()
    assert Store.restore(path) == {"v": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json"]


def test_readers_never_see_a_half_written_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    Store({"i": -1}).snapshot(path)
    stop = threading.Event()
    bad: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            try:
                json.loads(path.read_text())
            except json.JSONDecodeError as exc:
                bad.append(str(exc))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(60):
            Store({"i": i, "pad": "y" * 200_000}).snapshot(path)
    finally:
        stop.set()
        thread.join()
    assert bad == [] and Store.restore(path)["i"] == 59


def test_restore_of_a_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.json"):
        Store.restore(tmp_path / "nope.json")


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"data": [1]}', '{"name": "x"}'])
def test_restore_of_something_else_is_a_clear_value_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ValueError, match="not a store snapshot"):
        Store.restore(path)
