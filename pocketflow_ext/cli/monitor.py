"""``pocketflow-ext monitor``: start the Streamlit monitor (``pocketflow_ext/ui/monitor.py``)."""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from .database import db_path_problem
from .options import db_help, default_db, port
from .output import fail

MONITOR_APP = Path(__file__).resolve().parent.parent / "ui" / "monitor.py"


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    monitor = commands.add_parser(
        "monitor",
        help="open the Streamlit monitor on a database",
        description='Start the Streamlit monitor (needs: pip install "pocketflow-ext[ui]").',
    )
    monitor.add_argument("db", nargs="?", metavar="DB", help=db_help())
    monitor.add_argument("--port", type=port, metavar="N", help="port to serve on (default 8501)")
    monitor.add_argument(
        "--host",
        default="127.0.0.1",
        metavar="ADDR",
        help="address to listen on (default 127.0.0.1: this machine only; the monitor shows "
        "store contents, so use 0.0.0.0 only on a network you trust)",
    )
    monitor.set_defaults(handler=monitor_command)


def monitor_command(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("streamlit") is None:
        fail("monitor", 'the monitor needs Streamlit: pip install "pocketflow-ext[ui]"')
    problem = db_path_problem(args.db)
    if problem is not None:
        fail("monitor", problem)
    db = args.db or default_db()
    if not Path(db).is_file():
        fail(
            "monitor",
            f"no recording database at {db}; record runs first (pocketflow-ext run SCRIPT.py)",
        )
    if not MONITOR_APP.is_file():
        fail("monitor", f"the monitor app is missing from this installation ({MONITOR_APP})")
    command = [sys.executable, "-m", "streamlit", "run", str(MONITOR_APP)]
    command += ["--browser.gatherUsageStats", "false", "--server.address", args.host]
    if args.port is not None:
        command += ["--server.port", str(args.port)]
    command += ["--", str(db)]
    if os.name == "posix":
        # Become the Streamlit process, so signals (Ctrl+C, kill) reach the server directly.
        os.execv(sys.executable, command)
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:
        return 130
