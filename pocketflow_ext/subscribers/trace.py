"""ConsoleTrace: one stderr line per flow start/end and node start/done/retry/error.

"friendly" mode indents nested flows and uses symbols (and colour on a terminal);
"plain" mode writes grep-able ``key=value`` lines for CI and log files.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Mapping
from typing import TextIO

from ..errors import ConfigurationError
from ..stream import events as ev
from ..stream.events import Event

ENV_VAR = "POCKETFLOW_EXT_TRACE"
MODES = ("friendly", "plain", "off")

_SYMBOLS = {
    ev.FLOW_START: "▶",
    ev.NODE_START: "→",
    ev.NODE_END: "✓",
    ev.NODE_RETRY: "↻",
    ev.NODE_ERROR: "✗",
    "completed": "■",
    "failed": "✗",
    "cancelled": "⏹",
}
_COLOURS = {ev.NODE_END: "32", ev.NODE_RETRY: "33", ev.NODE_ERROR: "31", "failed": "31"}


def trace_mode(mode: str | None = None, stream: TextIO | None = None) -> str:
    """Resolve the trace mode: ``mode`` if given, else ``$POCKETFLOW_EXT_TRACE``; "auto"
    (the default) is "friendly" when ``stream`` (default stderr) is a terminal that can
    show the symbols and "plain" otherwise."""
    source = "mode"
    if mode is None:
        mode, source = os.environ.get(ENV_VAR, "").strip().lower() or "auto", ENV_VAR
    if mode == "auto":
        return "friendly" if _can_be_friendly(stream or sys.stderr) else "plain"
    if mode not in MODES:
        raise ConfigurationError(
            f"trace {source} must be one of {', '.join(MODES)} or auto, got {mode!r}"
        )
    return mode


def _can_be_friendly(stream: TextIO) -> bool:
    if not _isatty(stream):
        return False
    try:
        "".join(_SYMBOLS.values()).encode(getattr(stream, "encoding", None) or "ascii")
    except (LookupError, UnicodeEncodeError):
        return False
    return True


class ConsoleTrace:
    """Subscriber printing a run as it happens; ``flow.subscribe(ConsoleTrace())``.

    ``mode`` is "friendly", "plain", "off" or None/"auto" (see :func:`trace_mode`);
    ``stream`` defaults to the ``sys.stderr`` of the moment each line is written.
    """

    def __init__(self, mode: str | None = None, stream: TextIO | None = None) -> None:
        self.mode = trace_mode(mode, stream)
        self.stream = stream
        target = stream or sys.stderr
        self.colour = self.mode == "friendly" and "NO_COLOR" not in os.environ and _isatty(target)
        self._lock = threading.Lock()
        # Flow start times by (run id, path), to print each flow's elapsed time at its end.
        self._started: dict[tuple[str, str], list[float]] = {}

    def wants(self, kind: str) -> bool:
        # emit()'s custom events (tokens, progress) would drown the trace: not shown.
        return self.mode != "off" and kind != ev.CUSTOM

    def __call__(self, event: Event) -> None:
        if self.mode == "off" or event.kind == ev.CUSTOM:
            return
        elapsed_ms = self._flow_elapsed_ms(event)
        line = (
            self._friendly(event, elapsed_ms)
            if self.mode == "friendly"
            else self._plain(event, elapsed_ms)
        )
        stream = self.stream or sys.stderr
        with self._lock:
            stream.write(line + "\n")
            stream.flush()

    def _flow_elapsed_ms(self, event: Event) -> float | None:
        key = (event.run_id, event.path)
        with self._lock:
            if event.kind == ev.FLOW_START:
                self._started.setdefault(key, []).append(event.ts)
            elif event.kind == ev.FLOW_END:
                starts = self._started.get(key)
                if starts:
                    start = starts.pop()
                    if not starts:
                        del self._started[key]
                    return (event.ts - start) * 1000
        return None

    def _friendly(self, event: Event, flow_ms: float | None) -> str:
        kind = event.kind
        indent = "  " * event.path.count("/")
        if kind == ev.FLOW_START:
            run = f"  (run {event.run_id})" if "/" not in event.path else ""
            return f"{indent}{_SYMBOLS[kind]} {event.path}{run}"
        if kind == ev.FLOW_END:
            status = event.status or "completed"
            steps = f"{event.steps} step" + ("" if event.steps == 1 else "s")
            text = f"{event.path} {status} · {steps}"
            if flow_ms is not None:
                text += f" · {_ms(flow_ms)}"
            if event.error and "/" not in event.path:
                text += f" · {event.error}"
            return f"{indent}{self._paint(status, _SYMBOLS.get(status, '■'))} {text}"
        symbol = self._paint(kind, _SYMBOLS[kind])
        if kind == ev.NODE_START:
            return f"{indent}{symbol} {event.path}"
        if kind == ev.NODE_END:
            action = f" → {event.action}" if event.action is not None else ""
            return f"{indent}{symbol} {event.path} {_ms((event.elapsed_s or 0) * 1000)}{action}"
        if kind == ev.NODE_RETRY:
            return (
                f"{indent}{symbol} {event.path} attempt {event.attempt} failed: {event.error}"
                f" · retrying in {event.delay_s or 0:g} s"
            )
        return f"{indent}{symbol} {event.path} {_ms((event.elapsed_s or 0) * 1000)} · {event.error}"

    def _paint(self, key: str, text: str) -> str:
        code = _COLOURS.get(key)
        return f"\033[{code}m{text}\033[0m" if self.colour and code else text

    @staticmethod
    def _plain(event: Event, flow_ms: float | None) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(event.ts))
        fields = [f"{stamp}.{int(event.ts * 1000) % 1000:03d}", event.kind, event.path]
        fields.append(f"run={event.run_id}")
        if event.step is not None:
            fields.append(f"step={event.step}")
        if event.kind == ev.NODE_START and event.params:
            fields.append(f"params={_short_repr(event.params)}")
        if event.kind == ev.NODE_END:
            fields.append(f"action={event.action}")
        if event.elapsed_s is not None:
            fields.append(f"elapsed_ms={event.elapsed_s * 1000:.1f}")
        if flow_ms is not None:
            fields.append(f"elapsed_ms={flow_ms:.1f}")
        if event.attempt is not None:
            fields.append(f"attempt={event.attempt} delay_s={event.delay_s or 0:g}")
        if event.status is not None:
            fields.append(f"status={event.status} steps={event.steps}")
        if event.error:
            fields.append(f"error={event.error!r}")
        return " ".join(fields)


def _short_repr(value: object, limit: int = 120) -> str:
    """A batch item's params, cut short: a trace line must stay one readable line."""
    try:
        text = repr(dict(value)) if isinstance(value, Mapping) else repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _ms(value: float) -> str:
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False
