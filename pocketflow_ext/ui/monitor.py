"""The Streamlit monitor over recorded runs, as a script and as an embeddable function.

    pocketflow-ext monitor runs.db
    streamlit run pocketflow_ext/ui/monitor.py --server.address 127.0.0.1 -- runs.db

or, inside any Streamlit page, ``render_workflow_monitor("runs.db")``. The database is only
ever opened read-only. Needs the ``ui`` extra (``pip install "pocketflow-ext[ui]"``).
"""

from __future__ import annotations

import ipaddress
import os
import sys
from contextlib import closing
from pathlib import Path

import streamlit as st
from streamlit import config

# Absolute imports: `streamlit run` executes this file as a script, outside its package.
from pocketflow_ext.errors import PocketFlowExtError
from pocketflow_ext.runstore import open_store
from pocketflow_ext.ui.display import plain
from pocketflow_ext.ui.run_detail import render_run
from pocketflow_ext.ui.runs_table import render_runs

REFRESH_INTERVALS = (5, 10, 30)
DB_ENV = "POCKETFLOW_EXT_MONITOR_DB"


def render_workflow_monitor(
    db_path: str | os.PathLike[str], *, title: str = "Flow runs", key: str = "pfx-monitor"
) -> None:
    """Render the monitor for ``db_path`` into the current Streamlit page.

    ``key`` prefixes every widget key, so two monitors can share a page. The database is
    opened read-only on every refresh; a missing, empty, non-SQLite or foreign file shows a
    message instead of raising.

    >>> import streamlit as st                       # doctest: +SKIP
    >>> st.title("My app")                           # doctest: +SKIP
    >>> render_workflow_monitor("runs.db")            # doctest: +SKIP
    """
    path = str(db_path)
    if _refused_remote_viewer():
        return
    st.subheader(plain(title))
    col_path, col_auto, col_every, col_button = st.columns([5, 2, 2, 2])
    col_path.text(f"Database: {path}")
    auto = col_auto.toggle("Auto-refresh", key=f"{key}-auto")
    every = col_every.selectbox(
        "Every (s)",
        REFRESH_INTERVALS,
        key=f"{key}-every",
        disabled=not auto,
        label_visibility="collapsed",
        format_func=lambda s: f"every {s} s",
    )
    col_button.button("Refresh now", key=f"{key}-refresh")  # any click reruns the page

    # Only the runs part reruns on the timer, so the controls above keep their state.
    @st.fragment(run_every=every if auto else None)
    def live() -> None:
        _render_body(path, key)

    live()


def _refused_remote_viewer() -> bool:
    """Show nothing to another machine unless the user chose the address to listen on.

    A Streamlit server binds every interface unless told otherwise, and a page cannot
    change that after the server started (``server.address`` is read before any script
    runs). So ``streamlit run`` without ``--server.address`` serves the monitor to the
    network; the store contents stay on this machine unless the user asked to share them.
    """
    if config.is_manually_set("server.address") or not _remote(st.context.ip_address):
        return False  # chosen by the user, or a viewer on this machine (loopback)
    st.error(
        "This monitor shows run data to this machine only: the server listens on every "
        "network interface because no address was chosen. Start it with "
        "`pocketflow-ext monitor runs.db` (this machine only), or pass "
        "`--server.address 0.0.0.0` to `streamlit run` to share it on purpose."
    )
    return True


def _remote(ip: object) -> bool:
    """Whether ``ip`` (the viewer's address; None on loopback) is another machine's."""
    if not isinstance(ip, str) or not ip:
        return False  # no client address: a test harness, or loopback
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return True
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 on a dual-stack socket
    return not (address.is_loopback or (mapped is not None and mapped.is_loopback))


def _render_body(path: str, key: str) -> None:
    try:
        store = open_store(path, readonly=True)  # never creates, migrates or writes
    except PocketFlowExtError as exc:
        st.error(plain(str(exc)))
        return
    with closing(store):
        if store.notice:
            st.warning(plain(store.notice))
        try:
            run_id = render_runs(store, key)
            if run_id is not None:
                render_run(store, path, run_id, key)
        except PocketFlowExtError as exc:
            # A file damaged or replaced while the monitor reads it: say so and keep the page.
            st.error(plain(f"Reading {path} failed: {exc}. Refresh to try again."))


def db_path_from_argv(argv: list[str]) -> str | None:
    """The database named after ``--`` on the ``streamlit run`` line, or in the env."""
    args = [a for a in argv[1:] if a != "--"]
    return args[0] if args else os.environ.get(DB_ENV)


def main() -> None:
    st.set_page_config(page_title="pocketflow-ext monitor", layout="wide")
    path = db_path_from_argv(sys.argv)
    if path is None:
        st.error(
            plain(
                "No database given. Start the monitor with "
                "`pocketflow-ext monitor runs.db` or "
                "`streamlit run pocketflow_ext/ui/monitor.py --server.address 127.0.0.1 -- "
                "runs.db`."
            )
        )
        return
    render_workflow_monitor(Path(path))


if __name__ == "__main__":
    main()
