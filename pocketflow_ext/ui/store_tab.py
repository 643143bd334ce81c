"""Store inspector tab: the store saved at each checkpoint, its types, raw JSON, and what
changed since the previous checkpoint."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

from ..runstore.base import RunStore
from .display import plain, type_name, value_text
from .store_diff import diff_stores


def checkpoint_label(checkpoint: Mapping[str, Any]) -> str:
    node = checkpoint.get("path") or checkpoint.get("node_name")
    return f"step {checkpoint['step']} · {node}"


def store_rows(store: Mapping[str, Any]) -> list[dict[str, str]]:
    return [{"Key": k, "Type": type_name(v), "Value": value_text(v)} for k, v in store.items()]


def diff_rows(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[dict[str, str]]:
    return [
        {
            "Key": c.key,
            "Change": c.change,
            "Before": "" if c.change == "added" else value_text(c.before),
            "After": "" if c.change == "removed" else value_text(c.after),
        }
        for c in diff_stores(before, after)
    ]


def pick_checkpoint(
    checkpoints: Sequence[Mapping[str, Any]], key: str, label: str, default: int | None = None
) -> int:
    """A step chosen with a slider over the run's checkpoints (``default`` or the last)."""
    steps = [int(c["step"]) for c in checkpoints]
    labels = {int(c["step"]): checkpoint_label(c) for c in checkpoints}
    if len(steps) == 1:
        st.text(f"{label}: {labels[steps[0]]} (the only checkpoint)")
        return steps[0]
    return int(
        st.select_slider(
            label,
            options=steps,
            value=steps[-1] if default is None else default,
            format_func=labels.__getitem__,
            key=key,
        )
    )


def render_store(
    runs: RunStore, run_id: str, checkpoints: Sequence[Mapping[str, Any]], key: str
) -> None:
    if not checkpoints:
        st.info("No checkpoints recorded for this run (none is saved before the first node ends).")
        return
    step = pick_checkpoint(checkpoints, f"{key}-store-step", "Checkpoint")
    steps = [int(c["step"]) for c in checkpoints]
    previous = max((s for s in steps if s < step), default=None)
    try:
        store = runs.load_checkpoint(run_id, step) or {}
        before = (runs.load_checkpoint(run_id, previous) or {}) if previous is not None else {}
    except ValueError as exc:
        st.error(
            plain(f"A checkpoint of this run is not valid JSON ({exc}); its raw text is below.")
        )
    else:
        render_keys(store, before, step, previous)
    with st.expander("Raw JSON (as recorded)"):
        text = runs.checkpoint_text(run_id, step) or "{}"
        try:
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            pass  # shown as recorded: a broken row is itself worth seeing
        st.code(text, language="json")


def render_keys(
    store: Mapping[str, Any], before: Mapping[str, Any], step: int, previous: int | None
) -> None:
    """The store's keys at ``step`` and what changed since checkpoint ``previous``."""
    st.text(f"Store after step {step}: {len(store)} keys")
    st.dataframe(store_rows(store), hide_index=True, width="stretch")
    if previous is None:
        st.text("Changes: first checkpoint of the run, every key is new.")
    else:
        st.text(f"Changes since step {previous}")
    changes = diff_rows(before, store)
    if changes:
        st.dataframe(changes, hide_index=True, width="stretch")
    else:
        st.text("No key added, changed or removed.")
