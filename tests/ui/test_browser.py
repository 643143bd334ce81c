"""End to end: ``pocketflow-ext monitor`` on a seeded database, opened in headless Chromium.

Screenshots go to ``$POCKETFLOW_EXT_SCREENSHOT_DIR`` (default: the test's temp dir); the
ones in docs/images/ were made this way. Skipped only when Debian's chromium is missing
outside CI; in CI (``$CI`` set) a missing browser fails the test.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from record_runs import record

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TABLE = "[data-testid='stDataFrame'] table"

if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
    pytest.skip(
        "Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True
    )

from playwright.sync_api import Page, sync_playwright  # noqa: E402

pytestmark = pytest.mark.timeout(180)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_serving(url: str, process: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the monitor exited with {process.returncode} before serving")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"the monitor did not answer at {url} within {timeout} s")


@pytest.fixture(params=["sqlite", "postgres"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Path | str]]:
    """``pocketflow-ext monitor DB --port N`` on a freshly recorded database: an SQLite
    file, then a PostgreSQL URL (the same test, once on each store)."""
    if request.param == "sqlite":
        db: Path | str = record(tmp_path / "runs.db")
        # Relative path, run from the database's directory: screenshots show "runs.db".
        where, cwd = Path(db).name, Path(db).parent
    else:
        db = where = record(request.getfixturevalue("postgres_url"))
        cwd = tmp_path
    port = free_port()
    env = {
        **os.environ,
        # No browser tab of its own, no network look-ups: a test server on localhost only.
        "STREAMLIT_SERVER_HEADLESS": "true",
        "STREAMLIT_SERVER_ADDRESS": "127.0.0.1",
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "pocketflow_ext", "monitor", str(where), "--port", str(port)],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # the CLI starts streamlit as its child: stop both together
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(url, process)
        if isinstance(db, str):  # a URL's password is not on the server's command line
            cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes().decode()
            assert "streamlit" in cmdline and urllib.parse.urlsplit(db).password not in cmdline
        yield url, db
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture
def shots(tmp_path: Path, served: tuple[str, Path | str]) -> Path:
    directory = Path(os.environ.get("POCKETFLOW_EXT_SCREENSHOT_DIR") or tmp_path / "shots")
    if not isinstance(served[1], Path):  # the docs' screenshots are the SQLite run's
        directory = directory / "postgres"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def table_text(page: Page) -> str:
    return str(page.locator(TABLE).first.text_content() or "")


def wait_for_text(page: Page, selector: str, text: str, timeout_s: float = 30) -> None:
    page.wait_for_function(
        "([sel, text]) => [...document.querySelectorAll(sel)].some(e => e.textContent.includes(text))",
        arg=[selector, text],
        timeout=timeout_s * 1000,
    )


def click_row(page: Page, index: int) -> None:
    """Tick the row-selection box of row ``index`` (the grid is drawn on a canvas)."""
    box = page.locator("[data-testid='stDataFrame']").first.bounding_box()
    assert box is not None
    header = row = 35  # Streamlit's default row height, header included
    page.mouse.click(box["x"] + 16, box["y"] + header + row * index + row / 2)


def test_monitor_in_chromium_shows_runs_opens_one_and_refreshes_live(
    served: tuple[str, Path | str], shots: Path
) -> None:
    url, db = served
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.goto(url)
            wait_for_text(page, TABLE, "writer-bad", timeout_s=60)
            text = table_text(page)
            for run_id in ("writer-ok", "writer-bad", "nested-ok", "slow-cancelled", "crash-1"):
                assert run_id in text
            for status in ("completed", "failed", "cancelled", "interrupted"):
                assert status in text
            page.screenshot(path=str(shots / "monitor-runs.png"), full_page=True)

            rows = [r.text_content() or "" for r in page.locator(f"{TABLE} tbody tr").all()]
            click_row(page, next(i for i, r in enumerate(rows) if "writer-bad" in r))
            wait_for_text(page, "h3", "Run writer-bad")
            page.get_by_text("Broken failed").first.click()  # open the traceback
            wait_for_text(page, "[data-testid='stCode']", "Traceback (most recent call last)")
            page.wait_for_timeout(500)  # let the chart finish drawing
            page.screenshot(path=str(shots / "monitor-timeline.png"), full_page=True)
            for label, expected, name in (
                ("Store", "Changes since step", "monitor-store.png"),
                ("Graph", "Visits", "monitor-graph.png"),
                ("Resume", "flow.resume", "monitor-resume.png"),
            ):
                page.get_by_role("tab", name=label).click()
                wait_for_text(page, "body", expected)
                page.wait_for_timeout(500)
                page.screenshot(path=str(shots / name), full_page=True)
                if label == "Store":  # recorded markup is shown as text, never rendered
                    wait_for_text(page, TABLE, "notes about <b>otters</b> [link](http://x)")
                    assert page.locator("b", has_text="otters").count() == 0
                    assert page.locator("a", has_text="link").count() == 0

            # Live: with auto-refresh on, a run recorded now appears without a reload.
            page.get_by_text("Auto-refresh").click()
            # The toggle's own rerun enables the interval box; wait for it, so the new run
            # below can only show up through the timer.
            page.wait_for_selector(
                "[data-testid='stSelectbox'] input:not([disabled])[aria-label*='Every']"
            )
            page.wait_for_timeout(1000)
            assert "tiny-" not in table_text(page)
            record(db, "many", "1")
            wait_for_text(page, TABLE, "tiny-", timeout_s=30)
        finally:
            browser.close()
    assert (shots / "monitor-runs.png").stat().st_size > 10_000
