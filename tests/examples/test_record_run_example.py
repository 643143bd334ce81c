"""examples/record_run.py runs offline and shows what docs/persistence.md promises."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "record_run.py"


def test_record_run_example_records_queries_and_restores(
    run_example: Callable[..., str], tmp_path: Path
) -> None:
    out = run_example("record_run.py", str(tmp_path))
    assert "store key 'client_lock' is not JSON-serialisable" in out
    assert "run digest: completed, 8 steps" in out
    assert "digest/each_doc/polish/Summarise {'doc': 'b'}" in out
    assert "restored summaries: {'a': 'Otters hold" in out
    assert "marker for the lock: <unserialisable _thread.lock" in out
    assert "8 checkpoint files, first step_000_each_doc.json, last step_007_Publish.json" in out
    db = tmp_path / "runs" / "digest.db"  # the missing 'runs' directory was created
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM pf_checkpoints").fetchone()[0] == 8
    conn.close()


def test_record_run_example_leaves_nothing_behind_without_an_argument() -> None:
    def files() -> set[Path]:
        return {p for p in EXAMPLE.parent.iterdir() if p.name != "__pycache__"}

    before = files()
    done = subprocess.run(
        [sys.executable, str(EXAMPLE)],
        cwd=EXAMPLE.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert files() == before
