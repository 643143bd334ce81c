"""Run the real ``pocketflow-ext`` command (and plain ``python``) in subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "plain_pocketflow_script.py"
CONSOLE_SCRIPT = Path(sys.executable).with_name("pocketflow-ext")

Runner = Callable[..., subprocess.CompletedProcess[str]]


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POCKETFLOW_EXT_")}
    env.pop("NO_COLOR", None)
    env.update(extra or {})
    return env


@pytest.fixture
def example() -> Path:
    """The unmodified PocketFlow example script."""
    return EXAMPLE


@pytest.fixture
def run_cli(tmp_path: Path) -> Runner:
    """``run_cli(*args, stdin=None, env=None, module=False)``: the console script (or
    ``python -m pocketflow_ext`` with ``module=True``) in ``tmp_path``."""

    def run(
        *args: str | os.PathLike[str],
        stdin: str | None = None,
        env: dict[str, str] | None = None,
        module: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        command: Sequence[str | os.PathLike[str]] = (
            [sys.executable, "-m", "pocketflow_ext", *args] if module else [CONSOLE_SCRIPT, *args]
        )
        return subprocess.run(
            command,
            cwd=tmp_path,
            input=stdin,
            capture_output=True,
            text=True,
            env=_env(env),
            timeout=120,
        )

    return run


@pytest.fixture
def run_python(tmp_path: Path) -> Runner:
    """``run_python(script, *args, stdin=None)``: the plain interpreter, for comparison."""

    def run(
        *args: str | os.PathLike[str], stdin: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *args],
            cwd=tmp_path,
            input=stdin,
            capture_output=True,
            text=True,
            env=_env(env),
            timeout=120,
        )

    return run
