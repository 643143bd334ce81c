"""Examples run as users run them: ``python examples/NAME.py [ARGS]`` from ``examples/``."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def run_example() -> Callable[..., str]:
    """Run an example offline; fail with its stderr unless it exits 0; return its stdout."""

    def run(name: str, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, str(EXAMPLES / name), *args],
            cwd=EXAMPLES, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    return run
