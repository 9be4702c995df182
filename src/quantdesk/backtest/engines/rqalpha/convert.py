"""RQAlpha's ``result.pkl`` -> our engine-neutral columns (``EngineResult``).

``result.pkl`` is RQAlpha's ``sys_analyser`` output (``mod.py`` of that mod, v6.4): a dict of
``summary`` (dict), ``portfolio`` (daily cash/total_value/market_value/unit_net_value),
``trades`` (one row per fill), ``stock_positions`` (one row per date and holding), ``plots``
(``plot()`` series) and more. RQAlpha rounds cash, values and trade prices to 4 decimals
(``_safe_convert``), so fills and values agree with the native engine to that precision.

The file is read with an allow-list unpickler (pandas, numpy, datetime and RQAlpha's
``IndexRange`` record only): a pickle can run code, and this one comes from another
program. Orders come from the mod's ``orders.json`` (the pickle keeps trades only).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import pickle
from collections import defaultdict
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from quantdesk.backtest.engines.benchmark import benchmark_closes
from quantdesk.core.errors import EngineFailed
from quantdesk.engine import (
    BarSource,
    EngineConfig,
    EngineResult,
    Fill,
    Order,
    OrderStatus,
    RejectReason,
    Side,
)


class IndexRange(NamedTuple):
    """Stand-in for RQAlpha's drawdown-duration record in its summary."""

    start: int
    end: int
    start_date: dt.date
    end_date: dt.date


_ALLOWED_PREFIXES = ("pandas.", "numpy.")
_ALLOWED = {
    ("builtins", "slice"), ("builtins", "set"), ("builtins", "frozenset"),
    ("builtins", "complex"), ("datetime", "date"), ("datetime", "datetime"),
    ("datetime", "timedelta"), ("datetime", "timezone"), ("collections", "OrderedDict"),
    ("copyreg", "_reconstructor"), ("builtins", "object"), ("_codecs", "encode"),
    ("numpy", "dtype"), ("numpy", "ndarray"), ("pandas", "DataFrame"), ("pandas", "Series"),
}  # fmt: skip


class _ResultUnpickler(pickle.Unpickler):
    """Allows only the classes a ``result.pkl`` legitimately holds."""

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("rqalpha.") and name == "IndexRange":
            return IndexRange
        if (
            (module, name) in _ALLOWED
            or module.startswith(_ALLOWED_PREFIXES)
            or module
            in (
                "numpy",
                "pandas",
            )
        ):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"result.pkl refers to {module}.{name}, which is not allowed")


def load_result(path: Path) -> dict[str, Any]:
    """Read RQAlpha's ``result.pkl``.

    Raises:
        EngineFailed: the file is not a result dict or refers to a disallowed class.
    """
    try:
        with open(path, "rb") as fh:
            result = _ResultUnpickler(fh).load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError) as exc:
        raise EngineFailed(f"cannot read RQAlpha's {path.name}: {exc}") from None
    if not isinstance(result, dict) or "portfolio" not in result:
        raise EngineFailed(f"{path.name} is not an RQAlpha result (no portfolio)")
    return result


def engine_result(
    result: dict[str, Any],
    orders_file: Path,
    source: BarSource,
    config: EngineConfig,
    *,
    logs: list[str],
) -> EngineResult:
    """Our columns from RQAlpha's result (see the module docstring).

    The benchmark columns come from our bars (close / close of the session before the start,
    as in the native engine); RQAlpha's own benchmark series stays in ``reference``.
    """
    out = EngineResult(logs=list(logs))
    close_time = config.profile.close_time
    portfolio: pd.DataFrame = result["portfolio"]
    dates = [_date(d) for d in portfolio.index]
    total = portfolio["total_value"].to_numpy(dtype=float)
    prev = np.concatenate([[config.cash], total[:-1]])
    out.portfolio = {
        "date": dates,
        "cash": portfolio["cash"].astype(float).tolist(),
        "market_value": portfolio["market_value"].astype(float).tolist(),
        "total_value": total.tolist(),
        "nav": (total / config.cash).tolist(),
        "returns": (total / prev - 1.0).tolist(),
        **_benchmark_columns(source, config, dates),
    }
    order_map, out.orders = _orders(orders_file, close_time)
    out.fills = _fills(result.get("trades"), order_map, config)
    out.positions = _positions(result.get("stock_positions"), out.fills, config)
    out.plots = _plots(result.get("plots"))
    return out


def clean_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """RQAlpha's summary as JSON-ready values (``IndexRange`` -> dict, NaN -> None)."""
    return {str(key): _json_value(value) for key, value in summary.items()}


def _json_value(value: Any) -> Any:
    if isinstance(value, IndexRange):
        return {
            "start": value.start,
            "end": value.end,
            "start_date": value.start_date.isoformat(),
            "end_date": value.end_date.isoformat(),
        }
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _benchmark_columns(
    source: BarSource, config: EngineConfig, dates: list[dt.date]
) -> dict[str, list[float]]:
    bars = source.bars(config.benchmark, config.end) if config.benchmark else None
    closes, base = benchmark_closes(bars, dates)
    prev = [base, *closes[:-1]]
    return {
        "benchmark_close": closes,
        "benchmark_nav": [c / base for c in closes],
        "benchmark_returns": [c / p - 1.0 for c, p in zip(closes, prev, strict=True)],
    }


_STATUS = {
    "FILLED": OrderStatus.FILLED,
    "REJECTED": OrderStatus.REJECTED,
    "CANCELLED": OrderStatus.CANCELLED,
}
#: Keywords of RQAlpha's order messages -> our reject reasons.
_REASONS = (
    ("limit_up", RejectReason.LIMIT_UP), ("limit_down", RejectReason.LIMIT_DOWN),
    ("closable", RejectReason.T_PLUS_1), ("cash", RejectReason.CASH),
    ("volume", RejectReason.VOLUME), ("suspend", RejectReason.SUSPENDED),
    ("not trading", RejectReason.SUSPENDED), ("position", RejectReason.POSITION),
    ("round lot", RejectReason.LOT), ("lot", RejectReason.LOT),
    ("0 order quantity", RejectReason.LOT), ("no market data", RejectReason.SUSPENDED),
    ("price", RejectReason.PRICE),
)  # fmt: skip


def _orders(orders_file: Path, close_time: dt.time) -> tuple[dict[int, int], list[Order]]:
    """Orders from the mod's JSON, renumbered 1..n in creation order."""
    try:
        rows = json.loads(orders_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}, []
    mapping: dict[int, int] = {}
    orders = []
    for seq, row in enumerate(rows, start=1):
        mapping[int(row["order_id"])] = seq
        created = dt.datetime.combine(dt.datetime.fromisoformat(row["datetime"]).date(), close_time)
        order = Order(
            seq, row["order_book_id"], Side(row["side"]), int(row["quantity"]),
            row["price"], created,
        )  # fmt: skip
        order.filled_quantity = int(row["filled_quantity"])
        order.avg_price = float(row["avg_price"])
        order.transaction_cost = float(row["transaction_cost"])
        order.status = _STATUS.get(row["status"], OrderStatus.CANCELLED)
        message = row["message"]
        order.message = message
        if order.status is not OrderStatus.FILLED:
            lowered = message.lower()
            order.reject_reason = next(
                (reason for key, reason in _REASONS if key in lowered),
                RejectReason.EXPIRED if order.status is OrderStatus.CANCELLED else None,
            )
        orders.append(order)
    return mapping, orders


def _fills(
    trades: pd.DataFrame | None, order_map: dict[int, int], config: EngineConfig
) -> list[Fill]:
    """Fills with realized P/L computed like the native engine (average cost incl. costs)."""
    if trades is None or len(trades) == 0:
        return []
    close_time = config.profile.close_time
    rule = "rqalpha current_bar close" + (
        f" + slippage {config.profile.slippage:g}" if config.profile.slippage else ""
    )
    basis: dict[str, float] = defaultdict(float)
    held: dict[str, int] = defaultdict(int)
    fills = []
    for row in trades.to_dict("records"):
        oid = str(row["order_book_id"])
        side = Side(str(row["side"]))
        qty = int(row["last_quantity"])
        price = float(row["last_price"])
        fee, tax = float(row["commission"]), float(row["tax"])
        pnl = 0.0
        if side is Side.BUY:
            basis[oid] += qty * price + fee + tax
            held[oid] += qty
        else:
            part = basis[oid] * qty / held[oid] if held[oid] else 0.0
            basis[oid] -= part
            held[oid] -= qty
            pnl = qty * price - fee - tax - part
        when = dt.datetime.combine(_date(row["datetime"]), close_time)
        order_id = order_map.get(int(row["order_id"]), int(row["order_id"]))
        fills.append(Fill(when, order_id, oid, side, qty, price, fee, tax, rule, pnl))
    return fills


def _positions(
    frame: pd.DataFrame | None, fills: list[Fill], config: EngineConfig
) -> dict[str, list[Any]]:
    cols: dict[str, list[Any]] = {
        k: []
        for k in ("date", "order_book_id", "quantity", "sellable", "avg_price", "last_price",
                  "market_value")
    }  # fmt: skip
    if frame is None or len(frame) == 0:
        return cols
    bought: dict[tuple[dt.date, str], int] = defaultdict(int)
    if config.profile.t_plus >= 1:
        for f in fills:
            if f.side is Side.BUY:
                bought[f.datetime.date(), f.order_book_id] += f.quantity
    for day, row in zip(frame.index, frame.to_dict("records"), strict=True):
        d = _date(day)
        qty = int(row["quantity"])
        oid = str(row["order_book_id"])
        cols["date"].append(d)
        cols["order_book_id"].append(oid)
        cols["quantity"].append(qty)
        cols["sellable"].append(qty - bought.get((d, oid), 0))
        cols["avg_price"].append(float(row["avg_price"]))
        cols["last_price"].append(float(row["last_price"]))
        cols["market_value"].append(float(row["market_value"]))
    return cols


def _plots(frame: pd.DataFrame | None) -> dict[str, list[Any]]:
    cols: dict[str, list[Any]] = {"date": [], "name": [], "value": []}
    if frame is None or len(frame) == 0:
        return cols
    for name in frame.columns:
        for day, value in frame[name].items():
            if value is not None and not (isinstance(value, float) and math.isnan(value)):
                cols["date"].append(_date(day))
                cols["name"].append(str(name))
                cols["value"].append(float(value))
    order = sorted(range(len(cols["date"])), key=lambda i: (cols["date"][i], cols["name"][i]))
    return {k: [v[i] for i in order] for k, v in cols.items()}


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return pd.Timestamp(value).date()
