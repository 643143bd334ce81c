"""``pocketflow-ext cache clear``: all entries, one node's, old ones; clear errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
from cached_nodes import Summarise, square

from pocketflow_ext import Flow
from pocketflow_ext.cli.main import main
from pocketflow_ext.runstore import open_store


def count(path) -> int:
    with open_store(path) as store:
        return int(store.conn().execute("SELECT count(*) FROM pf_cache").fetchone()[0])


def fill(cache_db) -> None:
    Flow(start=Summarise()).run({"text": "a"})
    Flow(start=square.clone()).run({"items": [1, 2]})
    assert count(cache_db) == 3


def test_clear_one_nodes_entries(cache_db, capsys) -> None:
    fill(cache_db)
    assert main(["cache", "clear", "--db", str(cache_db), "--node", "square"]) == 0
    assert "deleted 2 cached results of node 'square'" in capsys.readouterr().out
    assert count(cache_db) == 1


def test_clear_entries_older_than_an_age(cache_db, clock, capsys) -> None:
    Flow(start=Summarise()).run({"text": "old"})
    clock.advance(8 * 86400)
    Flow(start=Summarise()).run({"text": "new"})
    assert main(["cache", "clear", "--older-than", "7d"]) == 0  # $POCKETFLOW_EXT_CACHE_DB
    assert "deleted 1 cached result older than the given age" in capsys.readouterr().out
    assert count(cache_db) == 1


def test_clear_everything_from_the_command_line(cache_db) -> None:
    fill(cache_db)
    done = subprocess.run(
        [sys.executable, "-m", "pocketflow_ext", "cache", "clear", "--db", str(cache_db)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"deleted 3 cached results from {cache_db}" in done.stdout
    assert count(cache_db) == 0


def test_a_missing_database_and_a_bad_age_are_clear_errors(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit, match="no cache database at .*nope.db; pass the one"):
        main(["cache", "clear", "--db", str(tmp_path / "nope.db")])
    with pytest.raises(SystemExit) as caught:
        main(["cache", "clear", "--older-than", "soon"])
    assert caught.value.code == 2
    assert "expected an age such as 7d" in capsys.readouterr().err
