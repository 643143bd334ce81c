"""The Dask example fans runs over a local two-process cluster and records every one."""

from __future__ import annotations

from collections.abc import Callable

import pytest

pytest.importorskip("dask.distributed", reason='needs pip install -e ".[dask]"')


def test_dask_example_records_every_run_from_the_workers(run_example: Callable[..., str]) -> None:
    out = run_example("dask_runs.py", "--runs", "4")
    assert "first draft: a draft following an outline about topic 0" in out
    assert "sent flow drafted: a draft following an outline about sent flows" in out
    assert "recorded runs: 5 {'completed': 5}" in out
    assert "recorded by the workers, not here: True" in out
