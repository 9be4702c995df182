"""The web UI in real headless Chromium against ``quantdesk serve`` with workers.

A researcher's path: log in, create a strategy from the SMA template, compile (a deliberate
syntax error shows an inline marker; fix it), run it on AAPL vs SPX, wait for FINISHED, read
the metric cards and the equity chart, open the trades. Screenshots of every page go to
``out/web-ui/`` (``QUANTDESK_SCREENSHOTS`` overrides) for a person to look at.

Needs Debian's ``chromium`` (``/usr/bin/chromium``; Playwright drives it through
``executable_path``, never a downloaded browser) and the built UI (``make web``). Without them
the test is skipped, except under CI (``CI`` set), where it fails.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.server import start_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "web" / "dist"
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(os.environ.get("QUANTDESK_SCREENSHOTS", ROOT / "out" / "web-ui"))
TIMEOUT_MS = 30_000
#: Root needs --no-sandbox; the rest keep Chromium off the (closed) network.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
    "--disable-background-networking", "--disable-component-update",
]  # fmt: skip


def _require(condition: bool, reason: str) -> None:
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium() -> str:
    _require(
        Path(CHROMIUM).is_file(),
        f"headless Chromium not found at {CHROMIUM} (apt-get install chromium)",
    )
    _require((DIST / "index.html").is_file(), f"the web UI is not built ({DIST}); run `make web`")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:  # pragma: no cover - a dev dependency
        _require(False, "the playwright package is not installed (uv sync)")
    return CHROMIUM


@pytest.fixture
def server(tmp_path: Path, demo_data_dir: Path) -> Iterator[str]:
    srv = start_server(tmp_path, demo_data_dir, QUANTDESK_WEB_DIST=str(DIST))
    yield srv.base
    srv.stop()


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def _painted_pixels(page: Any, selector: str) -> int:
    """Non-transparent pixels of the first canvas under ``selector`` (0 = nothing drawn)."""
    return int(
        page.eval_on_selector(
            f"{selector} canvas",
            """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                      let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
                      return n; }""",
        )
    )


def test_a_researcher_writes_runs_and_reads_a_backtest_in_the_browser(
    chromium: str, server: str
) -> None:
    from playwright.sync_api import ConsoleMessage, expect, sync_playwright

    console_errors: list[str] = []

    def record_console_error(message: ConsoleMessage) -> None:
        if message.type == "error":
            console_errors.append(message.text)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(TIMEOUT_MS)
        page.on("console", record_console_error)
        try:
            # Login (an unknown path of the app lands on the login page first).
            page.goto(f"{server}/strategies")
            expect(page).to_have_url(f"{server}/login?next=%2Fstrategies")
            page.fill("input[name=mobile]", "13800138000")
            page.fill("input[name=password]", "wrong-password")
            page.click("button[type=submit]")
            expect(page.get_by_role("alert")).to_contain_text("password")
            _shot(page, "01-login")
            page.fill("input[name=password]", "pass123456")
            page.click("button[type=submit]")
            expect(page.get_by_role("heading", name="Strategies", exact=True)).to_be_visible()
            expect(page.get_by_text("No strategies yet")).to_be_visible()
            _shot(page, "02-strategies-empty")

            # Create from the SMA template.
            page.get_by_test_id("new-strategy").click()
            page.fill("input[name=strategy-id]", "sma_aapl")
            page.select_option("select[name=template]", "sma_crossover")
            page.get_by_test_id("create-strategy").click()
            expect(page).to_have_url(f"{server}/strategies/sma_aapl")
            expect(page.locator(".cm-content")).to_contain_text("PARAMS")

            # Compile with a deliberate syntax error: an inline marker at its line.
            page.click(".cm-content")
            page.keyboard.press("Control+End")
            page.keyboard.type("\ndef broken(:")
            page.get_by_test_id("compile").click()
            expect(page.locator(".cm-lintRange-error").first).to_be_visible()
            expect(page.locator(".cm-lint-marker-error").first).to_be_visible()
            expect(page.get_by_test_id("diagnostics")).to_contain_text("error · line")
            _shot(page, "03-editor-compile-error")
            # Fix it: remove the broken line, compile again, save.
            page.click(".cm-content")
            page.keyboard.press("Control+End")
            page.keyboard.press("Shift+Home")
            page.keyboard.press("Backspace")
            page.keyboard.press("Backspace")
            page.get_by_test_id("compile").click()
            expect(page.get_by_test_id("diagnostics")).to_contain_text("✓")
            expect(page.locator(".cm-lintRange-error")).to_have_count(0)
            page.get_by_test_id("save").click()
            expect(page.get_by_text("Saved as version 2")).to_be_visible()

            # Run on AAPL vs SPX with the parameter form.
            panel = page.get_by_test_id("run-panel")
            expect(panel.locator(".chip.on")).to_have_text("AAPL")
            expect(panel.locator("select[name=benchmark]")).to_have_value("SPX")
            panel.locator("input[name=start_date]").fill("2005-01-03")
            panel.locator("input[name=end_date]").fill("2012-12-31")
            panel.locator("input[name=fast]").fill("10")
            panel.locator("input[name=slow]").fill("30")
            _shot(page, "04-editor-run-panel")
            page.get_by_test_id("run-submit").click()
            expect(page).to_have_url(re.compile(r".*/jobs/[0-9a-f]{32}$"))
            expect(page.get_by_test_id("status-badge").first).to_have_text(
                "FINISHED", timeout=90_000
            )

            # The result: metric cards and an equity chart drawn with data points.
            cards = page.get_by_test_id("metric-cards")
            expect(cards).to_contain_text("Total return")
            expect(cards).to_contain_text("721.32%")  # the CLI's figure for this run
            expect(cards).to_contain_text("Sharpe")
            chart = page.get_by_test_id("equity-chart")
            expect(chart).to_have_attribute("data-points", "2013")
            page.wait_for_function(
                "() => document.querySelector('[data-testid=equity-chart] canvas') !== null"
            )
            assert _painted_pixels(page, "[data-testid=equity-chart]") > 2000
            _shot(page, "05-result-overview")
            page.set_viewport_size({"width": 1920, "height": 1080})
            _shot(page, "06-result-overview-1920")
            page.set_viewport_size({"width": 1280, "height": 800})

            page.get_by_role("tab", name="Trades (64)").click()
            trades = page.get_by_test_id("trades-table")
            expect(trades.locator("tbody tr")).to_have_count(50)
            expect(trades).to_contain_text("BUY")
            page.get_by_role("button", name="next page").click()
            expect(trades.locator("tbody tr")).to_have_count(14)
            _shot(page, "07-result-trades")

            page.get_by_role("tab", name="K-line").click()
            expect(page.get_by_test_id("kline-chart")).to_have_attribute("data-points", "2013")
            expect(page.get_by_text("64 fills")).to_be_visible()
            _shot(page, "08-result-kline")
            page.get_by_role("tab", name="Positions").click()
            expect(page.get_by_test_id("positions-table")).to_contain_text("AAPL")
            _shot(page, "09-result-positions")
            page.get_by_role("tab", name="Parameters").click()
            expect(page.get_by_text("Metric conventions")).to_be_visible()
            _shot(page, "10-result-parameters")
            page.get_by_role("tab", name="Log").click()
            expect(page.get_by_test_id("log")).to_contain_text("finished")
            _shot(page, "11-result-log")

            # Jobs, strategies with the last run, data.
            page.get_by_role("link", name="Jobs", exact=True).first.click()
            expect(page.get_by_test_id("jobs-table")).to_contain_text("sma_aapl")
            _shot(page, "12-jobs")
            page.get_by_role("link", name="Strategies", exact=True).first.click()
            expect(page.get_by_role("row", name="sma_aapl")).to_contain_text("FINISHED")
            _shot(page, "13-strategies")
            page.get_by_role("link", name="Data", exact=True).first.click()
            page.get_by_role("cell", name="AAPL", exact=True).click()
            expect(page.get_by_test_id("kline-chart")).to_be_visible()
            _shot(page, "14-data")
            page.set_viewport_size({"width": 1920, "height": 1080})
            _shot(page, "15-data-1920")

            # Deleting a strategy with jobs lists them and asks to cascade.
            page.get_by_role("link", name="Strategies", exact=True).first.click()
            page.get_by_role("row", name="sma_aapl").get_by_role("button", name="Delete").click()
            page.get_by_test_id("delete-submit").click()
            expect(page.get_by_role("dialog")).to_contain_text("These jobs belong")
            _shot(page, "16-delete-cascade")
            page.get_by_test_id("delete-cascade").click()
            expect(page.get_by_text("No strategies yet")).to_be_visible()

            # An expired token goes back to the login page, which says so.
            page.evaluate(
                """() => { const k = 'quantdesk.session';
                           const s = JSON.parse(sessionStorage.getItem(k));
                           s.token = 'expired'; sessionStorage.setItem(k, JSON.stringify(s)); }"""
            )
            page.goto(f"{server}/jobs")
            expect(page.get_by_role("alert")).to_contain_text("session expired")
            assert "/login" in page.url
        finally:
            browser.close()
    unexpected = [e for e in console_errors if "401" not in e and "Failed to load" not in e]
    assert not unexpected, unexpected
