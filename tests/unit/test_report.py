"""The HTML tear sheet (``render_report``) of real runs on the demo data.

The document is read back with ``html.parser`` (what a browser's tokenizer would see): its
sections, the metric table against the summary, the round-trip table against
``round_trips()``, the inlined JSON against the result, and that user and strategy text can
neither inject markup nor end the data ``<script>``. Charts in a real browser:
``tests/e2e/test_report_ui.py``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from quantdesk.backtest import BacktestResult, run_backtest
from quantdesk.backtest.report import render_report, script_json
from quantdesk.backtest.report_html import fmt
from quantdesk.data import Catalog

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SECTIONS = (
    "header", "metrics", "equity", "drawdown", "monthly", "yearly", "rolling", "distribution",
    "exposure", "round-trips", "plots", "conventions",
)  # fmt: skip
XSS = "<script>alert(1)</script>"
#: A strategy that holds nothing and records a hostile plot() name.
IDLE = "def handle_bar(context, bar_dict):\n    plot('</script><script>alert(2)</script>', 1.0)\n"


def markup(html: str) -> str:
    """``html`` without the text of its ``<script>`` elements (ECharts' own code)."""
    return re.sub(r"(<script[^>]*>).*?(</script>)", r"\1\2", html, flags=re.S)


class Page(HTMLParser):
    """What the tokenizer sees: ids, script elements, table rows by table id, metric rows."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.rows: dict[str, list[list[str]]] = {}
        self.metrics: dict[str, list[str]] = {}
        self.metas: list[dict[str, str | None]] = []
        self.title = ""
        self._script: dict[str, str | None] | None = None
        self._table: list[str] = []
        self._row: list[str] | None = None
        self._row_key: str | None = None
        self._cell: list[str] | None = None
        self._in_title = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(str(a["id"]))
        if tag == "script":
            self._script = a
            self.scripts.append((a, ""))
        elif tag == "meta":
            self.metas.append(a)
        elif tag == "title":
            self._in_title = True
        elif tag == "table":
            self._table.append(str(a.get("id") or ""))
        elif tag == "tr":
            self._row, self._row_key = [], a.get("data-key")
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None
        elif tag == "title":
            self._in_title = False
        elif tag == "table" and self._table:
            self._table.pop()
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row_key:
                self.metrics[self._row_key] = self._row
            elif self._table and self._table[-1]:
                self.rows.setdefault(self._table[-1], []).append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)
        if self._cell is not None:
            self._cell.append(data)
        if self._in_title:
            self.title += data

    def data(self) -> Any:
        (blob,) = [t for a, t in self.scripts if a.get("type") == "application/json"]
        return json.loads(blob)

    def body(self, table_id: str) -> list[list[str]]:
        """A table's body rows (the header row dropped)."""
        return self.rows.get(table_id, [])[1:]


@pytest.fixture(scope="module")
def sma(demo_catalog: Catalog) -> BacktestResult:
    """SMA crossover on AAPL, 2008-2012, against SPX (21 round trips, a plot() series)."""
    return run_backtest(
        EXAMPLES / "sma_crossover.py",
        start="2008-01-02",
        end="2012-12-31",
        universe="AAPL",
        benchmark="SPX",
        params={"fast": 10, "slow": 30},
        catalog=demo_catalog,
    )


@pytest.fixture(scope="module")
def rotation(demo_catalog: Catalog) -> BacktestResult:
    """Four stocks rotated monthly (exposure spread over instruments), a hostile name."""
    return run_backtest(
        EXAMPLES / "momentum_rotation.py",
        start="2006-01-03",
        end="2009-12-31",
        universe="AAPL,GOOG,IBM,MSFT",
        catalog=demo_catalog,
        strategy_name="rotation</script><script>alert(3)</script>",
    )


@pytest.fixture(scope="module")
def idle(demo_catalog: Catalog) -> BacktestResult:
    """Six weeks without a trade, a benchmark or enough sessions for the rolling window."""
    return run_backtest(
        IDLE,
        start="2010-02-01",
        end="2010-03-15",
        universe="IBM",
        benchmark="none",
        catalog=demo_catalog,
    )


META = {
    "title": f"SMA {XSS} crossover",
    "notes": "Line one\nline two & <b>three</b>",
    "job_id": "job-42",
    "strategy_id": 7,
    "strategy_version": 3,
    "code_sha256": "ab" * 32,
    "created_at": "2026-11-30T10:00:00Z",
    "reviewer": "<img src=x onerror=alert(4)>",
}


@pytest.fixture(scope="module")
def sma_html(sma: BacktestResult) -> str:
    return render_report(sma, META)


def test_every_section_is_there(sma_html: str) -> None:
    page = Page(sma_html)
    assert set(SECTIONS) <= page.ids
    charts = {
        "chart-equity", "chart-drawdown", "chart-monthly", "chart-yearly", "chart-rolling",
        "chart-distribution", "chart-exposure", "chart-plots",
    }  # fmt: skip
    assert charts <= page.ids
    assert sma_html.startswith("<!DOCTYPE html>")


def test_the_header_shows_the_inputs_and_the_code_version(
    sma: BacktestResult, sma_html: str
) -> None:
    header = sma_html[sma_html.index('<header id="header"') : sma_html.index("</header>")]
    for text in (
        "job-42", "sha256 abababababab", "id 7", "version 3", "2026-11-30T10:00:00Z",
        "2008-01-02 &rarr; 2012-12-31", "AAPL", "SPX", "100,000.00", "fast = 10", "slow = 30",
        f"native {sma.summary['engine_version']}", "commission 0%", "reviewer",
    ):  # fmt: skip
        assert text in header, text
    assert "Line one\nline two &amp; &lt;b&gt;three&lt;/b&gt;" in header


def test_the_metric_table_shows_the_summary(sma: BacktestResult, sma_html: str) -> None:
    s, metrics = sma.summary, Page(sma_html).metrics
    assert metrics["total_returns"] == [
        "Total return",
        f"{s['total_returns'] * 100:.2f}%",
        f"{s['benchmark_total_returns'] * 100:.2f}%",
    ]
    assert metrics["total_returns"][1] == "169.07%"  # the sample run, as RQAlpha would show it
    assert metrics["annualized_returns"][1:] == [
        f"{s['annualized_returns'] * 100:.2f}%",
        f"{s['benchmark_annualized_returns'] * 100:.2f}%",
    ]
    assert metrics["volatility"][2] == f"{s['benchmark_volatility'] * 100:.2f}%"
    for key, kind in [
        ("sharpe", "num"), ("sortino", "num"), ("max_drawdown", "pct"), ("alpha", "pct"),
        ("beta", "num"), ("calmar", "num"), ("win_rate", "pct"), ("profit_factor", "num"),
        ("profit_loss_ratio", "num"), ("expectancy", "money"), ("sqn", "num"),
        ("exposure_time", "pct"), ("round_trips", "int"), ("max_consecutive_losses", "int"),
        ("avg_holding_sessions", "dec1"), ("total_value", "money"),
    ]:  # fmt: skip
        assert metrics[key][1] == fmt(s[key], kind), key
    assert metrics["sharpe"][1] == f"{s['sharpe']:.2f}"
    assert metrics["round_trips"][1] == str(len(sma.round_trips()))
    assert metrics["alpha"][2] == "\u2014"  # no benchmark figure for the strategy-only metric
    # the benchmark's own Sharpe and drawdown, with the strategy's conventions
    bench_nav = sma.portfolio["benchmark_nav"]
    bench_mdd = float((1 - bench_nav / bench_nav.cummax().clip(lower=1.0)).max())
    assert metrics["max_drawdown"][2] == f"{bench_mdd * 100:.2f}%"
    r = sma.portfolio["benchmark_returns"]
    assert metrics["sharpe"][2] == f"{r.mean() / r.std(ddof=1) * 252**0.5:.2f}"


def test_metric_names_carry_their_conventions(sma: BacktestResult, sma_html: str) -> None:
    row = re.search(r'<tr data-key="sharpe"><th scope="row" title="([^"]*)"', sma_html)
    assert row is not None
    assert row.group(1) == sma.conventions["sharpe"]


def test_it_is_self_contained_and_fetches_nothing(sma_html: str) -> None:
    page = Page(sma_html)
    assert len(page.scripts) == 3
    assert all("src" not in attrs for attrs, _ in page.scripts)
    assert "<link" not in sma_html
    assert not re.search(r"""(src|href|action)\s*=\s*["']?\s*(https?:)?//""", sma_html, re.I)
    assert not re.search(r"url\(\s*['\"]?\s*(https?:)?//", sma_html, re.I)
    assert not re.search(r"@import", sma_html)
    (csp,) = [m["content"] for m in page.metas if m.get("http-equiv") == "Content-Security-Policy"]
    assert csp is not None
    assert "default-src 'none'" in csp and "connect-src 'none'" in csp
    for attrs, text in page.scripts:  # only the two inlined scripts may run, by their hashes
        if attrs.get("type") != "application/json":
            digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
            assert f"'sha256-{digest}'" in csp
    assert "Apache ECharts" in sma_html


def test_the_round_trip_table_lists_every_round_trip(
    sma: BacktestResult, rotation: BacktestResult, sma_html: str
) -> None:
    for result, html in ((sma, sma_html), (rotation, render_report(rotation))):
        trips = result.round_trips()
        rows = Page(html).body("round-trip-table")
        assert len(rows) == len(trips) > 10
        first = trips.iloc[0]
        assert rows[0][1] == first["order_book_id"]
        assert rows[0][4] == first["entry_datetime"].strftime("%Y-%m-%d")
        assert rows[0][8] == f"{first['pnl']:,.2f}"
        assert f"Round trips ({len(trips)})" in html
    assert 'id="round-trip-table" data-sortable="true"' in sma_html


def test_exposure_per_instrument(rotation: BacktestResult) -> None:
    page = Page(render_report(rotation))
    rows = page.body("exposure-table")
    assert sorted(r[0] for r in rows) == ["AAPL", "GOOG", "IBM", "MSFT"]
    pf, pos = rotation.portfolio, rotation.positions
    aapl = (pos[pos["order_book_id"] == "AAPL"]["market_value"] / pf["total_value"]).fillna(0)
    avg = float(aapl.reindex(pf.index, fill_value=0.0).mean())
    assert next(r for r in rows if r[0] == "AAPL")[1] == f"{avg * 100:.2f}%"
    chart = page.data()["exposure"]
    assert [s["name"] for s in chart["series"]][-1] == "Cash"
    assert len(chart["dates"]) == len(pf)
    for k in (0, len(pf) // 2, len(pf) - 1):  # weights and cash add up to the total value
        assert sum(s["weights"][k] for s in chart["series"]) == pytest.approx(1.0, abs=1e-4)


def test_the_chart_data_is_the_result(sma: BacktestResult, sma_html: str) -> None:
    data = Page(sma_html).data()
    pf = sma.portfolio
    assert data["dates"][0] == "2008-01-02" and len(data["dates"]) == len(pf)
    assert data["nav"][-1] == pytest.approx(pf["nav"].iloc[-1], rel=1e-5)
    assert data["benchmark_nav"][-1] == pytest.approx(pf["benchmark_nav"].iloc[-1], rel=1e-5)
    assert min(data["drawdown"]) == pytest.approx(-sma.summary["max_drawdown"], rel=1e-5)
    tables = sma.period_tables()
    cells = {(c[0], data["monthly"]["years"][c[1]]): c[2] for c in data["monthly"]["cells"]}
    for m in tables["monthly"]:
        assert cells[(m["month"] - 1, m["year"])] == pytest.approx(m["returns"], rel=1e-5)
    assert data["yearly"]["years"] == [2008, 2009, 2010, 2011, 2012]
    assert data["rolling"]["dates"] == tables["rolling"]["dates"]
    assert sum(data["histogram"]["counts"]) == len(pf)
    assert [s["name"] for s in data["plots"]["series"]] == ["cash"]


def test_the_same_inputs_give_the_same_bytes(sma: BacktestResult, sma_html: str) -> None:
    assert render_report(sma, META) == sma_html
    reread = BacktestResult.from_dict(json.loads(sma.to_json()))  # as a job's result.json
    assert render_report(reread, META) == sma_html
    assert "Generated" not in sma_html
    stamped = render_report(sma, {**META, "generated_at": "2026-12-01 09:00 UTC"})
    assert "Generated 2026-12-01 09:00 UTC" in stamped


def test_user_text_is_escaped(sma_html: str) -> None:
    assert XSS not in sma_html
    assert "SMA &lt;script&gt;alert(1)&lt;/script&gt; crossover" in sma_html
    assert "<img" not in markup(sma_html)
    assert "&lt;img src=x onerror=alert(4)&gt;" in sma_html
    page = Page(sma_html)
    assert page.title == f"SMA {XSS} crossover \u2014 backtest report"
    assert len(page.scripts) == 3


def test_script_text_in_the_data_cannot_end_its_tag(
    rotation: BacktestResult, idle: BacktestResult
) -> None:
    for result, hostile in (
        (rotation, "rotation</script><script>alert(3)</script>"),
        (idle, "</script><script>alert(2)</script>"),
    ):
        html = render_report(result)
        blob = html[html.index('id="report-data">') : html.index("</script>")]
        assert "<" not in blob.removeprefix('id="report-data">')
        page = Page(html)
        assert len(page.scripts) == 3  # JSON, ECharts, the report's script: nothing injected
        assert "alert(3)</script>" not in html and "alert(2)</script>" not in html
        data = page.data()
        if result is idle:
            assert data["plots"]["series"][0]["name"] == hostile
        else:
            assert hostile.replace("<", "&lt;").replace(">", "&gt;") in html  # the header
    assert script_json({"a": "</script><!--", "b": float("nan")}) == (
        '{"a":"\\u003c/script\\u003e\\u003c!--","b":null}'
    )


def test_a_run_without_benchmark_trades_or_plots(idle: BacktestResult) -> None:
    html = render_report(idle)
    page = Page(html)
    assert set(SECTIONS) <= page.ids
    assert page.metrics["total_returns"] == ["Total return", "0.00%"]  # no benchmark column
    assert "The run had no benchmark." in html
    assert "No closed round trip." in html and "No position was ever held." in html
    assert "Not enough sessions for this chart." in html  # rolling: 30 sessions < 63
    assert "chart-rolling" not in page.ids and "chart-exposure" not in page.ids
    data = page.data()
    assert data["benchmark_nav"] is None and data["rolling"]["beta"] is None
    assert data["histogram"]["benchmark_counts"] is None
    plain = BacktestResult.from_dict({**json.loads(idle.to_json()), "plots": {}})
    assert "The strategy recorded no plot() series." in render_report(plain)
    assert "chart-plots" not in Page(render_report(plain)).ids


def test_numbers_are_formatted_for_reading() -> None:
    assert fmt(1.690738727970301, "pct") == "169.07%"
    assert fmt(-0.00001, "pct") == "0.00%"  # no "-0.00%"
    assert fmt(float("nan"), "num") == "\u2014"
    assert fmt(None, "money") == "\u2014"
    assert fmt(1234567.891, "money") == "1,234,567.89"
    assert fmt(0.0003, "rate") == "0.03%"
    assert fmt(19.6292, "times") == "19.63x"
