"""Driving the monitor in Streamlit's AppTest: start it on a database, open a run, read it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streamlit.testing.v1 import AppTest

KEY = "pfx-monitor"


def monitor_script(db_path: str) -> None:
    from pocketflow_ext.ui import render_workflow_monitor

    render_workflow_monitor(db_path)


def monitor(db_path: Path | str) -> AppTest:
    """The monitor on ``db_path``, run once."""
    return AppTest.from_function(monitor_script, args=(str(db_path),), default_timeout=60).run()


def open_run(app: AppTest, run_id: str) -> AppTest:
    app.selectbox(key=f"{KEY}-pick").set_value(run_id).run()
    assert not app.exception, app.exception
    return app


def tab(app: AppTest, label: str) -> Any:
    return next(t for t in app.tabs if t.label == label)


def runs_shown(app: AppTest) -> list[str]:
    return list(app.dataframe[0].value["Run id"])
