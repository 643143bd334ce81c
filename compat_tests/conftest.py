"""Fixtures of the compat suites: each upstream variant (``upstream_variants.py``)."""

from __future__ import annotations

import os
from pathlib import Path

import pocketflow
import pytest
from upstream_variants import VARIANTS, UpstreamVariant, main_branch_source


@pytest.fixture(scope="session", params=VARIANTS)
def upstream_variant(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> UpstreamVariant:
    installed = Path(pocketflow.__file__).read_text(encoding="utf-8")
    name = request.param
    variant = UpstreamVariant(name, tmp_path_factory.mktemp(f"upstream-{name}"))
    variant.package.mkdir()
    source = main_branch_source(installed) if name == "main" else installed
    (variant.package / "__init__.py").write_text(source, encoding="utf-8")
    return variant


def pytest_configure(config: pytest.Config) -> None:
    # Set by test_upstream_variants.py for the suites it runs: refuse to run them on any
    # other upstream than the variant it made, so a passing run proves something.
    expected = os.environ.get("POCKETFLOW_EXT_COMPAT_UPSTREAM")
    if expected and Path(pocketflow.__file__).resolve() != Path(expected).resolve():
        raise pytest.UsageError(f"expected upstream {expected}, imported {pocketflow.__file__}")
