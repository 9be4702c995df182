"""The result's frames and their wire shape: one constructor per frame, JSON and CSV forms.

``build_result`` (from the engine's columns) and ``BacktestResult.from_dict`` (from
``result.json``) build every frame through the constructors here, so a result read back from
a job folder has the dtypes of one made by a run. On the wire (``to_dict``, CSV) dates are
``YYYY-MM-DD`` text and a ``date`` index is the first column again.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

#: Columns of ``BacktestResult.trades`` (one row per fill), in order.
TRADE_COLUMNS = [
    "datetime", "order_id", "order_book_id", "side", "quantity", "price", "commission",
    "tax", "reason", "realized_pnl",
]  # fmt: skip
#: Columns of ``BacktestResult.orders``, in order.
ORDER_COLUMNS = [
    "order_id", "datetime", "order_book_id", "side", "quantity", "filled_quantity",
    "avg_price", "limit_price", "status", "reject_reason", "message",
]  # fmt: skip
#: Float columns of ``positions`` (kept float64 when JSON brings back only ``None``).
POSITION_FLOATS = ("avg_price", "last_price", "market_value")


def date_index(values: Iterable[Any]) -> pd.DatetimeIndex:
    """Session dates (``datetime.date``, ``YYYY-MM-DD`` or timestamps) as the frames' index.

    Returns:
        A tz-naive, normalized ``datetime64[ns]`` ``DatetimeIndex`` named ``date``.
    """
    index = pd.DatetimeIndex(pd.to_datetime(list(values)), name="date")
    return index.as_unit("ns").normalize()


def portfolio_frame(columns: Mapping[str, Sequence[Any]]) -> pd.DataFrame:
    """``portfolio`` from its columns (``date`` plus numbers): float64, indexed by ``date``."""
    values = {c: v for c, v in columns.items() if c != "date"}
    return pd.DataFrame(values, index=date_index(columns["date"])).astype("float64")


def dated_frame(columns: Mapping[str, Sequence[Any]], *, floats: Sequence[str]) -> pd.DataFrame:
    """A long frame with a ``date`` column (``positions``, ``plots``) indexed by that date.

    ``floats`` name the columns that are float64 whatever their values (``None`` -> NaN).
    A frame without a ``date`` column keeps its RangeIndex.
    """
    frame = pd.DataFrame(dict(columns))
    for col in floats:
        if col in frame.columns:
            frame[col] = frame[col].astype("float64")
    if "date" not in frame.columns:
        return frame
    return frame.drop(columns="date").set_axis(date_index(frame["date"]), axis=0)


def trades_frame(rows: Iterable[tuple[Any, ...]]) -> pd.DataFrame:
    """``trades`` from fill tuples in ``TRADE_COLUMNS`` order."""
    return pd.DataFrame(list(rows), columns=TRADE_COLUMNS)


def trips_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Round trips from their JSON records (``to_dict``'s ``round_trips``).

    The entry and exit times become ``datetime64``; prices, costs, P&L and excursions float64;
    ``holding_sessions`` nullable Int64; quantities keep JSON's type (whole shares: int64).
    """
    frame = pd.DataFrame(list(rows))
    for col in ("entry_datetime", "exit_datetime"):
        if col in frame.columns:
            frame[col] = pd.to_datetime(frame[col])
    for col in ("entry_price", "exit_price", "costs", "pnl", "return", "mae", "mfe"):
        if col in frame.columns:
            frame[col] = frame[col].astype("float64")
    if "holding_sessions" in frame.columns:
        frame["holding_sessions"] = frame["holding_sessions"].astype("Int64")
    return frame


def orders_frame(rows: Iterable[tuple[Any, ...]]) -> pd.DataFrame:
    """``orders`` from order tuples in ``ORDER_COLUMNS`` order."""
    return pd.DataFrame(list(rows), columns=ORDER_COLUMNS)


def record_rows(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> list[tuple[Any, ...]]:
    """JSON records (``to_dict``'s ``trades``/``orders``) back to tuples in ``columns`` order.

    The ``datetime`` text (ISO 8601) becomes a ``datetime.datetime`` again.

    Raises:
        KeyError: a record lacks a column.
        ValueError: a ``datetime`` does not parse.
    """
    return [tuple(_datetime(r[c]) if c == "datetime" else r[c] for c in columns) for r in rows]


def _datetime(value: Any) -> Any:
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else value


def iso_dates(index: pd.Index) -> list[str]:
    """``YYYY-MM-DD`` text of each date of ``index``."""
    return [str(d) for d in pd.DatetimeIndex(index).strftime("%Y-%m-%d")]


def flat_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with a ``date`` index moved back to its first column (CSV and JSON shape)."""
    return frame.reset_index() if frame.index.name == "date" else frame


def column_lists(frame: pd.DataFrame) -> dict[str, list[Any]]:
    """Column -> list, a ``date`` index first as ``YYYY-MM-DD`` text."""
    out: dict[str, list[Any]] = {}
    if frame.index.name == "date":
        out["date"] = iso_dates(frame.index)
    out.update({c: frame[c].tolist() for c in frame.columns})
    return out


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``frame`` as dicts (column -> value), index left out."""
    return [dict(zip(frame.columns, row, strict=True)) for row in frame.itertuples(index=False)]


def json_safe(value: Any) -> Any:
    """Recursively make ``value`` JSON-safe: NaN/inf -> None, numpy -> Python, dates -> ISO."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
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
