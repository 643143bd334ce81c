"""The upstream variants the compat suites run against, made at test time (see conftest.py).

``installed``: the installed ``pocketflow`` as it is. ``main``: the same source with the
change upstream's main branch made to ``AsyncNode._exec`` (commit fd5817f, "align
AsyncNode retry mechanism with Node implementation": attempts counted in
``self.cur_retry`` instead of a local ``i``). Each variant is a package directory in a
temporary folder, put first on ``PYTHONPATH`` of the interpreter that runs a suite; no
upstream file is kept in the repository.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pocketflow
import pytest

# (installed text, main branch text), each found exactly once in AsyncNode._exec.
MAIN_BRANCH_CHANGES = (
    ("for i in range(self.max_retries):", "for self.cur_retry in range(self.max_retries):"),
    ("if i==self.max_retries-1:", "if self.cur_retry==self.max_retries-1:"),
)
VARIANTS = ("installed", "main")


@dataclass(frozen=True)
class UpstreamVariant:
    name: str
    root: Path  # holds the package directory ``pocketflow``

    @property
    def package(self) -> Path:
        return self.root / "pocketflow"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of an interpreter that imports this variant as ``pocketflow``."""
        paths = [str(self.root), *extra.pop("PYTHONPATH", "").split(os.pathsep)]
        paths.append(os.environ.get("PYTHONPATH", ""))
        return {**os.environ, **extra, "PYTHONPATH": os.pathsep.join(filter(None, paths))}


def main_branch_source(installed: str) -> str:
    """The installed source with upstream main's ``AsyncNode._exec`` loop variable."""
    source = installed
    for old, new in MAIN_BRANCH_CHANGES:
        count = source.count(old)
        if count == 0 and new in source:
            continue  # this release already counts in cur_retry
        if count != 1:
            pytest.fail(
                f"the installed pocketflow ({pocketflow.__file__}) has {count} copies of "
                f"{old!r}; update MAIN_BRANCH_CHANGES in compat_tests/upstream_variants.py to its "
                "AsyncNode._exec"
            )
        source = source.replace(old, new)
    return source
