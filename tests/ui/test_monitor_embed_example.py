"""examples/monitor_embed.py records runs offline, then embeds the monitor in a page."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "monitor_embed.py"


def test_example_records_runs_then_its_page_shows_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "demo.db"
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), str(db)],
        cwd=EXAMPLE.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "demo-0: completed" in result.stdout
    assert "demo-1: failed (summary too short" in result.stdout

    monkeypatch.setattr(sys, "argv", [str(EXAMPLE), str(db)])
    monkeypatch.syspath_prepend(str(EXAMPLE.parent))  # the example imports fake_llm
    app = AppTest.from_file(str(EXAMPLE), default_timeout=60).run()
    assert not app.exception
    assert app.title[0].value == "My summariser"
    table = app.dataframe[0].value.set_index("Run id")
    assert table.loc["demo-0", "Status"] == "✔ completed"
    assert table.loc["demo-1", "Status"] == "✖ failed"
