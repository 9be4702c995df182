"""``BacktestResult``: the engine's raw output as DataFrames, a summary, JSON and files."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quantdesk.core.files import atomic_write_bytes
from quantdesk.core.version import package_version
from quantdesk.data.catalog import Adjust
from quantdesk.engine import EngineConfig, EngineResult
from quantdesk.engine.metrics import CONVENTIONS, max_drawdown, summarize, trade_stats
from quantdesk.engine.records import OrderStatus, Side

TRADE_COLUMNS = [
    "datetime", "order_id", "order_book_id", "side", "quantity", "price", "commission",
    "tax", "reason", "realized_pnl",
]  # fmt: skip
ORDER_COLUMNS = [
    "order_id", "datetime", "order_book_id", "side", "quantity", "filled_quantity",
    "avg_price", "limit_price", "status", "reject_reason", "message",
]  # fmt: skip


@dataclass
class BacktestResult:
    """The result of one run.

    Attributes:
        summary: Run info and metrics (RQAlpha names; fractions, 0.12 = 12%).
        conventions: How each metric is computed (formulas, annualization, rf).
        config: The run's parameters.
        portfolio: Daily ``cash, market_value, total_value, nav, returns, benchmark_close,
            benchmark_nav, benchmark_returns`` indexed by ``date``.
        trades: One row per fill, columns ``TRADE_COLUMNS``.
        positions: One row per (date, held instrument).
        orders: Every order with its final status and reject reason.
        plots: ``plot()`` series as ``date, name, value`` rows.
        logs: Strategy log lines.
        reference: The engine's own summary when it has one (RQAlpha), else ``None``.
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

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN as ``None``, dates as ISO strings).

        Shape: ``summary``, ``conventions``, ``config``, ``equity`` (``dates, nav, returns,
        benchmark_nav`` arrays, the contract's shape), ``portfolio`` / ``positions`` / ``plots``
        (column -> list), ``trades`` (list of records) with ``trade_columns`` and
        ``trades_total``, ``orders`` (records) and ``logs``.
        """
        pf = self.portfolio
        dates = [d.isoformat() for d in pf.index]
        out: dict[str, Any] = _clean(
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
                "trades": _records(self.trades),
                "trade_columns": list(self.trades.columns),
                "trades_total": len(self.trades),
                "positions": {c: self.positions[c].tolist() for c in self.positions.columns},
                "orders": _records(self.orders),
                "plots": {c: self.plots[c].tolist() for c in self.plots.columns},
                "logs": list(self.logs),
                "engine_summary": self.reference,
            }
        )
        return out

    def to_json(self, indent: int | None = None) -> str:
        """``to_dict()`` as deterministic JSON text (same inputs, same bytes)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, allow_nan=False, indent=indent)

    def write(self, directory: Path | str, *, log: bool = True) -> list[Path]:
        """Write ``result.json``, ``summary.json``, CSVs and (``log``) ``run.log`` to ``directory``.

        Every file is written atomically. Returns the written paths.
        """
        out = Path(directory)
        files = {
            "result.json": self.to_json().encode(),
            "summary.json": json.dumps(_clean(self.summary), indent=2, ensure_ascii=False).encode(),
            "portfolio.csv": self.portfolio.to_csv().encode(),
            "trades.csv": self.trades.to_csv(index=False).encode(),
            "positions.csv": self.positions.to_csv(index=False).encode(),
            "orders.csv": self.orders.to_csv(index=False).encode(),
        }
        if log:
            files["run.log"] = "".join(f"{line}\n" for line in self.logs).encode()
        paths = []
        for name, data in files.items():
            atomic_write_bytes(out / name, data)
            paths.append(out / name)
        return paths


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
) -> BacktestResult:
    """Turn an engine's columns into DataFrames and compute the summary.

    The same for every engine: ``engine`` and ``engine_version`` say which one produced them.
    """
    portfolio = pd.DataFrame(raw.portfolio).set_index("date")
    trades = pd.DataFrame(
        [
            (f.datetime, f.order_id, f.order_book_id, str(f.side), f.quantity, f.price,
             f.commission, f.tax, f.reason, f.realized_pnl)
            for f in raw.fills
        ],
        columns=TRADE_COLUMNS,
    )  # fmt: skip
    orders = pd.DataFrame(
        [
            (o.order_id, o.created_at, o.order_book_id, str(o.side), o.quantity,
             o.filled_quantity, o.avg_price, o.limit_price, str(o.status),
             None if o.reject_reason is None else str(o.reject_reason), o.message)
            for o in raw.orders
        ],
        columns=ORDER_COLUMNS,
    )  # fmt: skip
    positions = pd.DataFrame(raw.positions)
    plots = pd.DataFrame(raw.plots)
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
    summary = _summary(
        portfolio, trades, orders, config, strategy_name,
        engine=engine, engine_version=engine_version or package_version("quantdesk"),
    )  # fmt: skip
    conventions = dict(CONVENTIONS, trading_days_per_year=config.trading_days_per_year)
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
    dates = list(portfolio.index)
    mdd, peak, trough = max_drawdown(nav)
    sells = trades[trades["side"] == str(Side.SELL)]
    win_rate, pl_ratio = trade_stats(sells["realized_pnl"].tolist())
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
        "max_drawdown_start": dates[peak].isoformat()
        if mdd > 0 and peak >= 0
        else (config.start.isoformat() if mdd > 0 else None),
        "max_drawdown_end": dates[trough].isoformat() if mdd > 0 else None,
        "max_drawdown_duration": (trough - peak) if mdd > 0 else 0,
        "win_rate": win_rate,
        "profit_loss_ratio": pl_ratio,
        "turnover": traded / (2 * mean_value) if mean_value > 0 else None,
        "trade_count": len(trades),
        "order_count": len(orders),
        "rejected_orders": int((orders["status"] == str(OrderStatus.REJECTED)).sum()),
        "total_commission": float(trades["commission"].sum()) if len(trades) else 0.0,
        "total_tax": float(trades["tax"].sum()) if len(trades) else 0.0,
    }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [dict(zip(frame.columns, row, strict=True)) for row in frame.itertuples(index=False)]


def _clean(value: Any) -> Any:
    """Recursively make ``value`` JSON-safe: NaN/inf -> None, numpy -> Python, dates -> ISO."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float | np.floating):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if value is None or isinstance(value, str):
        return value
    if value is pd.NA or value is pd.NaT:
        return None
    return str(value)
