"""How a ``BacktestResult`` shows itself: a short ``repr`` and a notebook HTML view.

The HTML view is a compact metrics table beside an equity-vs-benchmark sparkline drawn here
as inline SVG (no JavaScript, no plotting library), so it renders anywhere a notebook shows
HTML, including a static export. Every piece of text in it goes through ``html.escape``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

#: ``stats()`` entries shown in the HTML table, in reading order.
HTML_STATS = [
    "Return [%]", "Buy & Hold Return [%]", "Return (Ann.) [%]", "Volatility (Ann.) [%]",
    "Sharpe Ratio", "Sortino Ratio", "Max. Drawdown [%]", "Calmar Ratio",
    "Exposure Time [%]", "# Trades", "Win Rate [%]", "Profit Factor",
]  # fmt: skip
#: Most points a sparkline line gets (longer series are sampled evenly, the last kept).
SPARK_POINTS = 400


def result_repr(summary: Mapping[str, Any]) -> str:
    """Two lines: strategy, window, engine and market; total return, Sharpe, drawdown, fills.

    Reads only ``summary`` (cheap, and never fails on a result without sessions).
    """
    name = summary.get("strategy_name", "?")
    head = (
        f"BacktestResult({name!r}, {summary.get('start_date')}..{summary.get('end_date')}, "
        f"{summary.get('engine')}, {summary.get('market')})"
    )
    body = (
        f"  return {_pct(summary.get('total_returns'), sign=True)}"
        f" | Sharpe {_num(summary.get('sharpe'))}"
        f" | max drawdown {_pct(summary.get('max_drawdown'))}"
        f" | {summary.get('trade_count', 0)} fills"
    )
    return f"{head}\n{body}"


def result_html(summary: Mapping[str, Any], stats: pd.Series, portfolio: pd.DataFrame) -> str:
    """The notebook view: a title line, a metrics table and an SVG sparkline.

    Args:
        summary: The result's summary (title line, fills).
        stats: ``BacktestResult.stats()`` (the table's figures).
        portfolio: The result's portfolio (``nav`` and ``benchmark_nav`` for the sparkline).

    Returns:
        An HTML fragment (a ``<div>``), every text escaped.
    """
    esc = html.escape
    title = (
        f"<b>{esc(str(summary.get('strategy_name', '?')))}</b> "
        f"{esc(str(summary.get('start_date')))} &rarr; {esc(str(summary.get('end_date')))}"
        f" &middot; {esc(str(summary.get('engine')))} &middot; {esc(str(summary.get('market')))}"
        f" &middot; benchmark {esc(str(summary.get('benchmark') or 'none'))}"
    )
    cells = [(key, _stat(key, stats.get(key))) for key in HTML_STATS]
    cells.append(("Fills", str(summary.get("trade_count", 0))))
    rows = []
    for i in range(0, len(cells), 2):
        pair = cells[i : i + 2]
        rows.append(
            "<tr>"
            + "".join(
                f'<th style="text-align:left;font-weight:normal;padding-right:.6em">{esc(k)}</th>'
                f'<td style="text-align:right;padding-right:1.2em">{esc(v)}</td>'
                for k, v in pair
            )
            + "</tr>"
        )
    nav = portfolio["nav"].to_numpy(dtype=float)
    bench = portfolio["benchmark_nav"].to_numpy(dtype=float)
    svg = sparkline_svg(nav, None if np.isnan(bench).all() else bench)
    return (
        '<div class="quantdesk-result">'
        f"<div>BacktestResult: {title}</div>"
        '<div style="display:flex;gap:1.5em;align-items:flex-start">'
        f'<table style="border-collapse:collapse">{"".join(rows)}</table>'
        f'<div>{svg}<div style="font-size:smaller">'
        '<span style="color:#1f77b4">&#9632; NAV</span> '
        '<span style="color:#999">&#9632; benchmark</span></div></div>'
        "</div></div>"
    )


def sparkline_svg(
    nav: np.ndarray, benchmark: np.ndarray | None, *, width: int = 260, height: int = 80
) -> str:
    """NAV (blue) and benchmark NAV (grey) as two polylines on one scale, as inline SVG.

    Args:
        nav: NAV per session (starts near 1).
        benchmark: Benchmark NAV per session, or ``None``; NaN points are dropped.
        width: Pixels.
        height: Pixels.

    Returns:
        An ``<svg>`` element; empty (just the frame) without a finite NAV point.
    """
    lines = [("#999", benchmark), ("#1f77b4", nav)] if benchmark is not None else [("#1f77b4", nav)]
    finite = [v[np.isfinite(v)] for _, v in lines]
    values = np.concatenate([np.array([1.0]), *finite])
    low, high = float(values.min()), float(values.max())
    span = high - low or 1.0
    pad = 3.0
    parts = []
    for color, series in lines:
        pts = _sample(series)
        if not pts:
            continue
        step = (width - 2 * pad) / max(len(series) - 1, 1)
        coords = " ".join(
            f"{pad + i * step:.1f},{pad + (high - v) / span * (height - 2 * pad):.1f}"
            for i, v in pts
        )
        parts.append(
            f'<polyline fill="none" stroke="{color}" stroke-width="1.3" points="{coords}"/>'
        )
    base = pad + (high - 1.0) / span * (height - 2 * pad)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img">'
        f"<title>{html.escape('NAV vs benchmark')}</title>"
        f'<line x1="0" x2="{width}" y1="{base:.1f}" y2="{base:.1f}" stroke="#ddd"/>'
        + "".join(parts)
        + "</svg>"
    )


def _sample(series: np.ndarray) -> list[tuple[int, float]]:
    """``(position, value)`` of at most ``SPARK_POINTS`` finite points, the last included."""
    n = len(series)
    if n == 0:
        return []
    picks = np.unique(np.linspace(0, n - 1, min(n, SPARK_POINTS)).round().astype(int))
    return [(int(i), float(series[i])) for i in picks if math.isfinite(series[i])]


def _stat(key: str, value: Any) -> str:
    if value is None or value is pd.NaT:
        return "n/a"
    if isinstance(value, pd.Timedelta):
        return f"{value.days} days"
    if isinstance(value, int | np.integer):
        return str(int(value))
    number = float(value)
    if not math.isfinite(number):
        return "n/a"
    return f"{number:.2f}%" if key.endswith("[%]") else f"{number:.2f}"


def _pct(value: Any, *, sign: bool = False) -> str:
    if value is None or not math.isfinite(float(value)):
        return "n/a"
    return f"{100 * float(value):{'+' if sign else ''}.2f}%"


def _num(value: Any) -> str:
    if value is None or not math.isfinite(float(value)):
        return "n/a"
    return f"{float(value):.2f}"
