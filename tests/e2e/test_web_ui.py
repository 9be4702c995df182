"""The web UI in real headless Chromium against ``quantdesk serve`` with workers.

A researcher's path: log in, create a strategy from the SMA template, compile (a deliberate
syntax error shows an inline marker; fix it), run it on AAPL vs SPX, wait for FINISHED, read
the metric cards, the equity chart and the strategy's plot() series, give the run a title and
notes, download the HTML report, open the round trips (sorted), the fills, the K-line with its
moving averages and the period tables. A second run with other parameters: the jobs list shows
the new columns, sorts by Sharpe on the server and filters by a substring; ticking both runs
opens the comparison (metrics with the best value highlighted, the equity overlay, the input
and code diffs), from the list and from the strategy's Jobs tab. Then the live views
(``/api/ws``): a running job's page follows its progress, log and equity curve as they are
pushed (the curve from its first session, replayed by the hub for a page opened mid-run), the
System page charts ``system.status`` ticks and lists platform events, and a toast says when a
job ends; a failed run's page says what Retry and "Run again with current code" each do, and
the latter runs the fixed code.
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
#: Prints a line per bar, holds IBM (so the equity curve moves) and sleeps 30 ms: two years of
#: IBM (504 bars) take about fifteen seconds and stream progress, log lines and equity all
#: along. (10 ms was too short on a loaded CI machine: the job ended before the page had
#: checked its live log.)
CHATTY = (
    "import time\n\nfrom rqalpha.api import order_target_percent\n\n"
    "def handle_bar(context, bar_dict):\n"
    "    print('bar', context.now.date())\n"
    "    if context.portfolio.positions['IBM'].quantity == 0:\n"
    "        order_target_percent('IBM', 0.9)\n"
    "    time.sleep(0.03)\n"
)
LONG_WINDOW = {"start_date": "2010-01-04", "end_date": "2011-12-30", "universe": ["IBM"]}
SHORT_WINDOW = {"start_date": "2010-01-04", "end_date": "2010-02-26", "universe": ["IBM"]}
#: Fails on its first bar; FIXED replaces it as the strategy's current code.
BROKEN = "def handle_bar(context, bar_dict):\n    raise RuntimeError('broken on purpose')\n"
FIXED = "def handle_bar(context, bar_dict):\n    pass\n"


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


@contextlib.contextmanager
def _serve_copy(tmp_path: Path, data_root: Path, **env: str) -> Iterator[str]:
    """``quantdesk serve`` with the UI over a copy of ``data_root`` (the test's imports and
    updates change it); yields the base URL, stops the server after."""
    data = tmp_path / "data"
    shutil.copytree(data_root, data)
    srv = start_server(tmp_path, data, environ=env, QUANTDESK_WEB_DIST=str(DIST))
    try:
        yield srv.base
    finally:
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

    with (
        _browser(chromium) as (_new_page, page, console_errors),
        httpx.Client(base_url=server, timeout=30) as http,
    ):
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
        first = page.url.rsplit("/", 1)[1]
        # A second run with other parameters (over HTTP), for the comparison: it runs meanwhile.
        http.headers["Authorization"] = _token(page)
        run = http.post(
            "/api/backtest/run",
            json={
                "strategy_id": "sma_aapl", "start_date": "2005-01-03", "end_date": "2012-12-31",
                "universe": ["AAPL"], "benchmark": "SPX", "params": {"fast": 5, "slow": 20},
            },
        )  # fmt: skip
        assert run.status_code == 200, run.text
        second = str(run.json()["job_id"])

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
        # The template records its cash with plot(): a pane under the equity chart.
        expect(page.get_by_test_id("plot-chart")).to_have_attribute("data-points", "2013")
        # A title and notes, shown in the header (and the lists, comparisons and the report).
        page.get_by_test_id("edit-annotation").click()
        page.get_by_test_id("title-input").fill("SMA 10/30 baseline")
        page.get_by_test_id("notes-input").fill("The template's defaults.\nNo costs.")
        page.get_by_test_id("save-annotation").click()
        expect(page.get_by_test_id("run-title")).to_have_text("SMA 10/30 baseline")
        expect(page.get_by_test_id("run-notes")).to_contain_text("No costs.")
        _shot(page, "05-result-overview")
        page.set_viewport_size({"width": 1920, "height": 1080})
        _shot(page, "06-result-overview-1920")
        page.set_viewport_size({"width": 1280, "height": 800})

        # The report: a self-contained HTML file, fetched with the session's token.
        with page.expect_download() as download_info:
            page.get_by_test_id("download-report").click()
        report = download_info.value
        assert report.suggested_filename == f"{first}-report.html"
        html = Path(report.path()).read_text(encoding="utf-8")
        assert html.lstrip().startswith("<!DOCTYPE html>"), html[:200]
        assert "SMA 10/30 baseline" in html

        # Round trips: 64 fills, all in and all out, make 32; sortable, with readable heads.
        page.get_by_role("tab", name="Round trips (32)").click()
        trips = page.get_by_test_id("round-trips-table")
        expect(trips.locator("tbody tr")).to_have_count(32)
        for head in ("Entry", "Exit", "Qty", "P&L", "Return", "Held (sessions)", "MAE", "MFE"):
            expect(trips.locator("thead")).to_contain_text(head)
        expect(page.get_by_test_id("trip-stats")).to_contain_text("Win rate")
        pnl_head = trips.locator("th", has_text="P&L")
        pnl_head.click()
        expect(pnl_head).to_have_attribute("aria-sort", "descending")
        pnls = [
            float(text.replace(",", ""))
            for text in trips.locator("tbody td:nth-child(8)").all_inner_texts()
        ]
        assert len(pnls) == 32 and pnls == sorted(pnls, reverse=True), pnls
        page.get_by_test_id("round-trip-symbol").select_option("AAPL")
        expect(page.get_by_test_id("round-trip-count")).to_contain_text("32 round trips")
        _shot(page, "21-result-round-trips")

        page.get_by_role("tab", name="Fills (64)").click()
        trades = page.get_by_test_id("trades-table")
        expect(trades.locator("tbody tr")).to_have_count(50)
        expect(trades).to_contain_text("BUY")
        expect(trades.locator("thead")).to_contain_text("Realized P&L")
        page.get_by_role("button", name="next page").click()
        expect(trades.locator("tbody tr")).to_have_count(14)
        _shot(page, "07-result-trades")

        page.get_by_role("tab", name="K-line").click()
        expect(page.get_by_test_id("kline-chart")).to_have_attribute("data-points", "2013")
        expect(page.get_by_text("64 fills", exact=True)).to_be_visible()
        overlays = page.get_by_test_id("kline-overlays")
        expect(overlays).to_contain_text("MA 20")
        overlays.get_by_test_id("plot-toggle").first.click()  # the cash, on an axis of its own
        expect(overlays.get_by_test_id("plot-toggle").first).to_have_attribute(
            "aria-pressed", "true"
        )
        _shot(page, "08-result-kline")
        page.get_by_role("tab", name="Positions").click()
        expect(page.get_by_test_id("positions-table")).to_contain_text("AAPL")
        expect(page.get_by_test_id("positions-table").locator("thead")).to_contain_text("Avg price")
        _shot(page, "09-result-positions")
        page.get_by_role("tab", name="Periods").click()
        expect(page.get_by_test_id("monthly-table")).to_contain_text("2012")
        _shot(page, "22-result-periods")
        page.get_by_role("tab", name="Parameters").click()
        expect(page.get_by_text("Metric conventions")).to_be_visible()
        _shot(page, "10-result-parameters")
        page.get_by_role("tab", name="Log").click()
        expect(page.get_by_test_id("log")).to_contain_text("finished")
        _shot(page, "11-result-log")

        # Jobs: the run's range, universe, engine, version and headline metrics.
        _wait_finished(http, second)
        page.get_by_role("link", name="Jobs", exact=True).first.click()
        table = page.get_by_test_id("jobs-table")
        expect(table).to_contain_text("sma_aapl")
        for head in ("Strategy", "Ver.", "Range", "Universe", "Engine", "Return", "Sharpe"):
            expect(table.locator("thead")).to_contain_text(head)
        expect(table.locator("thead")).to_contain_text("Max DD")
        expect(table.locator("thead")).to_contain_text("Duration")
        row = table.locator(f"tr[data-job='{first}']")
        for text in ("SMA 10/30 baseline", "v2", "2005-01-03", "2012-12-31", "AAPL", "native"):
            expect(row).to_contain_text(text)
        expect(row).to_contain_text("721.32%")
        _shot(page, "12-jobs")
        # Sorted by Sharpe on the server: the best first, then the other way round.
        sharpe = {j: http.get(f"/api/backtest/jobs/{j}").json()["sharpe"] for j in (first, second)}
        best, worst = sorted(sharpe, key=lambda j: sharpe[j], reverse=True)
        page.get_by_test_id("sort-sharpe").click()
        expect(page).to_have_url(re.compile(r"order_by=sharpe&order=desc"))
        expect(table.locator("tbody tr").first).to_have_attribute("data-job", best)
        page.get_by_test_id("sort-sharpe").click()
        expect(page).to_have_url(re.compile(r"order_by=sharpe&order=asc"))
        expect(table.locator("tbody tr").first).to_have_attribute("data-job", worst)
        expect(page.get_by_test_id("sort-sharpe")).to_have_attribute("aria-sort", "ascending")
        # A substring of the strategy or the title.
        page.get_by_test_id("strategy-filter").fill("baseline")
        expect(page).to_have_url(re.compile(r"strategy=baseline"))
        expect(table.locator("tbody tr")).to_have_count(1)
        page.get_by_test_id("strategy-filter").fill("")
        expect(table.locator("tbody tr")).to_have_count(2)

        # Tick both runs and compare them.
        compare = page.get_by_test_id("compare-selected")
        expect(compare).to_be_disabled()
        for job in (first, second):
            table.locator(f"tr[data-job='{job}']").get_by_test_id("select-job").check()
        expect(compare).to_have_text("Compare (2)")
        compare.click()
        expect(page).to_have_url(f"{server}/compare?jobs={first},{second}")
        expect(page.get_by_test_id("compare-runs")).to_contain_text("SMA 10/30 baseline")
        metrics = page.get_by_test_id("compare-metrics")
        sharpe_row = metrics.locator("tbody tr", has_text="Sharpe")
        expect(sharpe_row.locator("td.best")).to_have_count(1)
        # The best Sharpe is highlighted in its run's column (runs in the order of the URL).
        best_column = 2 if best == first else 3
        expect(sharpe_row.locator(f"td:nth-child({best_column})")).to_have_class(
            re.compile(r"\bbest\b")
        )
        chart = page.get_by_test_id("compare-equity-chart")
        expect(chart).to_have_attribute("data-points", "2013")
        page.wait_for_function(
            "() => document.querySelector('[data-testid=compare-equity-chart] canvas') !== null"
        )
        assert _painted_pixels(page, "[data-testid=compare-equity-chart]") > 2000
        expect(page.get_by_test_id("compare-drawdown-chart")).to_have_attribute(
            "data-points", "2013"
        )
        inputs = page.get_by_test_id("compare-inputs")
        expect(inputs.locator("tbody tr")).to_have_count(1)  # only the differences
        expect(inputs.locator("tr[data-differs=true]")).to_contain_text("fast=5, slow=20")
        page.get_by_test_id("only-differences").uncheck()
        expect(inputs.locator("tr[data-differs=false]").first).to_be_visible()
        expect(page.get_by_test_id("compare-code")).to_contain_text("identical code")
        _shot(page, "23-compare")
        page.locator(".page").evaluate("el => { el.scrollTop = el.scrollHeight; }")
        _shot(page, "24-compare-tables")
        # The same from the strategy's Jobs tab.
        page.goto(f"{server}/strategies/sma_aapl")
        page.get_by_role("tab", name="Jobs").click()
        side = page.get_by_test_id("strategy-jobs")
        expect(side.get_by_test_id("select-job")).to_have_count(2)
        for box in side.get_by_test_id("select-job").all():
            box.check()
        _shot(page, "25-editor-jobs-compare")
        side.get_by_test_id("compare-selected").click()
        expect(page).to_have_url(re.compile(r"/compare\?jobs=[0-9a-f]{32},[0-9a-f]{32}$"))
        expect(page.get_by_test_id("compare-metrics")).to_be_visible()
        page.get_by_role("link", name="Strategies", exact=True).first.click()
        expect(page.get_by_role("heading", name="Strategies", exact=True)).to_be_visible()
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


def _token(page: Any) -> str:
    """The bearer token of the session ``page`` is logged in with."""
    return str(page.evaluate("() => JSON.parse(sessionStorage.getItem('quantdesk.session')).token"))


def _csv_file(name: str, content: bytes) -> dict[str, Any]:
    """A file for Playwright's ``set_input_files``: ``content`` as the CSV ``name``."""
    return {"name": name, "mimeType": "text/csv", "buffer": content}


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


def _wait_finished(http: httpx.Client, job_id: str) -> dict[str, Any]:
    """Wait until the job has ended; its status view."""
    deadline = time.monotonic() + 90
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = http.get(f"/api/backtest/jobs/{job_id}").json()
        if job["status"] not in ("QUEUED", "RUNNING"):
            return job
        time.sleep(0.2)
    pytest.fail(f"the job did not end in 90 s: {job}")


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
        http.headers["Authorization"] = _token(page)

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

        # A failed run: the page says what each button does; "Run again with current code" runs
        # the strategy's code as saved now (fixed), where Retry would rerun the failing snapshot.
        saved = http.post("/api/backtest/strategies/broken", json={"code": BROKEN})
        assert saved.status_code == 200, saved.text
        failed = http.post("/api/backtest/run", json={"strategy_id": "broken", **SHORT_WINDOW})
        assert failed.status_code == 200, failed.text
        failed_id = str(failed.json()["job_id"])
        assert _wait_finished(http, failed_id)["status"] == "FAILED"
        page.goto(f"{server}/jobs/{failed_id}")
        expect(page.get_by_test_id("status-badge").first).to_have_text("FAILED")
        rerun_help = page.get_by_test_id("rerun-help")
        expect(rerun_help).to_contain_text("Retry (same code snapshot) runs the very code this job")
        expect(rerun_help).to_contain_text(
            "Run again with current code runs the strategy's code as saved now"
        )
        expect(page.get_by_test_id("retry-snapshot")).to_be_visible()
        _shot(page, "26-result-failed")
        fixed = http.post("/api/backtest/strategies/broken", json={"code": FIXED})
        assert fixed.status_code == 200, fixed.text
        page.get_by_test_id("rerun-current").click()
        expect(page).to_have_url(re.compile(r".*/jobs/[0-9a-f]{32}$"))
        expect(page).not_to_have_url(f"{server}/jobs/{failed_id}")
        expect(page.get_by_test_id("status-badge").first).to_have_text("FINISHED", timeout=90_000)
    unexpected = [e for e in console_errors if "Failed to load" not in e]
    assert not unexpected, unexpected
