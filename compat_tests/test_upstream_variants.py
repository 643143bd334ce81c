"""The differential tests and the retry tests, run on each upstream variant in a fresh
interpreter (``upstream_variants.py``: the installed release and upstream main's retry loop)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pocketflow
import pytest
from upstream_variants import UpstreamVariant

REPO = Path(__file__).resolve().parent.parent
SUITES = [
    "compat_tests/test_differential.py",
    *sorted(
        p.relative_to(REPO).as_posix() for p in (REPO / "tests" / "nodes").glob("test_retry*.py")
    ),
]

# What an upstream AsyncNode's exec_async sees in ``cur_retry`` on its last attempt: main
# counts there, 0.0.3 in a local variable.
PROBE = """
import asyncio, pocketflow

class Counting(pocketflow.AsyncNode):
    async def exec_async(self, prep_res):
        raise TimeoutError(getattr(self, "cur_retry", None))

    async def exec_fallback_async(self, prep_res, exc):
        return str(exc)

print(pocketflow.__file__)
print(asyncio.run(Counting(max_retries=3)._exec(None)))
"""


def _probe_in_process() -> str:
    """PROBE's answer for the installed pocketflow, in this process."""

    class Counting(pocketflow.AsyncNode):
        async def exec_async(self, prep_res):
            raise TimeoutError(getattr(self, "cur_retry", None))

        async def exec_fallback_async(self, prep_res, exc):
            return str(exc)

    return asyncio.run(Counting(max_retries=3)._exec(None))


def test_each_variant_is_the_upstream_it_names(
    upstream_variant: UpstreamVariant, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=tmp_path, env=upstream_variant.env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    imported, last_cur_retry = done.stdout.split()
    assert Path(imported) == upstream_variant.package / "__init__.py"
    expected = "2" if upstream_variant.name == "main" else _probe_in_process()
    assert last_cur_retry == expected


@pytest.mark.timeout(600)
def test_differential_and_retry_tests_pass_on_each_variant(
    upstream_variant: UpstreamVariant,
) -> None:
    env = upstream_variant.env(
        POCKETFLOW_EXT_COMPAT_UPSTREAM=str(upstream_variant.package / "__init__.py")
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SUITES],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=540,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert " passed" in output and "skipped" not in output, output
