"""ConsoleTrace: friendly and plain lines for every flow and node event, on stderr."""

from __future__ import annotations

import io
from typing import Any

import pytest

import pocketflow_ext
from pocketflow_ext import BatchFlow, ConfigurationError, ConsoleTrace, Flow, Node
from pocketflow_ext.subscribers.trace import trace_mode


class Terminal(io.StringIO):
    """A stream that says it is a UTF-8 terminal."""

    encoding = "utf-8"

    def isatty(self) -> bool:
        return True


class Load(Node):
    def post(self, shared: Any, prep_res: Any, exec_res: Any) -> str:
        return "loaded"


class Flaky(Node):
    calls = 0

    def exec(self, prep_res: Any) -> str:
        type(self).calls += 1
        if type(self).calls == 1:
            raise TimeoutError("slow service")
        return "ok"


class Boom(Node):
    def exec(self, prep_res: Any) -> None:
        raise ValueError("bad input")


def nested_flow() -> Flow:
    load = Load()
    load - "loaded" >> Flow(start=Flaky(max_retries=2), flow_name="Inner")
    return Flow(start=load, flow_name="Outer")


@pytest.fixture(autouse=True)
def _reset(monkeypatch: pytest.MonkeyPatch) -> None:
    Flaky.calls = 0
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("POCKETFLOW_EXT_TRACE", raising=False)


def test_friendly_mode_indents_nested_flows_and_shows_times_actions_and_retries() -> None:
    out = Terminal()
    nested_flow().subscribe(ConsoleTrace("friendly", out)).run({})
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("▶ Outer  (run Outer-")
    assert lines[1] == "  → Outer/Load"
    assert lines[2].startswith("  ✓ Outer/Load ") and lines[2].endswith(" ms → loaded")
    assert "  ▶ Outer/Inner" in lines
    retry = next(line for line in lines if "↻" in line)
    assert retry.startswith("    ↻ Outer/Inner/Flaky attempt 1 failed: TimeoutError: slow service")
    assert lines[-1].startswith("■ Outer completed · 2 steps · ")


def test_friendly_mode_colours_only_without_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR")
    out = Terminal()
    nested_flow().subscribe(ConsoleTrace("friendly", out)).run({})
    assert "\033[32m✓\033[0m" in out.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    Flaky.calls = 0
    out = Terminal()
    nested_flow().subscribe(ConsoleTrace("friendly", out)).run({})
    assert "\033[" not in out.getvalue()


def test_friendly_mode_shows_a_failure_with_its_error() -> None:
    out = Terminal()
    with pytest.raises(ValueError):
        Flow(start=Boom()).subscribe(ConsoleTrace("friendly", out)).run({})
    lines = out.getvalue().splitlines()
    assert lines[2].startswith("  ✗ Flow/Boom ") and lines[2].endswith("ValueError: bad input")
    assert lines[3].startswith("✗ Flow failed · 1 step · ")
    assert lines[3].endswith("ValueError: bad input")


def test_plain_mode_writes_key_value_lines() -> None:
    out = io.StringIO()
    nested_flow().subscribe(ConsoleTrace("plain", out)).run({})
    lines = out.getvalue().splitlines()
    assert len(lines) == 11
    run_id = lines[0].split("run=")[1]
    assert all(f"run={run_id}" in line for line in lines)
    assert lines[2].split()[1:4] == ["node_end", "Outer/Load", f"run={run_id}"]
    assert "step=0 action=loaded elapsed_ms=" in lines[2]
    retry = next(line for line in lines if " node_retry " in line)
    assert "attempt=1 delay_s=0 error='TimeoutError: slow service'" in retry
    assert lines[-1].split()[1:3] == ["flow_end", "Outer"]
    assert "status=completed steps=2" in lines[-1]
    assert not any(symbol in out.getvalue() for symbol in "▶✓↻✗■")


def test_auto_mode_is_plain_when_the_stream_is_not_a_terminal() -> None:
    assert trace_mode(None, io.StringIO()) == "plain"
    assert trace_mode("auto", Terminal()) == "friendly"


def test_environment_variable_chooses_the_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POCKETFLOW_EXT_TRACE", "plain")
    assert trace_mode(None, Terminal()) == "plain"
    monkeypatch.setenv("POCKETFLOW_EXT_TRACE", "OFF")
    out = Terminal()
    Flow(start=Load()).subscribe(ConsoleTrace(stream=out)).run({})
    assert out.getvalue() == ""
    assert trace_mode("friendly", Terminal()) == "friendly"  # an explicit choice wins


def test_a_bad_mode_names_the_setting_and_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="trace mode must be one of friendly, plain, off"):
        ConsoleTrace("cute")
    monkeypatch.setenv("POCKETFLOW_EXT_TRACE", "loud")
    with pytest.raises(ConfigurationError, match="POCKETFLOW_EXT_TRACE must be one of"):
        ConsoleTrace()


def test_flow_trace_prints_to_stderr_and_returns_the_flow(
    capsys: pytest.CaptureFixture[str],
) -> None:
    flow = Flow(start=Load())
    assert flow.trace("plain") is flow
    flow.run({})
    captured = capsys.readouterr()
    assert captured.out == ""
    assert [line.split()[1] for line in captured.err.splitlines()] == [
        "flow_start",
        "node_start",
        "node_end",
        "flow_end",
    ]


def test_process_wide_trace_sees_every_run(capsys: pytest.CaptureFixture[str]) -> None:
    unsubscribe = pocketflow_ext.subscribe(ConsoleTrace("plain"))
    try:
        Flow(start=Load(), flow_name="First").run({})
        Flow(start=Load(), flow_name="Second").run({})
    finally:
        unsubscribe()
    starts = [line for line in capsys.readouterr().err.splitlines() if " flow_start " in line]
    assert [line.split()[2] for line in starts] == ["First", "Second"]


def test_plain_mode_shows_batch_params_cut_to_one_readable_line() -> None:
    class Items(BatchFlow):
        def prep(self, shared: Any) -> list[dict]:
            return [{"doc": "x" * 500}]

    out = io.StringIO()
    Items(start=Load()).subscribe(ConsoleTrace("plain", out)).run({})
    start = next(line for line in out.getvalue().splitlines() if " node_start " in line)
    assert "params={'doc': 'xxx" in start and start.endswith("...")
    assert len(start) < 300
