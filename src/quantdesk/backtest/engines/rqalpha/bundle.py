"""Build an RQAlpha data bundle (the files ``BaseDataSource`` opens) from our bars.

RQAlpha reads a bundle directory (``rqalpha run -d DIR``); its layout is RQAlpha's own
(``rqalpha/data/base_data_source/data_source.py``, ``storages.py``, v6.4). We write exactly
the bars the native engine would see (the run's adjustment), so both engines price the same
series. The traps found offline (``research/rqalpha/FINDINGS.md``) are handled here:

* ``indexes.h5`` must hold ``000001.XSHG``: RQAlpha clips every run to its date range, so
  a flat placeholder spanning the calendar is written when the data has none;
* the benchmark needs the bar of the session before the start date (the catalog check of
  ``prepare_backtest`` guarantees the benchmark covers the start; its earlier bars are kept);
* a risk-free rate of exactly 0 makes RQAlpha's Sharpe, Sortino and alpha NaN, so 0 is
  written as ``ZERO_RATE`` (1e-12 per year, negligible);
* T+1 applies only with ``market_tplus: 1`` on the instrument, and ``future_info.json``
  must be a non-empty list whose first item has ``margin_rate``.

Prices: ``limit_up``/``limit_down`` are the native engine's limits (``rules.price_limits``:
board, ST periods, IPO sessions or the data's own columns, in traded units, scaled back by
the adjustment factor), 0 where there is none (RQAlpha then skips the check). Instruments
carry their ``board_type``, and ``st_stock_days.h5`` their ST sessions (``is_st_stock``).
"""

from __future__ import annotations

import datetime as dt
import json
import pickle
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from quantdesk.core.instruments import MARKET_CALENDAR, Instrument, InstrumentType
from quantdesk.engine import BarSeries, BarSource, EngineConfig, order_quantities, price_limits

#: RQAlpha's yield-curve tenors (``rqalpha/utils/risk_free_helper.py``).
TENORS = (
    "0S", "1M", "2M", "3M", "6M", "9M", "1Y", "2Y", "3Y", "4Y", "5Y", "6Y", "7Y", "8Y",
    "9Y", "10Y", "15Y", "20Y", "30Y", "40Y", "50Y",
)  # fmt: skip
#: The rate written for "zero" (RQAlpha treats an exact 0 as missing and returns NaN).
ZERO_RATE = 1e-12
#: RQAlpha's range anchor; a placeholder is written when the data has no such index.
ANCHOR_INDEX = "000001.XSHG"

_BAR_FIELDS: list[tuple[str, Any]] = [
    ("datetime", np.int64), ("open", np.float64), ("close", np.float64),
    ("high", np.float64), ("low", np.float64), ("volume", np.float64),
    ("total_turnover", np.float64),
]  # fmt: skip
_STOCK_FIELDS: list[tuple[str, Any]] = [
    *_BAR_FIELDS,
    ("limit_up", np.float64),
    ("limit_down", np.float64),
]
#: ``future_info.json`` must be a non-empty list whose first item has ``margin_rate``.
_FUTURE_INFO = {
    "underlying_symbol": "__NONE__", "margin_rate": 0.1, "commission_type": "by_money",
    "open_commission_ratio": 0.0, "close_commission_ratio": 0.0,
    "close_commission_today_ratio": 0.0, "tick_size": 0.01,
}  # fmt: skip
_EMPTY_FILES = (
    "futures.h5", "dividends.h5", "split_factor.h5", "ex_cum_factor.h5",
    "suspended_days.h5",
)  # fmt: skip


def build_bundle(
    out: Path, source: BarSource, config: EngineConfig, order_book_ids: Iterable[str]
) -> Path:
    """Write the bundle of ``order_book_ids`` (universe and benchmark) to ``out``.

    Args:
        out: Directory to create (files are overwritten).
        source: The bars (the run's adjustment) and instruments.
        config: The run: end date, profile (lots, T+1, price limit), risk-free rate.
        order_book_ids: Instruments to include.

    Returns:
        ``out``.
    """
    out.mkdir(parents=True, exist_ok=True)
    profile = config.profile
    series: dict[str, tuple[Instrument, BarSeries]] = {}
    for oid in dict.fromkeys(order_book_ids):
        series[oid] = (source.instrument(oid), source.bars(oid, config.end))
    first = min(
        (np.datetime64(s.dates[0], "D") for _, s in series.values() if len(s)),
        default=np.datetime64(config.start, "D"),
    )
    calendar = MARKET_CALENDAR[profile.market]
    sessions = source.sessions(calendar, _as_date(first), config.end)
    date_ints = _date_ints(sessions)
    np.save(out / "trading_dates.npy", date_ints, allow_pickle=False)

    records = []
    with (
        h5py.File(out / "stocks.h5", "w") as stocks,
        h5py.File(out / "funds.h5", "w") as funds,
        h5py.File(out / "indexes.h5", "w") as indexes,
    ):
        for oid, (instrument, bars) in series.items():
            records.append(_instrument_record(instrument, config))
            if instrument.type is InstrumentType.INDEX:
                indexes.create_dataset(oid, data=_bars(bars, _BAR_FIELDS, None))
            else:
                target = funds if instrument.type is InstrumentType.ETF else stocks
                data = _bars(bars, _STOCK_FIELDS, profile.price_limit, instrument)
                target.create_dataset(oid, data=data)
        if ANCHOR_INDEX not in series:
            flat = np.zeros(len(date_ints), dtype=_BAR_FIELDS)
            flat["datetime"] = date_ints.astype(np.int64) * 1_000_000
            for name in ("open", "close", "high", "low"):
                flat[name] = 1.0
            indexes.create_dataset(ANCHOR_INDEX, data=flat)
            records.append(_anchor_record(sessions))
    with h5py.File(out / "st_stock_days.h5", "w") as st_days:
        for oid, (instrument, _) in series.items():
            if instrument.st_periods:
                days = [d for d in sessions.astype("datetime64[D]").tolist() if instrument.is_st(d)]
                st_days.create_dataset(oid, data=_date_ints(np.array(days, dtype="datetime64[D]")))
    for name in _EMPTY_FILES:
        h5py.File(out / name, "w").close()
    with h5py.File(out / "yield_curve.h5", "w") as h5:
        curve = np.zeros(
            len(date_ints), dtype=[("date", np.int64)] + [(t, np.float64) for t in TENORS]
        )
        curve["date"] = date_ints
        rate = config.risk_free_rate or ZERO_RATE
        for tenor in TENORS:
            curve[tenor] = rate
        h5.create_dataset("data", data=curve)
    (out / "future_info.json").write_text(json.dumps([_FUTURE_INFO]))
    (out / "share_transformation.json").write_text("{}")
    # RQAlpha loads instruments.pk with pickle (protocol 2, a list of plain dicts); we only
    # write it, from our own data.
    with open(out / "instruments.pk", "wb") as fh:
        pickle.dump(records, fh, protocol=2)
    return out


def _bars(
    bars: BarSeries,
    fields: list[tuple[str, Any]],
    price_limit: float | None,
    instrument: Instrument | None = None,
) -> np.ndarray:
    n = len(bars)
    arr = np.zeros(n, dtype=fields)
    arr["datetime"] = _date_ints(bars.dates).astype(np.int64) * 1_000_000
    arr["open"], arr["high"], arr["low"], arr["close"] = bars.open, bars.high, bars.low, bars.close
    arr["volume"] = bars.volume
    arr["total_turnover"] = bars.volume * bars.close  # only RQAlpha's vwap matching reads it
    if "limit_up" in (arr.dtype.names or ()) and instrument is not None:
        factor = bars.factor if bars.factor is not None else np.ones(n)
        down, up = price_limits(instrument, bars, price_limit)
        # RQAlpha skips the check where a limit is 0 (NaN: no limit that session)
        arr["limit_up"] = np.nan_to_num(up * factor, nan=0.0)
        arr["limit_down"] = np.nan_to_num(down * factor, nan=0.0)
    return arr


def _instrument_record(instrument: Instrument, config: EngineConfig) -> dict[str, object]:
    profile = config.profile
    kind = {InstrumentType.STOCK: "CS", InstrumentType.INDEX: "INDX", InstrumentType.ETF: "ETF"}[
        instrument.type
    ]
    record: dict[str, object] = {
        "order_book_id": instrument.order_book_id,
        "symbol": instrument.symbol,
        "abbrev_symbol": instrument.symbol,
        "type": kind,
        "exchange": instrument.exchange,
        # RQAlpha: a STAR share's lot is 1 and its minimum order this value (200)
        "round_lot": float(order_quantities(instrument, profile.use_lots)[0]),
        "listed_date": instrument.listed_date.isoformat(),
        "de_listed_date": "0000-00-00"
        if instrument.delisted_date is None
        else instrument.delisted_date.isoformat(),
        "market_tplus": profile.t_plus if instrument.type is not InstrumentType.INDEX else 0,
        "status": "Active",
        "special_type": "Normal",
        "board_type": str(instrument.board_type),
        "trading_hours": "09:31-11:30,13:01-15:00",
    }
    if kind == "ETF":
        record["fund_type"] = "ETF"
    return record


def _anchor_record(sessions: np.ndarray) -> dict[str, object]:
    return {
        "order_book_id": ANCHOR_INDEX,
        "symbol": "range anchor (placeholder)",
        "abbrev_symbol": "ANCHOR",
        "type": "INDX",
        "exchange": "XSHG",
        "round_lot": 1.0,
        "listed_date": _as_date(sessions[0]).isoformat() if len(sessions) else "1990-01-01",
        "de_listed_date": "0000-00-00",
        "market_tplus": 0,
    }


def _date_ints(dates: np.ndarray) -> np.ndarray:
    """``datetime64[D]`` -> ``YYYYMMDD`` integers."""
    d = np.asarray(dates).astype("datetime64[D]")
    years = d.astype("datetime64[Y]").astype(np.int64) + 1970
    months = d.astype("datetime64[M]").astype(np.int64) % 12 + 1
    days = (d - d.astype("datetime64[M]")).astype(np.int64) + 1
    out: np.ndarray = np.asarray(years * 10000 + months * 100 + days, dtype=np.int64)
    return out


def _as_date(value: Any) -> dt.date:
    return dt.date.fromisoformat(str(np.datetime64(value, "D")))
