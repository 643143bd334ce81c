"""Table cells: badges, durations, value text and markdown escaping."""

from __future__ import annotations

import datetime as dt

from pocketflow_ext.store.codec import Unserialisable
from pocketflow_ext.ui.display import badge, duration, plain, type_name, value_text


def test_every_status_has_a_badge_and_unknown_ones_stay_visible() -> None:
    assert badge("interrupted") == "⚠ interrupted"
    assert badge("weird") == "? weird"


def test_durations_read_naturally() -> None:
    assert [duration(s) for s in (None, 0.00003, 0.00042, 0.0042, 0.023, 2.5, 75, 4000)] == [
        "—",
        "30 µs",
        "420 µs",
        "4.2 ms",
        "23 ms",
        "2.5 s",
        "1 m 15 s",
        "1 h 06 m",
    ]


def test_unserialisable_values_name_their_original_type() -> None:
    value = Unserialisable("socket.socket", "<socket fd=3>")
    assert type_name(value) == "unserialisable socket.socket"
    assert value_text(value) == "<unserialisable socket.socket: <socket fd=3>>"


def test_values_are_repr_and_cut_at_the_limit() -> None:
    assert value_text(dt.date(2026, 1, 2)) == "datetime.date(2026, 1, 2)"
    assert value_text("x" * 500, limit=10) == "x" * 9 + "…"


def test_plain_escapes_markdown_so_text_shows_literally() -> None:
    assert plain("[a](http://x) *b* <i>") == "\\[a\\]\\(http\\://x\\) \\*b\\* \\<i\\>"
