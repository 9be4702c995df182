"""``BacktestResult.plot()``: an interactive plotly figure of a run.

Three rows on one shared date axis:

1. NAV vs the benchmark's NAV (both start at 1 before the first session);
2. drawdown ("underwater"): ``NAV / running peak - 1``, the starting value 1 counted as a peak;
3. the traded instruments' daily closes from the catalog, in the run's adjustment, with a
   marker per fill (triangle up = buy, down = sell) at its date and price. The most traded
   instrument is shown; the others are a legend click away (instrument and its fills toggle
   together).

plotly is an optional dependency (the ``research`` extra) and is imported only here, when a
figure is asked for.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import pandas as pd

from quantdesk.core.errors import DataUnavailable, InvalidArgument, NotFound
from quantdesk.data.catalog import Adjust, Catalog

#: Colors of the NAV, benchmark, buy and sell marks.
NAV_COLOR, BENCH_COLOR, BUY_COLOR, SELL_COLOR = "#1f77b4", "#999999", "#2ca02c", "#d62728"
MISSING_PLOTLY = (
    "BacktestResult.plot() needs plotly, part of quantdesk's 'research' extra: "
    "pip install 'quantdesk[research]' (or uv sync --extra research)"
)


def plot_result(
    portfolio: pd.DataFrame,
    trades: pd.DataFrame,
    *,
    title: str = "",
    benchmark: str | None = None,
    adjust: Adjust | str = Adjust.PRE,
    catalog: Catalog | None = None,
) -> Any:
    """A run's figure (see the module docstring for its three rows).

    Args:
        portfolio: ``BacktestResult.portfolio`` (``nav``, ``benchmark_nav`` by session date).
        trades: ``BacktestResult.trades`` (one row per fill).
        title: The figure's title.
        benchmark: The benchmark's name in the legend.
        adjust: The run's price adjustment (the closes are read with it, as it traded).
        catalog: Source of the closes; default ``Catalog(Settings().data_dir)``. An
            instrument the catalog lacks shows its fills without a close line.

    Returns:
        A ``plotly.graph_objects.Figure`` (``rows=3``, shared x axis).

    Raises:
        ImportError: plotly is not installed (the message names the extra).
    """
    try:
        import plotly.graph_objects as go  # type: ignore[import-untyped]
        from plotly.subplots import make_subplots  # type: ignore[import-untyped]
    except ImportError as exc:
        raise ImportError(MISSING_PLOTLY) from exc

    pf = portfolio
    fig = make_subplots(
        rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.04, row_heights=[0.45, 0.2, 0.35],
        subplot_titles=("NAV vs benchmark", "Drawdown", "Prices and fills"),
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(x=pf.index, y=pf["nav"], name="NAV", line={"color": NAV_COLOR}), row=1, col=1
    )
    if pf["benchmark_nav"].notna().any():
        fig.add_trace(
            go.Scatter(x=pf.index, y=pf["benchmark_nav"], name=benchmark or "benchmark",
                       line={"color": BENCH_COLOR}),
            row=1, col=1,
        )  # fmt: skip
    nav = pf["nav"].to_numpy(dtype=float)
    underwater = nav / np.maximum.accumulate(np.maximum(nav, 1.0)) - 1.0
    fig.add_trace(
        go.Scatter(x=pf.index, y=underwater, name="drawdown", fill="tozeroy",
                   line={"color": SELL_COLOR, "width": 1}, showlegend=False),
        row=2, col=1,
    )  # fmt: skip
    for trace in _price_traces(go, pf.index, trades, Adjust(adjust), catalog):
        fig.add_trace(trace, row=3, col=1)
    fig.update_layout(title=title, height=760, hovermode="x unified",
                      legend={"orientation": "h", "y": -0.08})  # fmt: skip
    fig.update_yaxes(title_text="NAV", row=1, col=1)
    fig.update_yaxes(title_text="drawdown", tickformat=".0%", row=2, col=1)
    fig.update_yaxes(title_text="price", row=3, col=1)
    return fig


def _price_traces(
    go: Any, sessions: pd.Index, trades: pd.DataFrame, adjust: Adjust, catalog: Catalog | None
) -> list[Any]:
    """A close line (when the catalog has it) and buy/sell markers per traded instrument."""
    if trades.empty:
        return []
    ids = trades["order_book_id"].value_counts(sort=True).index.tolist()
    closes = _closes(sessions, ids, adjust, catalog)
    traces = []
    for rank, oid in enumerate(ids):
        visible: bool | str = True if rank == 0 else "legendonly"
        mine = trades[trades["order_book_id"] == oid]
        if oid in closes:
            traces.append(
                go.Scatter(x=closes[oid].index, y=closes[oid], name=oid, legendgroup=oid,
                           visible=visible, line={"width": 1.2})
            )  # fmt: skip
        for side, symbol, color in (("BUY", "triangle-up", BUY_COLOR),
                                    ("SELL", "triangle-down", SELL_COLOR)):  # fmt: skip
            rows = mine[mine["side"] == side]
            if rows.empty:
                continue
            text = [
                f"{side} {q} {oid} @ {p:.4f} ({reason})"
                for q, p, reason in zip(rows["quantity"], rows["price"], rows["reason"],
                                        strict=True)
            ]  # fmt: skip
            traces.append(
                go.Scatter(
                    x=pd.DatetimeIndex(rows["datetime"]).normalize(), y=rows["price"],
                    mode="markers", name=f"{oid} {side.lower()}", legendgroup=oid,
                    visible=visible, hovertext=text, hoverinfo="text",
                    marker={"symbol": symbol, "color": color, "size": 9},
                )
            )  # fmt: skip
    return traces


def _closes(
    sessions: pd.Index, ids: list[str], adjust: Adjust, catalog: Catalog | None
) -> dict[str, pd.Series]:
    """Daily closes of ``ids`` over the run's sessions, adjusted as the run was."""
    if catalog is None:
        from quantdesk.core.settings import Settings

        catalog = Catalog(Settings().data_dir)
    days = pd.DatetimeIndex(sessions)
    start, end = days[0].date(), days[-1].date()
    out: dict[str, pd.Series] = {}
    for oid in ids:
        # An instrument the catalog no longer (or never) had: its fills still show.
        with contextlib.suppress(NotFound, DataUnavailable, InvalidArgument):
            out[oid] = catalog.bars_frame(oid, start, end, adjust=adjust)["close"]
    return out
