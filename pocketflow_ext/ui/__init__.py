"""The Streamlit monitor over recorded runs (needs the ``ui`` extra: streamlit).

``render_workflow_monitor(db_path)`` embeds it in any Streamlit page; ``monitor.py`` is also
the script ``streamlit run`` and ``pocketflow-ext monitor`` start.
"""

from __future__ import annotations

from .monitor import render_workflow_monitor

__all__ = ["render_workflow_monitor"]
