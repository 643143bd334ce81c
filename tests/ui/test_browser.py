"""End to end: ``pocketflow-ext monitor`` on a seeded database, opened in headless Chromium.

Screenshots go to ``$POCKETFLOW_EXT_SCREENSHOT_DIR`` (default: the test's temp dir); the
ones in docs/images/ were made this way. Skipped only when Debian's chromium is missing
outside CI; in CI (``$CI`` set) a missing browser fails the test.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from record_runs import record
from served import free_port, serving
from synthetic_runs import write_all

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
MONITOR_PY = Path(__file__).resolve().parents[2] / "pocketflow_ext" / "ui" / "monitor.py"

if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
    pytest.skip(
        "Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True
    )

from playwright.sync_api import Page, sync_playwright  # noqa: E402

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``pocketflow-ext monitor DB --port N`` on a freshly recorded database."""
    db = record(tmp_path / "runs.db")
    port = free_port()
    # Relative path, run from the database's directory: screenshots show "runs.db".
    command = [sys.executable, "-m", "pocketflow_ext", "monitor", db.name, "--port", str(port)]
    with serving(command, port, db.parent) as url:
        yield url, db


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    directory = Path(os.environ.get("POCKETFLOW_EXT_SCREENSHOT_DIR") or tmp_path / "shots")
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
    served: tuple[str, Path], shots: Path
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


def non_loopback_address() -> str | None:
    """This machine's address on its network (no packet is sent), or None without one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.123", 9))  # TEST-NET-1: only picks the outgoing interface
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if ipaddress.ip_address(address).is_loopback else address


def test_a_server_started_without_an_address_shows_other_machines_no_runs(
    tmp_path: Path, shots: Path
) -> None:
    own = non_loopback_address()
    if own is None:
        pytest.skip("this machine has no network address besides loopback")
    db = record(tmp_path / "runs.db")
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", str(MONITOR_PY)]
    with serving([*command, "--server.port", str(port), "--", str(db)], port, tmp_path) as url:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.goto(f"http://{own}:{port}")  # as another machine reaches it
                wait_for_text(page, "body", "shows run data to this machine only", 60)
                page.screenshot(path=str(shots / "monitor-remote-refused.png"))
                assert page.locator("[data-testid='stDataFrame']").count() == 0
                assert "writer-bad" not in (page.text_content("body") or "")
                page.goto(url)  # loopback: this machine
                wait_for_text(page, TABLE, "writer-bad", timeout_s=60)
            finally:
                browser.close()


def open_by_id(page: Page, run_id: str) -> None:
    picker = page.locator("[data-testid='stSelectbox']").filter(has_text="Open run")
    picker.locator("input").click()
    page.keyboard.type(run_id)
    page.keyboard.press("Enter")
    wait_for_text(page, "h3", f"Run {run_id}")
    page.wait_for_timeout(800)  # let the chart and graph finish drawing


def test_chart_and_graph_read_well_from_one_to_a_hundred_nodes_and_1_ms_to_1_h(
    tmp_path: Path, shots: Path
) -> None:
    db = write_all(tmp_path / "scales.db")
    port = free_port()
    command = [sys.executable, "-m", "pocketflow_ext", "monitor", db.name, "--port", str(port)]
    with serving(command, port, tmp_path) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 3000})
            page.goto(url)
            wait_for_text(page, TABLE, "one-1ms", timeout_s=60)
            heights = {}
            for run_id in ("one-1ms", "one-1h", "hundred-mixed", "five-1ms-to-1h"):
                open_by_id(page, run_id)
                chart = page.locator("[data-testid='stVegaLiteChart']").first
                chart.scroll_into_view_if_needed()
                box = chart.bounding_box()
                assert box is not None
                heights[run_id] = box["height"]
                tabs = page.locator("[data-testid='stTabs']").first
                tabs.screenshot(path=str(shots / f"timeline-{run_id}.png"))
                page.get_by_role("tab", name="Graph").click()
                graph = page.locator("[data-testid='stGraphVizChart'] svg").first
                graph.wait_for()
                page.wait_for_timeout(500)
                tabs.screenshot(path=str(shots / f"graph-{run_id}.png"))
                size = graph.bounding_box()
                assert size is not None
                if run_id.startswith("one-"):  # drawn at its own size, not the page's width
                    assert size["width"] < 400, size
                page.get_by_role("tab", name="Timeline").click()
            # One row per node execution at a fixed row height: 100 rows make a taller chart.
            assert heights["hundred-mixed"] > 10 * heights["one-1ms"]
        finally:
            browser.close()
