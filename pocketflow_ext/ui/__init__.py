"""The Streamlit monitor over recorded runs (needs the ``ui`` extra: streamlit).

``render_workflow_monitor(db_path)`` embeds it in any Streamlit page; ``monitor.py`` is also
the script ``streamlit run`` and ``pocketflow-ext monitor`` start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .monitor import render_workflow_monitor


def __getattr__(name: str) -> Any:
    # Imported on first use: the CLI reads ui.run_facts without Streamlit installed.
    if name == "render_workflow_monitor":
        from .monitor import render_workflow_monitor

        return render_workflow_monitor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["render_workflow_monitor"]
