"""Show a database in the monitor (Streamlit's AppTest) and print what it shows.

    python read_monitor.py DB_PATH RUN_ID

Prints the monitor's errors, warnings and run ids, then the opened run's status: used
where the database cannot be written (a read-only directory).
"""

from __future__ import annotations

import sys

from streamlit.testing.v1 import AppTest


def monitor_script(db_path: str) -> None:
    from pocketflow_ext.ui import render_workflow_monitor

    render_workflow_monitor(db_path)


def main() -> None:
    db_path, run_id = sys.argv[1], sys.argv[2]
    app = AppTest.from_function(monitor_script, args=(db_path,), default_timeout=60).run()
    assert not app.exception, app.exception
    for element in app.error:
        print("error:", element.value)
    for element in app.warning:
        print("warning:", element.value)
    print("runs:", " ".join(app.dataframe[0].value["Run id"]))
    app.selectbox(key="pfx-monitor-pick").set_value(run_id).run()
    assert not app.exception, app.exception
    print("opened:", app.subheader[-1].value)


if __name__ == "__main__":
    main()
