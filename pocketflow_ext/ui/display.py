"""Plain-text cells for the monitor's tables: status badges, times, durations, values.

Everything returned is text meant for ``st.dataframe``/``st.code``/``st.text``, which never
interpret HTML, so store contents cannot inject markup into the page.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..runstore.runs import STATUSES, parse_iso
from ..store.codec import Unserialisable

# Symbols from plain text fonts: the runs table is drawn on a canvas, where colour emoji
# turn into empty boxes on machines without an emoji font.
STATUS_BADGES = {
    "queued": "◷ queued",
    "running": "▶ running",
    "waiting": "⏸ waiting",
    "completed": "✔ completed",
    "failed": "✖ failed",
    "cancelled": "■ cancelled",
    "interrupted": "⚠ interrupted",
    "paused": "‖ paused",  # PocoFlow 0.2.1 allowed it; shown if a file has it
}
STATUS_COLOURS = {
    "running": "#1565c0",
    "waiting": "#f9a825",
    "completed": "#2e7d32",
    "failed": "#c62828",
    "cancelled": "#6d4c41",
    "interrupted": "#ef6c00",
}
__all__ = [
    "STATUSES",
    "badge",
    "badge_colour",
    "clock_time",
    "duration",
    "plain",
    "short_time",
]


def badge(status: str | None) -> str:
    return STATUS_BADGES.get(status or "", f"? {status}")


def badge_colour(text: str) -> str:
    """CSS for a badge cell (a pandas Styler rule): the status's colour, bold."""
    # "✖ failed → resumed by ...": the status is the word after the symbol.
    words = str(text).split()
    colour = STATUS_COLOURS.get(words[1] if len(words) > 1 else "")
    return f"color: {colour}; font-weight: 600" if colour else ""


def short_time(text: str | None) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in UTC, or the raw text when it is not a timestamp."""
    ts = parse_iso(text)
    if ts is None:
        return text or "—"
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def clock_time(text: str | None) -> str:
    """``HH:MM:SS.mmm`` in UTC (events of one run are close together), else the raw text."""
    ts = parse_iso(text)
    if ts is None:
        return text or ""
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%H:%M:%S.%f")[:-3]


def duration(seconds: float | None) -> str:
    """Text for a duration, in the unit that suits it (``40 µs``, ``4.2 ms``, ``23 ms``, ``1.5 s``,
    ``2 m 05 s``, ``1 h 05 m``); the CLI and the monitor both use it."""
    if seconds is None:
        return "—"
    if seconds < 0.001:
        return f"{seconds * 1_000_000:.0f} µs"
    if seconds < 0.01:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} m {seconds % 60:02.0f} s"
    return f"{seconds // 3600:.0f} h {seconds % 3600 // 60:02.0f} m"


def plain(text: str) -> str:
    """``text`` escaped for Streamlit's markdown elements (headers, ``st.error``...), so a
    run id or error message shows literally instead of as links, emphasis or markup."""
    return "".join("\\" + ch if ch in _MARKDOWN_CHARS else ch for ch in str(text))


_MARKDOWN_CHARS = set("\\`*_{}[]()#+-.!|<>~$:=^&")


def type_name(value: Any) -> str:
    if isinstance(value, Unserialisable):
        return f"unserialisable {value.type_name}"
    cls = type(value)
    return cls.__name__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def value_text(value: Any, limit: int = 200) -> str:
    """A one-line text rendering of a store value (``repr`` for non-strings), cut at
    ``limit`` characters."""
    text = (
        value
        if isinstance(value, str)
        else str(value)
        if isinstance(value, Unserialisable)
        else repr(value)
    )
    return text if len(text) <= limit else text[: limit - 1] + "…"
