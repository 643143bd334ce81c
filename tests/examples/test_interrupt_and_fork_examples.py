"""The human-in-the-loop and fork examples run offline and print what the docs promise."""

from __future__ import annotations

import re
from collections.abc import Callable


def test_approval_example_pauses_in_one_process_and_is_answered_in_another(
    run_example: Callable[..., str],
) -> None:
    out = run_example("approval_interrupt.py")
    pids = re.findall(r"^\[(\d+)\]", out, re.MULTILINE)
    assert len(set(pids)) == 2  # asked in one process, answered in another
    assert out.count("drafting") == 1  # the draft was not made again
    assert "status: waiting, question:" in out
    assert "published: Five facts about otters. (lgtm)" in out and "approved: True" in out


def test_fork_example_follows_the_override_and_keeps_the_original(
    run_example: Callable[..., str],
) -> None:
    out = run_example("fork_run.py")
    assert "original: All about otters, in a dry tone." in out
    assert "fork: All about otters, in a playful tone. | calls: 2" in out
    assert "forked from the original: True" in out and "at step: 0" in out
    assert "original forked by the fork: True" in out
    assert "original still says: All about otters, in a dry tone." in out
