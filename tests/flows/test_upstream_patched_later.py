"""A wrapper a third party puts on upstream's classes after our flows first ran is honoured
(tracing integrations patch upstream's methods at any time); nothing of upstream's is cached."""

from __future__ import annotations

from typing import Any

import pocketflow
import pytest

import pocketflow_ext as pe


def _flow() -> pe.Flow:
    first = pe.Node(name="First")
    first >> pe.Node(name="Second")
    return pe.Flow(start=first)


@pytest.mark.parametrize("observed", [False, True], ids=["dormant", "with a hook"])
def test_a_wrapper_on_upstreams_get_next_node_added_after_a_run_is_called(
    observed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = _flow()
    if observed:
        flow.on("node_end", lambda name, action, elapsed, store: None)
    flow.run({})
    original = vars(pocketflow.Flow)["get_next_node"]
    picked: list[str] = []

    def traced(self: Any, curr: Any, action: Any) -> Any:
        picked.append(curr.name)
        return original(self, curr, action)

    monkeypatch.setattr(pocketflow.Flow, "get_next_node", traced)
    flow.run({})
    assert picked == ["First", "Second"]
