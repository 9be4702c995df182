"""``BacktestResult``: the engine's raw output as DataFrames, a summary, JSON and files.

The per-session frames (``portfolio``, ``positions``, ``plots``) are indexed by a tz-naive,
normalized ``DatetimeIndex`` named ``date`` (so ``resample``, ``loc["2010"]`` and joins with
``get_price`` work); JSON and CSV files keep dates as ``YYYY-MM-DD`` text. ``read`` /
``from_dict`` rebuild a result from a job's ``result.json`` with the dtypes ``build_result``
gives. Views for notebooks: ``stats()`` (``result_stats``), ``round_trips()``
(``round_trips``), ``repr``/``_repr_html_`` (``result_view``) and ``plot()`` (``result_plot``).
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from quantdesk.backtest.analysis import (
    PERIOD_CONVENTIONS,
    TRADE_CONVENTIONS,
    BarWindow,
    add_excursions,
    exposure_time,
    period_tables,
    trade_statistics,
)
from quantdesk.backtest.report import render_report
from quantdesk.backtest.result_frames import (
    ORDER_COLUMNS,
    POSITION_FLOATS,
    TRADE_COLUMNS,
    column_lists,
    dated_frame,
    flat_frame,
    iso_dates,
    json_safe,
    orders_frame,
    portfolio_frame,
    record_rows,
    records,
    trades_frame,
    trips_frame,
)
from quantdesk.backtest.result_pickle import RESULT_PICKLE, rqalpha_result_dict
from quantdesk.backtest.result_stats import compute_stats
from quantdesk.backtest.result_view import result_html, result_repr
from quantdesk.backtest.round_trips import round_trips
from quantdesk.core.files import atomic_write_bytes
from quantdesk.core.version import package_version
from quantdesk.data.catalog import Adjust, Catalog
from quantdesk.engine import EngineConfig, EngineResult
from quantdesk.engine.metrics import CONVENTIONS, max_drawdown, summarize
from quantdesk.engine.records import OrderStatus


@dataclass(repr=False)
class BacktestResult:
    """The result of one run.

    Attributes:
        summary: Run info and metrics (RQAlpha names; fractions, 0.12 = 12%).
        conventions: How each metric is computed (formulas, annualization, rf).
        config: The run's parameters.
        portfolio: Daily ``cash, market_value, total_value, nav, returns, benchmark_close,
            benchmark_nav, benchmark_returns`` (float64; NaN benchmark columns without a
            benchmark) indexed by ``date`` (``DatetimeIndex``, one row per session).
        trades: One row per fill, columns ``TRADE_COLUMNS`` (``datetime`` is the bar's
            exchange-local time, tz-naive).
        positions: One row per (session, held instrument) at the close: ``order_book_id,
            quantity, sellable, avg_price, last_price, market_value`` indexed by ``date``.
        orders: Every order with its final status and reject reason, columns
            ``ORDER_COLUMNS``.
        plots: ``plot()`` series as ``name, value`` rows indexed by ``date``.
        logs: Strategy log lines.
        reference: The engine's own summary when it has one (RQAlpha), else ``None``.
        trips: The round trips (``round_trips()``), with ``mae``/``mfe`` when the run had
            the bars; ``None``: computed from ``trades`` when asked.
        analysis: Period tables (``analysis.period_tables``): monthly and yearly returns,
            rolling metrics, the deepest drawdowns; ``None``: computed when asked.
    """

    summary: dict[str, Any]
    conventions: dict[str, Any]
    config: dict[str, Any]
    portfolio: pd.DataFrame
    trades: pd.DataFrame
    positions: pd.DataFrame
    orders: pd.DataFrame
    plots: pd.DataFrame
    logs: list[str] = field(default_factory=list)
    reference: dict[str, Any] | None = None
    trips: pd.DataFrame | None = None
    analysis: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN as ``None``, dates as ISO strings).

        Shape: ``summary``, ``conventions``, ``config``, ``equity`` (``dates, nav, returns,
        benchmark_nav`` arrays, the contract's shape), ``portfolio`` / ``positions`` / ``plots``
        (column -> list, ``date`` first as ``YYYY-MM-DD``), ``trades`` (list of records) with
        ``trade_columns`` and ``trades_total``, ``orders`` (records), ``logs``,
        ``round_trips`` (records, ISO times; ``mae``/``mfe`` when known) with
        ``round_trips_total``, and ``analysis`` (``period_tables``).
        """
        pf = self.portfolio
        dates = iso_dates(pf.index)
        trips = self.round_trips()
        out: dict[str, Any] = json_safe(
            {
                "summary": self.summary,
                "conventions": self.conventions,
                "config": self.config,
                "equity": {
                    "dates": dates,
                    "nav": pf["nav"].tolist(),
                    "returns": pf["returns"].tolist(),
                    "benchmark_nav": pf["benchmark_nav"].tolist(),
                },
                "portfolio": {"date": dates, **{c: pf[c].tolist() for c in pf.columns}},
                "trades": records(self.trades),
                "trade_columns": list(self.trades.columns),
                "trades_total": len(self.trades),
                "positions": column_lists(self.positions),
                "orders": records(self.orders),
                "plots": column_lists(self.plots),
                "logs": list(self.logs),
                "engine_summary": self.reference,
                "round_trips": records(trips),
                "round_trips_total": len(trips),
                "analysis": self.period_tables(),
            }
        )
        return out

    def to_json(self, indent: int | None = None) -> str:
        """``to_dict()`` as deterministic JSON text (same inputs, same bytes)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, allow_nan=False, indent=indent)

    def write(self, directory: Path | str, *, log: bool = True) -> list[Path]:
        """Write ``result.json``, ``summary.json``, CSVs, ``result.pkl`` and (``log``) ``run.log``.

        ``result.pkl`` is RQAlpha's result dict (``result_pickle``); in an RQAlpha run's
        directory the pickle RQAlpha wrote is kept.

        Every file is written atomically. Returns the written paths.
        """
        out = Path(directory)
        files = {
            "result.json": self.to_json().encode(),
            "summary.json": json.dumps(
                json_safe(self.summary), indent=2, ensure_ascii=False
            ).encode(),
            "portfolio.csv": self.portfolio.to_csv().encode(),
            "trades.csv": self.trades.to_csv(index=False).encode(),
            "positions.csv": flat_frame(self.positions).to_csv(index=False).encode(),
            "orders.csv": self.orders.to_csv(index=False).encode(),
            "round_trips.csv": self.round_trips().to_csv(index=False).encode(),
        }
        if self.summary.get("engine") != "rqalpha" or not (out / RESULT_PICKLE).exists():
            files[RESULT_PICKLE] = pickle.dumps(
                rqalpha_result_dict(self), protocol=pickle.HIGHEST_PROTOCOL
            )  # an RQAlpha run keeps the pickle RQAlpha wrote
        if log:
            files["run.log"] = "".join(f"{line}\n" for line in self.logs).encode()
        paths = []
        for name, data in files.items():
            atomic_write_bytes(out / name, data)
            paths.append(out / name)
        return paths

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BacktestResult:
        """Rebuild a result from ``to_dict()``'s shape (a job's ``result.json``, parsed).

        The frames get the dtypes ``build_result`` gives them; what JSON cannot carry comes
        back as stored: NaN summary values stay ``None``, an order's missing limit price
        ``None``. ``equity`` is not read (it repeats ``portfolio``).

        Raises:
            ValueError: ``data`` is not a result (a key or a column is missing, or a date
                does not parse).
        """
        try:
            return cls(
                summary=dict(data["summary"]),
                conventions=dict(data["conventions"]),
                config=dict(data["config"]),
                portfolio=portfolio_frame(data["portfolio"]),
                trades=trades_frame(record_rows(data["trades"], TRADE_COLUMNS)),
                positions=dated_frame(data["positions"], floats=POSITION_FLOATS),
                orders=orders_frame(record_rows(data["orders"], ORDER_COLUMNS)),
                plots=dated_frame(data["plots"], floats=("value",)),
                logs=list(data.get("logs") or []),
                reference=data.get("engine_summary"),
                trips=trips_frame(data["round_trips"]) if data.get("round_trips") else None,
                analysis=data.get("analysis") if isinstance(data.get("analysis"), dict) else None,
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a backtest result (result.json's shape): {exc!r}") from exc

    @classmethod
    def read(cls, path: Path | str) -> BacktestResult:
        """Read a result from ``result.json``, or from the job folder that holds it.

        Raises:
            FileNotFoundError: there is no such file (or folder without ``result.json``).
            ValueError: the file is not a result (not JSON, or not ``to_dict()``'s shape).
        """
        file = Path(path)
        if file.is_dir():
            file = file / "result.json"
        with file.open("rb") as fh:
            data = json.load(fh)
        if not isinstance(data, dict):
            raise ValueError(f"{file} is not a backtest result (a JSON object)")
        return cls.from_dict(data)

    def round_trips(self) -> pd.DataFrame:
        """The fills paired into round-trip trades (FIFO lots; see ``round_trips``).

        With ``mae``/``mfe`` (``analysis.add_excursions``) when the run had the bars.
        """
        if self.trips is None:
            self.trips = round_trips(self.trades, self.portfolio.index)
        return self.trips

    def period_tables(self) -> dict[str, Any]:
        """Monthly / yearly returns, rolling metrics, drawdown periods (``period_tables``)."""
        if self.analysis is None:
            self.analysis = period_tables(
                self.portfolio,
                periods=int(self.config.get("trading_days_per_year") or 252),
                risk_free_rate=float(self.config.get("risk_free_rate") or 0.0),
                has_benchmark=bool(self.config.get("benchmark")),
            )
        return self.analysis

    def report(self, path: Path | str | None = None, meta: Mapping[str, Any] | None = None) -> str:
        """A self-contained HTML tear sheet of the run (``report.render_report``).

        Args:
            path: Also write it there (UTF-8, atomically).
            meta: Shown in the header when given: ``title``, ``notes``, ``job_id``,
                ``strategy_version``, ``code_sha256``...

        Returns:
            The HTML text (works offline: ECharts and the data are inlined).
        """
        html = render_report(self, meta)
        if path is not None:
            atomic_write_bytes(Path(path), html.encode("utf-8"))
        return html

    def stats(self) -> pd.Series:
        """Performance and trade statistics as a Series, like backtesting.py's ``stats``.

        See ``result_stats.compute_stats`` for every entry's definition and unit.
        """
        return compute_stats(
            self.portfolio,
            self.round_trips(),
            self.positions,
            starting_cash=float(self.config["cash"]),
            periods=int(self.config.get("trading_days_per_year") or 252),
            risk_free_rate=float(self.config.get("risk_free_rate") or 0.0),
        )

    def plot(self, *, catalog: Catalog | None = None) -> Any:
        """An interactive plotly figure: NAV vs benchmark, drawdown, prices with fills.

        Args:
            catalog: Where the traded instruments' closes come from (with the run's
                ``adjust``); default ``Catalog(Settings().data_dir)``.

        Returns:
            A ``plotly.graph_objects.Figure`` with three rows (see ``result_plot``).

        Raises:
            ImportError: plotly is not installed (the ``research`` extra).
        """
        from quantdesk.backtest.result_plot import plot_result

        title = (
            f"{self.summary.get('strategy_name', '')} "
            f"{self.summary.get('start_date')} .. {self.summary.get('end_date')}"
        )
        return plot_result(
            self.portfolio,
            self.trades,
            title=title,
            benchmark=self.config.get("benchmark"),
            adjust=str(self.config.get("adjust") or Adjust.PRE),
            catalog=catalog,
        )

    def __repr__(self) -> str:
        return result_repr(self.summary)

    def _repr_html_(self) -> str:
        """The notebook view: a metrics table and an equity-vs-benchmark sparkline."""
        return result_html(self.summary, self.stats(), self.portfolio)


def build_result(
    raw: EngineResult,
    config: EngineConfig,
    *,
    strategy_name: str,
    adjust: Adjust,
    frequency: str,
    engine: str = "native",
    engine_version: str | None = None,
    reference: dict[str, Any] | None = None,
    data_bundle: str | None = None,
    bars: Callable[[str], BarWindow | None] | None = None,
) -> BacktestResult:
    """Turn an engine's columns into DataFrames and compute the summary.

    The same for every engine: ``engine`` and ``engine_version`` say which one produced them;
    ``data_bundle`` (RQAlpha's bundle: a path or ``"catalog"``) becomes
    ``summary["rqalpha_bundle"]``. ``bars`` (``order_book_id -> (dates, highs, lows)``, the
    prices the fills used) gives each round trip its ``mae``/``mfe``.
    """
    portfolio = portfolio_frame(raw.portfolio)
    trades = trades_frame(
        (f.datetime, f.order_id, f.order_book_id, str(f.side), f.quantity, f.price,
         f.commission, f.tax, f.reason, f.realized_pnl)
        for f in raw.fills
    )  # fmt: skip
    orders = orders_frame(
        (o.order_id, o.created_at, o.order_book_id, str(o.side), o.quantity,
         o.filled_quantity, o.avg_price, o.limit_price, str(o.status),
         None if o.reject_reason is None else str(o.reject_reason), o.message)
        for o in raw.orders
    )  # fmt: skip
    positions = dated_frame(raw.positions, floats=POSITION_FLOATS)
    plots = dated_frame(raw.plots, floats=("value",))
    profile = config.profile
    run_config = {
        "start_date": config.start.isoformat(),
        "end_date": config.end.isoformat(),
        "cash": config.cash,
        "universe": list(config.universe),
        "benchmark": config.benchmark,
        "frequency": frequency,
        "market": profile.name,
        "matching": str(config.matching),
        "adjust": str(adjust),
        "commission": profile.commission,
        "min_commission": profile.min_commission,
        "tax": profile.tax,
        "slippage": profile.slippage,
        "volume_limit": profile.volume_limit,
        "t_plus": profile.t_plus,
        "price_limit": profile.price_limit,
        "params": dict(config.params),
        "risk_free_rate": config.risk_free_rate,
        "trading_days_per_year": config.trading_days_per_year,
        "engine": engine,
    }
    trips = round_trips(trades, portfolio.index)
    if bars is not None:
        trips = add_excursions(trips, bars)
    summary = _summary(
        portfolio, trades, orders, config, strategy_name,
        engine=engine, engine_version=engine_version or package_version("quantdesk"),
    )  # fmt: skip
    summary.update(trade_statistics(trips, exposure_time(positions, len(portfolio))))
    if data_bundle is not None:
        summary["rqalpha_bundle"] = data_bundle
    conventions = dict(
        CONVENTIONS, **TRADE_CONVENTIONS, **PERIOD_CONVENTIONS,
        trading_days_per_year=config.trading_days_per_year,
    )  # fmt: skip
    conventions["risk_free_rate_value"] = config.risk_free_rate
    return BacktestResult(
        summary=summary,
        conventions=conventions,
        config=run_config,
        portfolio=portfolio,
        trades=trades,
        positions=positions,
        orders=orders,
        plots=plots,
        logs=list(raw.logs),
        reference=reference,
        trips=trips,
    )


def _summary(
    portfolio: pd.DataFrame,
    trades: pd.DataFrame,
    orders: pd.DataFrame,
    config: EngineConfig,
    strategy_name: str,
    *,
    engine: str,
    engine_version: str,
) -> dict[str, Any]:
    returns = portfolio["returns"].to_numpy(dtype=float)
    nav = portfolio["nav"].to_numpy(dtype=float)
    bench = portfolio["benchmark_returns"].to_numpy(dtype=float) if config.benchmark else None
    metrics = summarize(
        returns,
        nav,
        bench,
        periods=config.trading_days_per_year,
        risk_free_rate=config.risk_free_rate,
    )
    dates = iso_dates(portfolio.index)
    mdd, peak, trough = max_drawdown(nav)
    traded = float((trades["quantity"] * trades["price"]).sum()) if len(trades) else 0.0
    mean_value = float(portfolio["total_value"].mean())
    last = portfolio.iloc[-1]
    return {
        "strategy_name": strategy_name,
        "engine": engine,
        "engine_version": engine_version,
        "start_date": config.start.isoformat(),
        "end_date": config.end.isoformat(),
        "trading_days": len(dates),
        "starting_cash": config.cash,
        "market": config.profile.name,
        "benchmark": config.benchmark,
        "total_value": float(last["total_value"]),
        "cash": float(last["cash"]),
        "market_value": float(last["market_value"]),
        "unit_net_value": float(last["nav"]),
        **metrics,
        "max_drawdown_start": dates[peak]
        if mdd > 0 and peak >= 0
        else (config.start.isoformat() if mdd > 0 else None),
        "max_drawdown_end": dates[trough] if mdd > 0 else None,
        "max_drawdown_duration": (trough - peak) if mdd > 0 else 0,
        "turnover": traded / (2 * mean_value) if mean_value > 0 else None,
        "trade_count": len(trades),
        "order_count": len(orders),
        "rejected_orders": int((orders["status"] == str(OrderStatus.REJECTED)).sum()),
        "total_commission": float(trades["commission"].sum()) if len(trades) else 0.0,
        "total_tax": float(trades["tax"].sum()) if len(trades) else 0.0,
    }
