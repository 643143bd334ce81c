"""Upstream's own test suite, from the installed pocketflow's sdist on PyPI, run three ways.

Against plain upstream; with ``pocketflow`` rebound to our drop-in classes; and unmodified
under ``instrument(db_path=...)``. The last two carry a hook on every event and a
process-wide subscriber checking one start and one end-or-error per node execution. Each
runs on both upstream variants (``upstream_variants.py``: the installed release and upstream main's
retry loop). The sdist is downloaded at test time with pip and cached outside the
repository (``$POCKETFLOW_EXT_CACHE`` or ``~/.cache/pocketflow-ext``); it is never committed.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pocketflow
import pytest
from upstream_variants import UpstreamVariant

VERSION = importlib.metadata.version("pocketflow")
HERE = Path(__file__).parent
# Copied into upstream's tests as conftest.py, so never loaded by this suite itself.
REBIND_CONFTEST = HERE / "rebind_conftest.py"
INSTRUMENT_CONFTEST = HERE / "instrument_conftest.py"


def _cache_dir() -> Path:
    env = os.environ.get("POCKETFLOW_EXT_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "pocketflow-ext"


@pytest.fixture(scope="module")
def upstream_sdist() -> Path:
    """The unpacked sdist (downloaded once, then reused from the cache)."""
    cache = _cache_dir()
    root = cache / f"pocketflow-{VERSION}"
    if not (root / "tests").is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        archive = cache / f"pocketflow-{VERSION}.tar.gz"
        if not archive.exists():
            done = subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                 f"pocketflow=={VERSION}", "-d", str(cache)],
                capture_output=True, text=True, timeout=240,
            )  # fmt: skip
            if done.returncode != 0 or not archive.exists():
                pytest.fail(
                    f"could not download the pocketflow {VERSION} sdist from PyPI:\n{done.stderr}\n"
                    f"Put pocketflow-{VERSION}.tar.gz into {cache} (or set POCKETFLOW_EXT_CACHE)."
                )
        with tarfile.open(archive) as tar:
            if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12 refuses unsafe members
                tar.extractall(cache, filter="data")
            else:
                tar.extractall(cache)
    return root


def _run_suite(
    sdist: Path, variant: UpstreamVariant, work: Path, conftest: Path | None
) -> tuple[int, dict, str]:
    """Run upstream's tests in a fresh interpreter; (passed count, subscriber report, output)."""
    shutil.copytree(sdist / "tests", work / "tests")
    # The tests import the package next to them: the variant's.
    shutil.copytree(variant.package, work / "pocketflow")
    (work / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    if conftest is not None:
        shutil.copy(conftest, work / "tests" / "conftest.py")
    junit, report = work / "junit.xml", work / "report.json"
    env = variant.env(
        POCKETFLOW_EXT_COMPAT_REPORT=str(report),
        POCKETFLOW_EXT_COMPAT_DB=str(work / "runs.db"),
        PYTHONPATH=str(HERE),
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}",
         "tests"],
        cwd=work, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    cases = ET.parse(junit).getroot().iter("testcase")
    passed = sum(1 for case in cases if not len(case))  # no failure/error/skipped child
    return passed, json.loads(report.read_text()) if report.exists() else {}, output


def test_the_sdist_is_the_installed_upstream_version(upstream_sdist: Path) -> None:
    source = (upstream_sdist / "pocketflow" / "__init__.py").read_text(encoding="utf-8")
    assert source == Path(pocketflow.__file__).read_text(encoding="utf-8")


@pytest.fixture
def plain_passed(upstream_sdist: Path, upstream_variant: UpstreamVariant, tmp_path: Path) -> int:
    """How many of upstream's tests pass on the variant itself."""
    passed, _, _ = _run_suite(upstream_sdist, upstream_variant, tmp_path / "plain", None)
    return passed


@pytest.mark.timeout(600)
def test_upstream_suite_passes_in_full_on_upstream_and_on_drop_in_classes(
    upstream_sdist: Path, upstream_variant: UpstreamVariant, plain_passed: int, tmp_path: Path
) -> None:
    plain = plain_passed
    ours, report, output = _run_suite(
        upstream_sdist, upstream_variant, tmp_path / "ours", REBIND_CONFTEST
    )
    assert plain > 0
    assert ours == plain, output
    # The rebinding really happened: our subscriber saw the upstream tests' nodes run.
    assert report["kinds"]["node_start"] > 0
    assert report["kinds"]["node_start"] == (
        report["kinds"].get("node_end", 0) + report["kinds"].get("node_error", 0)
    )
    assert report["problems"] == []
    assert report["hooks"]["node_end"] > 0 and report["hooks"]["flow_start"] > 0


@pytest.mark.timeout(600)
def test_upstream_suite_passes_in_full_unmodified_under_instrument_and_is_recorded(
    upstream_sdist: Path, upstream_variant: UpstreamVariant, plain_passed: int, tmp_path: Path
) -> None:
    from pocketflow_ext import WorkflowDB

    plain = plain_passed
    work = tmp_path / "instrumented"
    ours, report, output = _run_suite(upstream_sdist, upstream_variant, work, INSTRUMENT_CONFTEST)
    assert ours == plain > 0, output
    assert report["problems"] == []
    assert report["kinds"]["node_start"] == (
        report["kinds"].get("node_end", 0) + report["kinds"].get("node_error", 0)
    )
    assert report["hooks"]["node_end"] > 0 and report["hooks"]["flow_end"] > 0
    with WorkflowDB(work / "runs.db", readonly=True) as db:
        runs = db.list_runs(limit=10_000)
        assert len(runs) > 0
        assert {run["status"] for run in runs} <= {"completed", "failed"}
        recorded_ends = sum(
            1 for run in runs for e in db.get_events(run["run_id"]) if e["event"] == "node_end"
        )
    # Every node_end the stream saw was recorded (flows the tests ran outside a flow,
    # such as a bare node.run(), report nothing and record nothing).
    assert recorded_ends == report["kinds"]["node_end"]
