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


def _run(
    command: Sequence[str | os.PathLike[str]],
    cwd: Path,
    stdin: str | None,
    env: dict[str, str] | None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, input=stdin, capture_output=True, text=True, env=_env(env), timeout=120
    )


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
        prefix = [sys.executable, "-m", "pocketflow_ext"] if module else [CONSOLE_SCRIPT]
        return _run([*prefix, *args], tmp_path, stdin, env)

    return run


@pytest.fixture
def run_python(tmp_path: Path) -> Runner:
    """``run_python(*args, stdin=None, env=None)``: the plain interpreter, for comparison."""

    def run(
        *args: str | os.PathLike[str], stdin: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return _run([sys.executable, *args], tmp_path, stdin, env)

    return run
