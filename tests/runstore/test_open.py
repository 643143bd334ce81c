"""open_store: which store a path or URL selects, and the key writers share a store by."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pocketflow_ext import Flow, Node
from pocketflow_ext.errors import ConfigurationError, RecordingError
from pocketflow_ext.runstore import open_store, store_key


class Step(Node):
    pass


def test_a_postgresql_url_is_refused_without_creating_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    url = "postgresql://ada:s3cret@db.example/runs"
    with pytest.raises(RecordingError, match="PostgreSQL run store is not available") as caught:
        Flow(start=Step(), db_path=url)
    assert "s3cret" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_one_file_has_one_key_however_it_is_spelled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert store_key("runs.db") == store_key(tmp_path / "sub" / ".." / "runs.db")
    assert store_key("postgresql://h/db") == "postgresql://h/db"


@pytest.mark.parametrize("bad", ["", None, 3])
def test_a_missing_or_mistyped_location_is_a_configuration_error(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="db_path must be a file path"):
        open_store(bad)  # type: ignore[arg-type]


def test_the_read_only_commands_name_the_missing_postgresql_store() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pocketflow_ext", "runs", "postgresql://ada:s3cret@h/runs"],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    assert "PostgreSQL run store is not available" in done.stderr
    assert "s3cret" not in done.stderr
