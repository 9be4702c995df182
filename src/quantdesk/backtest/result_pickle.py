"""``result.pkl`` in RQAlpha's shape, for every engine.

The contract lists ``result.pkl`` among the files of every job folder; tools written for
RQAlpha read it with ``pickle.load`` and expect ``sys_analyser``'s dict (``mod.py`` of
``rqalpha_mod_sys_analyser``, v6.4). ``rqalpha_result_dict`` builds that dict from a
``BacktestResult`` of any engine (an RQAlpha run keeps the pickle RQAlpha wrote itself):

- ``summary``: our summary (RQAlpha's metric names; plain ``float``/``int``/``str``);
- ``portfolio``: per session ``cash, total_value, market_value, unit_net_value, units,
  static_unit_net_value`` (+ ``benchmark_unit_net_value`` with a benchmark), indexed by
  ``date`` (``DatetimeIndex``);
- ``trades``: one row per fill ``datetime, trading_datetime, order_book_id, symbol, side,
  position_effect, exec_id, tax, commission, last_quantity, last_price, order_id,
  transaction_cost``, indexed by the fill's ``DatetimeIndex``;
- ``stock_account``: per session ``cash, transaction_cost, market_value, total_value``;
- ``stock_positions``: per (session, holding) ``order_book_id, symbol, quantity,
  last_price, avg_price, market_value`` indexed by ``date``;
- ``benchmark_portfolio`` (with a benchmark): ``unit_net_value`` per session;
- ``plots`` (when the strategy called ``plot()``): one column per series, indexed by ``date``.

Only builtins, NumPy and pandas objects are pickled, so the file loads anywhere pandas is
installed (and through quantdesk's allow-list unpickler). The API never unpickles it.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import pandas as pd


class BacktestResult(Protocol):
    """The parts of ``quantdesk.backtest.result.BacktestResult`` the pickle is made of."""

    summary: dict[str, Any]
    config: dict[str, Any]
    portfolio: pd.DataFrame
    trades: pd.DataFrame
    positions: pd.DataFrame
    plots: pd.DataFrame


#: File name in the job folder, as in the contract.
RESULT_PICKLE = "result.pkl"
#: Columns of the pickle's ``trades`` frame, in RQAlpha's order.
PICKLE_TRADE_COLUMNS = [
    "datetime", "trading_datetime", "order_book_id", "symbol", "side", "position_effect",
    "exec_id", "tax", "commission", "last_quantity", "last_price", "order_id",
    "transaction_cost",
]  # fmt: skip


def _plain(value: Any) -> Any:
    """A summary value as a builtin (NumPy scalars unwrapped, NaN kept as float NaN)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _strings(column: Any) -> pd.Series:
    """A text column of NumPy objects.

    pandas 3 would infer an Arrow-backed ``str`` column, whose pickle needs pyarrow (and
    fails quantdesk's allow-list unpickler).
    """
    return pd.Series([str(v) for v in column], dtype=object)


def _plain_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with object-dtype text columns and column labels (see ``_strings``)."""
    for col in frame.columns:
        if not (
            pd.api.types.is_numeric_dtype(frame[col]) or pd.api.types.is_bool_dtype(frame[col])
        ):
            frame[col] = _strings(frame[col]).set_axis(frame.index)
    frame.columns = pd.Index([str(c) for c in frame.columns], dtype=object)
    return frame


def _portfolio(result: BacktestResult) -> pd.DataFrame:
    pf = result.portfolio
    cash0 = float(result.config.get("cash") or result.summary.get("starting_cash") or 0.0)
    nav = pf["nav"].astype("float64")
    frame = pd.DataFrame(
        {
            "cash": pf["cash"].astype("float64"),
            "total_value": pf["total_value"].astype("float64"),
            "market_value": pf["market_value"].astype("float64"),
            "unit_net_value": nav,
            "units": np.full(len(pf), cash0, dtype="float64"),
            "static_unit_net_value": nav.shift(1).fillna(1.0),
        },
        index=pd.DatetimeIndex(pf.index, name="date"),
    )
    if result.config.get("benchmark"):
        frame["benchmark_unit_net_value"] = pf["benchmark_nav"].astype("float64")
    return frame


def _trades(result: BacktestResult) -> pd.DataFrame:
    trades = result.trades
    rows = []
    for exec_id, row in enumerate(trades.to_dict("records"), start=1):
        when = pd.Timestamp(row["datetime"])
        stamp = when.strftime("%Y-%m-%d %H:%M:%S")
        commission, tax = float(row["commission"]), float(row["tax"])
        rows.append(
            {
                "datetime": stamp,
                "trading_datetime": stamp,
                "order_book_id": str(row["order_book_id"]),
                "symbol": str(row["order_book_id"]),
                "side": str(row["side"]),
                "position_effect": "OPEN" if str(row["side"]) == "BUY" else "CLOSE",
                "exec_id": exec_id,
                "tax": tax,
                "commission": commission,
                "last_quantity": int(row["quantity"]),
                "last_price": float(row["price"]),
                "order_id": int(row["order_id"]),
                "transaction_cost": commission + tax,
            }
        )
    frame = pd.DataFrame(rows, columns=PICKLE_TRADE_COLUMNS)
    return frame.set_index(pd.DatetimeIndex(pd.to_datetime(frame["datetime"]), name=None))


def _stock_account(result: BacktestResult, trades: pd.DataFrame) -> pd.DataFrame:
    pf = result.portfolio
    costs = (
        trades["transaction_cost"].groupby(pd.DatetimeIndex(trades.index).normalize()).sum()
        if len(trades)
        else pd.Series(dtype="float64")
    )
    index = pd.DatetimeIndex(pf.index, name="date")
    return pd.DataFrame(
        {
            "cash": pf["cash"].astype("float64"),
            "transaction_cost": costs.reindex(index, fill_value=0.0).to_numpy(dtype="float64"),
            "market_value": pf["market_value"].astype("float64"),
            "total_value": pf["total_value"].astype("float64"),
        },
        index=index,
    )


def _stock_positions(result: BacktestResult) -> pd.DataFrame:
    pos = result.positions
    columns = ["order_book_id", "symbol", "quantity", "last_price", "avg_price", "market_value"]
    if len(pos) == 0 or "order_book_id" not in pos.columns:
        return pd.DataFrame(columns=columns, index=pd.DatetimeIndex([], name="date"))
    frame = pd.DataFrame(
        {
            "order_book_id": pos["order_book_id"].to_numpy(),
            "symbol": pos["order_book_id"].to_numpy(),
            "quantity": pos["quantity"].astype("int64"),
            "last_price": pos["last_price"].astype("float64"),
            "avg_price": pos["avg_price"].astype("float64"),
            "market_value": pos["market_value"].astype("float64"),
        }
    )
    frame.index = pd.DatetimeIndex(pos.index, name="date")
    return frame


def _plots(result: BacktestResult) -> pd.DataFrame | None:
    plots = result.plots
    if len(plots) == 0 or "name" not in plots.columns:
        return None
    wide = plots.reset_index().pivot_table(
        index="date", columns="name", values="value", aggfunc="last"
    )
    wide.columns.name = None
    wide.index = pd.DatetimeIndex(wide.index, name="date")
    return wide.astype("float64")


def rqalpha_result_dict(result: BacktestResult) -> dict[str, Any]:
    """``result`` as RQAlpha's ``sys_analyser`` result dict (see the module docstring)."""
    summary = _plain(result.summary)
    trades = _trades(result)
    out: dict[str, Any] = {
        "summary": summary,
        "trades": _plain_frame(trades),
        "portfolio": _plain_frame(_portfolio(result)),
        "stock_account": _plain_frame(_stock_account(result, trades)),
        "stock_positions": _plain_frame(_stock_positions(result)),
    }
    if result.config.get("benchmark"):
        bench = result.portfolio["benchmark_nav"].astype("float64")
        out["benchmark_portfolio"] = _plain_frame(
            pd.DataFrame(
                {"unit_net_value": bench.to_numpy()},
                index=pd.DatetimeIndex(result.portfolio.index, name="date"),
            )
        )
    plots = _plots(result)
    if plots is not None:
        out["plots"] = _plain_frame(plots)
    return out
