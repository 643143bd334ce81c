"""A waiting run's question, and the exact code and command that answer it (read-only:
the monitor shows how to answer, it never answers)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import streamlit as st

from .run_facts import answer_command_line


def answer_snippet(run: Mapping[str, Any], db_path: str) -> str:
    """Python that answers the waiting run ``run`` (the flow built as for the run)."""
    run_id = str(run["run_id"])
    flow_name = str(run.get("flow_name") or "flow")
    return (
        f"flow = build_flow()  # your code: the {flow_name!r} flow built as for this run,\n"
        f"#                      with db_path={db_path!r} to record the continued run\n"
        f"store = flow.resume({run_id!r}, db_path={db_path!r}, answer=...)  # your answer\n"
    )


def question_text(run: Mapping[str, Any]) -> str:
    """The recorded question, pretty-printed JSON (as stored when it is not JSON)."""
    text = str(run.get("question") or "null")
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def render_waiting(run: Mapping[str, Any], db_path: str) -> None:
    st.warning(f"Waiting for an answer at {run.get('current_node') or 'its node'}.")
    st.text("The question:")
    st.code(question_text(run), language="json")
    st.text("Answer it from Python (the node that asked runs again and interrupt() returns it):")
    st.code(answer_snippet(run, db_path), language="python")
    line, recorded = answer_command_line(run, db_path)
    st.text(
        "Or from the command line"
        + ("" if recorded else " (your_script.py stands for the script that recorded it)")
        + ":"
    )
    st.code(line, language="bash")
