"""The HTML tear sheet (``render_report``) in real headless Chromium, with the network cut.

The report is written to a file and opened from ``file://`` as a colleague would open it;
every request that is not that file is aborted and recorded (there must be none). Then: no
console error or warning, no page error, no dialog (hostile titles and ``plot()`` names stay
text), every chart container holds a drawn SVG, the equity chart switches between linear and
log scales, a tooltip renders, the round-trip table sorts, and a full-page screenshot is a
real picture (also copied to ``out/web-ui/`` for a person to look at).

Needs Debian's ``chromium`` (``/usr/bin/chromium``, driven through ``executable_path``, never
a downloaded browser); without it the test is skipped, except under CI (``CI`` set).
"""

from __future__ import annotations

import os
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from quantdesk.backtest import BacktestResult, run_backtest
from quantdesk.backtest.report import render_report
from quantdesk.data import Catalog

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(os.environ.get("QUANTDESK_SCREENSHOTS", ROOT / "out" / "web-ui"))
TIMEOUT_MS = 30_000
#: Root needs --no-sandbox; the rest keep Chromium off the (closed) network.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
    "--disable-background-networking", "--disable-component-update",
]  # fmt: skip
XSS = "<script>alert(1)</script>"
#: Holds nothing, records a plot() series whose name would end a <script> element.
IDLE = "def handle_bar(context, bar_dict):\n    plot('</script><script>alert(2)</script>', 1.0)\n"


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
    try:
        import playwright.sync_api  # noqa: F401 (imported only to check it is installed)
    except ImportError:  # pragma: no cover - a dev dependency
        _require(False, "the playwright package is not installed (uv sync)")
    return CHROMIUM


class Visit:
    """A page of its own browser with everything it tried recorded."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.console: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.blocked: list[str] = []
        self.requests: list[str] = []


@pytest.fixture
def visit(chromium: str) -> Iterator[Visit]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(TIMEOUT_MS)
            seen = Visit(page)

            def route(r: Any) -> None:
                if r.request.url.startswith("file://"):
                    r.continue_()
                else:
                    seen.blocked.append(r.request.url)
                    r.abort()

            page.route("**/*", route)
            page.on("request", lambda req: seen.requests.append(req.url))
            page.on(
                "console",
                lambda m: (
                    seen.console.append(f"{m.type}: {m.text}")
                    if m.type in ("error", "warning")
                    else None
                ),
            )
            page.on("pageerror", lambda exc: seen.errors.append(str(exc)))

            def dialog(d: Any) -> None:
                seen.dialogs.append(d.message)
                d.dismiss()

            page.on("dialog", dialog)
            yield seen
        finally:
            browser.close()


@pytest.fixture(scope="module")
def sma(demo_catalog: Catalog) -> BacktestResult:
    return run_backtest(
        EXAMPLES / "sma_crossover.py",
        start="2008-01-02",
        end="2012-12-31",
        universe="AAPL",
        benchmark="SPX",
        params={"fast": 10, "slow": 30},
        catalog=demo_catalog,
    )


def _open(visit: Visit, html: str, path: Path) -> None:
    path.write_text(html, encoding="utf-8")
    visit.page.goto(path.as_uri())
    visit.page.wait_for_selector("html[data-report-ready='true']")


def _assert_clean(visit: Visit, path: Path) -> None:
    assert visit.blocked == []
    assert visit.requests == [path.as_uri()]  # the file itself, nothing else
    assert visit.console == []
    assert visit.errors == []
    assert visit.dialogs == []


def _drawn_charts(visit: Visit) -> dict[str, dict[str, float]]:
    """Per chart container: the drawn SVG's size and how many shapes it holds."""
    result: dict[str, dict[str, float]] = visit.page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('.chart')].map((el) => {
            const svg = el.querySelector('svg, canvas');
            const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
            return [el.id, {width: box.width, height: box.height,
                            shapes: svg ? svg.querySelectorAll('path, rect, text').length : 0,
                            echarts: echarts.getInstanceByDom(el) ? 1 : 0}];
        }))"""
    )
    return result


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def test_the_report_renders_offline_with_every_chart(
    visit: Visit, sma: BacktestResult, tmp_path: Path
) -> None:
    meta = {"title": f"SMA {XSS}", "notes": "<b>not bold</b>", "job_id": "job-1"}
    path = tmp_path / "report.html"
    _open(visit, render_report(sma, meta), path)
    page = visit.page

    assert page.title() == f"SMA {XSS} \u2014 backtest report"
    assert page.locator("#report-title").inner_text() == f"SMA {XSS}"
    assert page.locator("#header .notes").inner_text() == "<b>not bold</b>"
    charts = _drawn_charts(visit)
    assert set(charts) == {
        "chart-equity", "chart-drawdown", "chart-monthly", "chart-yearly", "chart-rolling",
        "chart-distribution", "chart-exposure", "chart-plots",
    }  # fmt: skip
    for chart_id, drawn in charts.items():
        assert drawn["echarts"] == 1, chart_id
        assert drawn["width"] > 300 and drawn["height"] > 80, (chart_id, drawn)
        assert drawn["shapes"] > 10, (chart_id, drawn)
    assert page.locator("#chart-monthly text", has_text="Year").count() == 1

    # linear <-> log
    y_type = "() => echarts.getInstanceByDom(document.getElementById('chart-equity'))" \
        ".getOption().yAxis[0].type"  # fmt: skip
    assert page.evaluate(y_type) == "value"
    page.click("#equity button[data-scale='log']")
    assert page.evaluate(y_type) == "log"
    assert page.get_attribute("#equity", "data-scale") == "log"
    assert page.get_attribute("#equity button[data-scale='log']", "aria-pressed") == "true"
    assert page.get_attribute("#equity button[data-scale='linear']", "aria-pressed") == "false"
    page.click("#equity button[data-scale='linear']")
    assert page.evaluate(y_type) == "value"

    # a tooltip (the report's own formatter) over the equity curve
    box = page.locator("#chart-equity").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    tip = page.locator("#chart-equity div", has_text="Strategy:").last
    tip.wait_for(state="visible")
    assert "Benchmark:" in tip.inner_text()

    # the round-trip table sorts by P&L, both ways, numerically
    pnl = sorted(float(x) for x in sma.round_trips()["pnl"])
    header = page.locator("#round-trip-table thead th", has_text="P&L")
    cell = "#round-trip-table tbody tr:first-child td:nth-child(9)"
    header.click()
    assert page.get_attribute(cell, "data-v") == repr(pnl[0])
    assert header.get_attribute("aria-sort") == "ascending"
    header.click()
    assert page.get_attribute(cell, "data-v") == repr(pnl[-1])
    rows = page.locator("#round-trip-table tbody tr").count()
    assert rows == len(pnl)

    page.mouse.move(0, 0)
    page.evaluate("window.scrollTo(0, 0)")
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    width, height = _png_size(shot)
    assert width == 1280 and height > 4000
    assert shot.stat().st_size > 150_000
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, SHOTS / "report.png")
    _assert_clean(visit, path)


def test_a_bare_run_renders_cleanly(visit: Visit, demo_catalog: Catalog, tmp_path: Path) -> None:
    idle = run_backtest(
        IDLE, start="2010-02-01", end="2010-03-15", universe="IBM", benchmark="none",
        catalog=demo_catalog, strategy_name="idle</script><script>alert(3)</script>",
    )  # fmt: skip
    path = tmp_path / "idle.html"
    _open(visit, render_report(idle), path)
    page = visit.page
    assert page.locator("#report-title").inner_text() == "idle</script><script>alert(3)</script>"
    charts = _drawn_charts(visit)
    assert set(charts) == {
        "chart-equity", "chart-drawdown", "chart-monthly", "chart-yearly", "chart-distribution",
        "chart-plots",
    }  # fmt: skip
    for chart_id, drawn in charts.items():
        assert drawn["width"] > 300 and drawn["shapes"] > 3, (chart_id, drawn)
    legend = page.locator("#chart-plots text", has_text="alert(2)")
    assert legend.count() >= 1  # the hostile plot() name is drawn as text
    page.click("#equity button[data-scale='log']")
    assert page.get_attribute("#equity", "data-scale") == "log"
    page.screenshot(path=str(tmp_path / "idle.png"), full_page=True)
    assert (tmp_path / "idle.png").stat().st_size > 50_000
    _assert_clean(visit, path)
