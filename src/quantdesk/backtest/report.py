r"""``render_report``: a self-contained HTML tear sheet of one backtest.

One HTML file that works offline and makes no network request: Apache ECharts
(``report_assets/echarts.min.js``, Apache-2.0, its LICENSE and NOTICE beside it), the
report's own script and style sheet are inlined, and the chart data travels as one JSON blob
in a ``<script type="application/json">`` tag (``<``, ``>`` and ``&`` escaped as ``\u003c``...,
so a strategy name or log holding ``</script>`` cannot end the tag). A Content-Security-Policy
``<meta>`` allows only those two inline scripts (by their SHA-256) and no fetches at all.

Sections (each an element with an ``id``): ``header`` (the run's inputs and code version),
``metrics`` (strategy vs benchmark), ``equity`` (NAV vs benchmark, linear / log),
``drawdown`` (underwater chart and the deepest periods), ``monthly`` (heatmap), ``yearly``,
``rolling`` (Sharpe, volatility, beta), ``distribution`` (daily-return histogram and
statistics), ``exposure`` (weight per instrument over time and a table), ``round-trips``
(every round trip, sortable), ``plots`` (the strategy's ``plot()`` series) and
``conventions``. Tables are rendered here (``report_html``), charts by the script from
``report_data.chart_data``.

The same result and ``meta`` give the same bytes; ``meta["generated_at"]`` is the only
place a generation time appears, and only when given.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from quantdesk.backtest import report_data as data
from quantdesk.backtest import report_html as parts
from quantdesk.backtest.result_frames import json_safe
from quantdesk.core.version import package_version

#: Where the template, script, style sheet and the vendored ECharts live.
ASSETS = Path(__file__).with_name("report_assets")
#: Placeholders in ``report_template.html``: ``<!--qd:name-->``.
_SLOT = re.compile(r"<!--qd:([a-z_]+)-->")
#: JSON is put inside a ``<script>`` element: these never appear raw in it.
_SCRIPT_UNSAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})
#: In place of a chart the run has too few sessions for.
_EMPTY = '<p class="empty">Not enough sessions for this chart.</p>'
#: The equity chart's linear / log switch.
_SCALE_TOGGLE = (
    '<div class="toggle" role="group" aria-label="Scale">'
    '<button type="button" data-scale="linear" aria-pressed="true">Linear</button>'
    '<button type="button" data-scale="log" aria-pressed="false">Log</button></div>'
)


class ReportSource(Protocol):
    """What ``render_report`` reads from a ``BacktestResult``.

    A structural type, so this module does not import ``result`` (which offers the report as
    a method).
    """

    summary: dict[str, Any]
    conventions: dict[str, Any]
    config: dict[str, Any]
    portfolio: pd.DataFrame
    trades: pd.DataFrame
    positions: pd.DataFrame
    plots: pd.DataFrame

    def round_trips(self) -> pd.DataFrame:
        """The round trips."""
        ...

    def period_tables(self) -> dict[str, Any]:
        """Monthly / yearly returns, rolling metrics, drawdown periods."""
        ...


@cache
def _asset(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


def _script_hash(source: str) -> str:
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def script_json(value: Any) -> str:
    r"""``value`` as JSON that is safe as the text of a ``<script>`` element.

    NaN and infinities become ``null``; ``<``, ``>`` and ``&`` are written as ``\u003c``,
    ``\u003e``, ``\u0026`` (the same string to ``JSON.parse``), so no ``</script>`` or
    ``<!--`` can appear in it.
    """
    text = json.dumps(json_safe(value), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.translate(_SCRIPT_UNSAFE)


def _section(section_id: str, title: str, body: str, *, note: str = "", tools: str = "") -> str:
    lead = f'<p class="section-note">{note}</p>' if note else ""
    return (
        f'<section id="{section_id}" class="panel"><div class="panel-head"><h2>{title}</h2>'
        f"{tools}</div>{lead}{body}</section>"
    )


def _chart(chart_id: str, height: int = 360) -> str:
    return f'<div class="chart" id="{chart_id}" style="height:{height}px"></div>'


def _empty(text: str) -> str:
    return f'<p class="empty">{parts.esc(text)}</p>'


def _period_sections(
    tables: Mapping[str, Any], chart_data: Mapping[str, Any], pf: pd.DataFrame, *, bench: bool
) -> list[str]:
    """Monthly heatmap, yearly bars, rolling metrics and the daily-return distribution."""
    years = chart_data["monthly"]["years"]
    window = int(tables["rolling"]["window"])
    stats = parts.return_stats_html(
        data.return_stats(pf["returns"].to_numpy(dtype=float)),
        data.return_stats(pf["benchmark_returns"].to_numpy(dtype=float)) if bench else None,
    )
    return [
        _section(
            "monthly",
            "Monthly returns",
            _chart("chart-monthly", max(48 + 32 * len(years), 112)) if years else _EMPTY,
            note="The last column is the year's return.",
        ),
        _section("yearly", "Yearly returns", _chart("chart-yearly", 300) if years else _EMPTY),
        _section(
            "rolling",
            "Rolling metrics",
            _chart("chart-rolling", 520) if tables["rolling"]["dates"] else _EMPTY,
            note=f"Over the last {window} sessions.",
        ),
        _section(
            "distribution",
            "Distribution of daily returns",
            '<div class="split">'
            + (_chart("chart-distribution", 320) if chart_data["histogram"] else _EMPTY)
            + f"{stats}</div>",
        ),
    ]


def render_report(result: ReportSource, meta: Mapping[str, Any] | None = None) -> str:
    """A self-contained HTML tear sheet (works offline: ECharts and the data inlined).

    Args:
        result: A ``BacktestResult`` (a finished run, or one read back with
            ``BacktestResult.read``).
        meta: What the run's record adds, each shown when present: ``title`` (the heading;
            default the strategy's name), ``notes``, ``job_id``, ``strategy_id``,
            ``strategy_version``, ``code_sha256``, ``created_at``, ``generated_at``; any
            other key is listed in the header as given.

    Returns:
        The HTML document. The same inputs give the same text.
    """
    meta = dict(meta or {})
    summary, config, pf = result.summary, result.config, result.portfolio
    periods = int(config.get("trading_days_per_year") or 252)
    rf = float(config.get("risk_free_rate") or 0.0)
    bench = data.has_benchmark(config, pf)
    bench_metrics = data.benchmark_metrics(pf, periods=periods, risk_free_rate=rf) if bench else {}
    tables = result.period_tables()
    trips = result.round_trips()
    exposure_rows, exposure_chart = data.exposure(pf, result.positions, trips, result.trades)
    plots = data.plot_series(result.plots)
    chart_data = data.chart_data(
        pf, tables, bench=bench, exposure_chart=exposure_chart, plots=plots
    )
    sections = [
        _section(
            "metrics",
            "Performance metrics",
            parts.cards_html(summary, bench_metrics)
            + parts.metrics_html(summary, result.conventions, bench_metrics if bench else None),
            note="Hover a metric's name for how it is computed (all conventions at the end)."
            + ("" if bench else " The run had no benchmark."),
        ),
        _section(
            "equity",
            "Equity vs benchmark" if bench else "Equity",
            _chart("chart-equity", 400),
            note="Net asset value, starting at 1.",
            tools=_SCALE_TOGGLE,
        ),
        _section(
            "drawdown",
            "Drawdowns",
            _chart("chart-drawdown", 260)
            + "<h3>Deepest drawdown periods</h3>"
            + (
                parts.drawdowns_html(tables["drawdowns"])
                if tables["drawdowns"]
                else _empty("NAV never fell below a peak.")
            ),
            note="Underwater curve: the fall from the running peak.",
        ),
        *_period_sections(tables, chart_data, pf, bench=bench),
        _section(
            "exposure",
            "Exposure per instrument",
            _chart("chart-exposure", 320) + parts.exposure_html(exposure_rows)
            if exposure_rows
            else _empty("No position was ever held."),
            note="Weight = market value at the close / total value; averages over every "
            "session of the run.",
        ),
        _section(
            "round-trips",
            f"Round trips ({len(trips)})",
            f'<div class="table-scroll">{parts.round_trips_html(trips)}</div>'
            if len(trips)
            else _empty("No closed round trip."),
            note="Fills paired first in, first out per instrument; P&amp;L net of both legs' "
            "costs. Click a column to sort.",
        ),
        _section(
            "plots",
            "Strategy plot() series",
            _chart("chart-plots", 320)
            if plots
            else _empty("The strategy recorded no plot() series."),
        ),
        _section(
            "conventions",
            "Metric conventions",
            "<details><summary>How each metric is computed</summary>"
            f"{parts.conventions_html(result.conventions)}</details>",
        ),
    ]
    script = _asset("report.js")
    echarts = _asset("echarts.min.js")
    csp = (
        "default-src 'none'; "
        f"script-src {_script_hash(echarts)} {_script_hash(script)}; "
        "style-src 'unsafe-inline'; img-src data:; font-src data:; "
        "connect-src 'none'; base-uri 'none'; form-action 'none'"
    )
    title = meta.get("title") or summary.get("strategy_name") or "Backtest"
    slots = {
        "csp": parts.esc(csp),
        "doc_title": parts.esc(f"{title} \u2014 backtest report"),
        "generator": parts.esc(f"quantdesk {package_version('quantdesk')}"),
        "css": _asset("report.css"),
        "header": parts.header_html(summary, config, meta),
        "sections": "".join(sections),
        "footer": parts.esc(
            f"quantdesk {package_version('quantdesk')} \u00b7 charts: Apache ECharts "
            "(Apache License 2.0) \u00b7 figures are fractions shown as %, money in the "
            "market's currency"
        ),
        "data": script_json(chart_data),
        "echarts": echarts,
        "script": script,
    }
    return _SLOT.sub(lambda m: slots[m.group(1)], _asset("report_template.html"))


__all__ = ["ReportSource", "render_report", "script_json"]
