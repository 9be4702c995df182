"""The web UI in real headless Chromium against ``quantdesk serve`` with workers.

A researcher's path: log in, create a strategy from the SMA template, compile (a deliberate
syntax error shows an inline marker; fix it), run it on AAPL vs SPX, wait for FINISHED, read
the metric cards and the equity chart, open the trades. Then the live views (``/api/ws``): a
running job's page follows its progress, log and equity curve as they are pushed (the curve
from its first session, replayed by the hub for a page opened mid-run), the System page charts
``system.status`` ticks and lists platform events, and a toast says when a job ends.
Screenshots of every page go to ``out/web-ui/`` (``QUANTDESK_SCREENSHOTS`` overrides) for a
person to look at.

Needs Debian's ``chromium`` (``/usr/bin/chromium``; Playwright drives it through
``executable_path``, never a downloaded browser) and the built UI (``make web``). Without them
the test is skipped, except under CI (``CI`` set), where it fails.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
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


ADMIN = {"mobile": "13800138000", "password": "pass123456"}
#: Prints a line per bar, holds IBM (so the equity curve moves) and sleeps 10 ms: two years of
#: IBM (504 bars) take about five seconds and stream progress, log lines and equity all along.
CHATTY = (
    "import time\n\nfrom rqalpha.api import order_target_percent\n\n"
    "def handle_bar(context, bar_dict):\n"
    "    print('bar', context.now.date())\n"
    "    if context.portfolio.positions['IBM'].quantity == 0:\n"
    "        order_target_percent('IBM', 0.9)\n"
    "    time.sleep(0.01)\n"
)
LONG_WINDOW = {"start_date": "2010-01-04", "end_date": "2011-12-30", "universe": ["IBM"]}
SHORT_WINDOW = {"start_date": "2010-01-04", "end_date": "2010-02-26", "universe": ["IBM"]}


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
        import playwright.sync_api  # noqa: F401 (imported only to check it is installed)
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


@contextlib.contextmanager
def _browser(chromium: str) -> Iterator[tuple[Callable[[], Any], Any, list[str]]]:
    """Headless Chromium: ``(new_page, page, console errors)``; every page is 1280x800 and
    records its console errors."""
    from playwright.sync_api import ConsoleMessage, sync_playwright

    console_errors: list[str] = []

    def record_console_error(message: ConsoleMessage) -> None:
        if message.type == "error":
            console_errors.append(message.text)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)

        def new_page() -> Any:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.set_default_timeout(TIMEOUT_MS)
            page.on("console", record_console_error)
            return page

        try:
            yield new_page, new_page(), console_errors
        finally:
            browser.close()


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
    from playwright.sync_api import expect

    with _browser(chromium) as (_new_page, page, console_errors):
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
        expect(page.get_by_test_id("status-badge").first).to_have_text("FINISHED", timeout=90_000)

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
    unexpected = [e for e in console_errors if "401" not in e and "Failed to load" not in e]
    assert not unexpected, unexpected


def _login(page: Any, server: str) -> None:
    page.goto(f"{server}/login")
    page.fill("input[name=mobile]", ADMIN["mobile"])
    page.fill("input[name=password]", ADMIN["password"])
    page.click("button[type=submit]")
    page.get_by_role("heading", name="Strategies", exact=True).wait_for()


def _submit(http: httpx.Client, strategy: str, window: dict[str, Any]) -> str:
    """Run ``CHATTY`` saved as ``strategy`` over ``window``; the new job's id."""
    saved = http.post(f"/api/backtest/strategies/{strategy}", json={"code": CHATTY})
    assert saved.status_code == 200, saved.text
    run = http.post("/api/backtest/run", json={"strategy_id": strategy, **window})
    assert run.status_code == 200, run.text
    return str(run.json()["job_id"])


def _wait_progress(http: httpx.Client, job_id: str, above: float) -> None:
    """Wait until the job runs and its progress (over HTTP, in percent) is above ``above``."""
    deadline = time.monotonic() + 60
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = http.get(f"/api/backtest/jobs/{job_id}").json()
        assert job["status"] in ("QUEUED", "RUNNING"), job
        if job["status"] == "RUNNING" and job["progress"] > above:
            return
        time.sleep(0.1)
    pytest.fail(f"the job did not pass {above}% in 60 s: {job}")


def _number(page: Any, selector: str, attribute: str) -> float:
    value = page.locator(selector).first.get_attribute(attribute)
    assert value is not None, f"{selector} has no {attribute}"
    return float(value)


def _grows(page: Any, selector: str, attribute: str, above: float) -> None:
    """Wait until ``attribute`` of ``selector`` is a number above ``above``."""
    page.wait_for_function(
        """([sel, attr, above]) => {
             const el = document.querySelector(sel);
             return el !== null && Number(el.getAttribute(attr)) > above; }""",
        arg=[selector, attribute, above],
    )


def test_live_pages_follow_a_running_job_the_system_and_the_events(
    chromium: str, server: str
) -> None:
    from playwright.sync_api import expect

    with (
        _browser(chromium) as (new_page, page, console_errors),
        httpx.Client(base_url=server, timeout=30) as http,
    ):
        _login(page, server)
        expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "open")
        http.headers["Authorization"] = page.evaluate(
            "() => JSON.parse(sessionStorage.getItem('quantdesk.session')).token"
        )

        # A running job's page, opened once it has begun: the bar, the log and the equity
        # curve move while it runs, pushed (no polling).
        job_id = _submit(http, "chatty", LONG_WINDOW)
        _wait_progress(http, job_id, 5)
        page.goto(f"{server}/jobs/{job_id}")
        expect(page.get_by_test_id("job-live-badge")).to_have_text("live")
        progress = "[data-testid=job-progress]"
        expect(page.get_by_test_id("job-bars")).to_contain_text("of 504")
        start = _number(page, progress, "aria-valuenow")
        # The curve starts at the first session, pushed before the page opened (the hub
        # replays it), and grows as sessions complete.
        equity = "[data-testid=live-equity-chart]"
        expect(page.get_by_test_id("live-equity")).to_have_attribute("data-first", "2010-01-04")
        _grows(page, equity, "data-points", 0)
        points = _number(page, equity, "data-points")
        _grows(page, equity, "data-points", points)
        _grows(page, progress, "aria-valuenow", start)
        log = "[data-testid=log]"
        _grows(page, log, "data-lines", 0)
        expect(page.get_by_test_id("log")).to_contain_text(" bar 2010-")
        lines = _number(page, log, "data-lines")
        _grows(page, log, "data-lines", lines)
        middle = _number(page, progress, "aria-valuenow")
        assert start < middle < 100, (start, middle)
        expect(page.get_by_test_id("job-eta")).to_contain_text(re.compile(r"ETA \d+s"))
        assert _number(page, equity, "data-points") > points
        assert _painted_pixels(page, equity) > 500
        expect(page.get_by_test_id("live-equity")).to_contain_text(" sessions, to 2010-")
        _shot(page, "17-job-live")
        # Scrolling up pauses the log; Follow resumes it.
        page.locator(log).evaluate("el => { el.scrollTop = 0; }")
        expect(page.get_by_test_id("log-follow")).to_be_visible()
        _shot(page, "18-job-live-log-paused")
        page.get_by_test_id("log-follow").click()
        expect(page.get_by_test_id("log-follow")).to_have_count(0)
        # It ends: the page loads the result over HTTP.
        expect(page.get_by_test_id("status-badge").first).to_have_text("FINISHED", timeout=90_000)
        expect(page.get_by_test_id("metric-cards")).to_contain_text("Total return")
        expect(page.get_by_test_id("job-progress")).to_have_count(0)
        expect(page.get_by_test_id("live-equity-chart")).to_have_count(0)
        expect(page.get_by_test_id("equity-chart")).to_have_attribute("data-points", "504")

        # The System page: CPU and memory ticks, the figures, the event feed.
        page.get_by_role("link", name="System", exact=True).click()
        expect(page.get_by_role("heading", name="System", exact=True)).to_be_visible()
        expect(page.get_by_test_id("system-live")).to_have_text("live")
        _grows(page, "[data-testid=cpu-chart]", "data-points", 0)
        _grows(page, "[data-testid=memory-chart]", "data-points", 0)
        expect(page.get_by_test_id("system-figures")).to_contain_text("%")
        feed = page.get_by_test_id("event-feed")
        expect(feed.locator("tr[data-kind='job.finished']")).to_have_count(1)
        expect(feed).to_contain_text("job.claimed")
        expect(page.get_by_test_id("processes")).to_contain_text("worker")
        _grows(page, "[data-testid=cpu-chart]", "data-points", 1)
        _shot(page, "19-system")

        # While it is open, another job: its events arrive live and a toast says it ended.
        page.get_by_test_id("event-kind-filter").select_option("job.")
        expect(feed.locator("tbody tr").first).to_have_attribute("data-kind", "job.finished")
        second = _submit(http, "chatty_short", SHORT_WINDOW)
        toast = page.get_by_test_id("job-toast")
        expect(toast).to_contain_text("finished", timeout=90_000)
        expect(toast).to_contain_text(second[:12])
        expect(feed.locator("tr[data-kind='job.finished']")).to_have_count(2)
        expect(feed.locator("tbody tr").first).to_contain_text(second[:12])
        expect(feed).not_to_contain_text("strategy.saved")  # filtered out
        _grows(page, "[data-testid=cpu-chart]", "data-points", 2)  # the ticks go on
        feed.scroll_into_view_if_needed()
        _shot(page, "20-system-events-toast")
        page.get_by_test_id("event-subject-filter").fill(second)
        for kind in ("job.submitted", "job.claimed", "job.finished"):
            expect(feed.locator(f"tr[data-kind='{kind}']")).to_have_count(1)
        expect(feed.locator("tbody tr").filter(has_not_text=second[:12])).to_have_count(0)
        toast.get_by_role("link").click()
        expect(page).to_have_url(f"{server}/jobs/{second}")
        expect(page.get_by_test_id("status-badge").first).to_have_text("FINISHED")

        # The jobs list shows both, live.
        page.get_by_role("link", name="Jobs", exact=True).first.click()
        expect(page.get_by_test_id("jobs-live")).to_have_text("live")
        expect(page.get_by_test_id("jobs-table").locator("tbody tr")).to_have_count(2)

        # Without the socket (another tab, where it never answers) the pages poll instead.
        offline = new_page()
        offline.route_web_socket("**/api/ws", lambda _ws: None)
        _login(offline, server)
        third = _submit(http, "chatty_offline", LONG_WINDOW)
        offline.goto(f"{server}/jobs/{third}")
        expect(offline.get_by_test_id("job-live-badge")).to_have_text("polling")
        expect(offline.get_by_test_id("connection")).not_to_have_attribute("data-state", "open")
        expect(offline.get_by_test_id("status-badge").first).to_have_text(
            "FINISHED", timeout=90_000
        )
        expect(offline.get_by_test_id("metric-cards")).to_contain_text("Total return")
    unexpected = [e for e in console_errors if "Failed to load" not in e]
    assert not unexpected, unexpected
