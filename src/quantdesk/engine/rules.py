"""China A-share board rules: daily price limits and order quantities, from instrument data.

Re-implemented from the exchanges' public rules (SSE/SZSE/BSE trading rules and the CSRC
registration-reform announcements):

=============  =======================  ==========================  ==========================
board          daily limit              ST / *ST                    sessions without limits
=============  =======================  ==========================  ==========================
MainBoard      10%                      5%                          first 5 from 2023-04-10
                                                                    (main-board reform), else 1
GEM (ChiNext)  20% from 2020-08-24,     20% from 2020-08-24,        first 5 if listed from
               10% before               5% before                   2020-08-24, else 1
KSH (STAR)     20%                      20%                         first 5
BJS (BSE)      30%                      30%                         first 1
=============  =======================  ==========================  ==========================

ETFs and funds have the main board's 10%; indices have none. "Sessions without limits" count
the instrument's own bars from its listing date (the first bar has no previous close either),
when the data starts at the listing.
Limits are ``prev_close * (1 ± rate)`` rounded half-up to the 0.01 tick (``costs.limit_prices``)
on prices as traded; ``limit_up``/``limit_down`` columns in the data take precedence wherever
they hold a value.

Order quantities (RQAlpha's ``min_order_quantity`` / ``order_step_size``): STAR buys at least
200 shares in steps of 1, BSE at least 100 in steps of 1, other boards in whole lots.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import numpy.typing as npt

from quantdesk.core.instruments import BoardType, Instrument, InstrumentType
from quantdesk.engine.ports import BarSeries

#: ChiNext's registration reform: 20% limits, 5 unlimited IPO sessions.
GEM_REFORM = dt.date(2020, 8, 24)
#: The main boards' registration reform: 5 unlimited IPO sessions.
MAIN_BOARD_REFORM = dt.date(2023, 4, 10)
#: Data whose first bar is this close to the listing date starts with the IPO sessions;
#: later data (history imported from a later date) has none of them.
IPO_DATA_SLACK = np.timedelta64(14, "D")


def ipo_free_sessions(instrument: Instrument) -> int:
    """How many of the instrument's first sessions trade without a daily limit."""
    board, listed = instrument.board_type, instrument.listed_date
    if board is BoardType.KSH:
        return 5
    if board is BoardType.GEM:
        return 5 if listed >= GEM_REFORM else 1
    if board is BoardType.BJS:
        return 1
    return 5 if listed >= MAIN_BOARD_REFORM else 1


def price_limits(
    instrument: Instrument, series: BarSeries, base_rate: float | None
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per bar of ``series``: ``(limit_down, limit_up)`` in traded prices, NaN without a limit.

    Args:
        instrument: Reference data (type, board, listing date, ST periods).
        series: The bars; ``factor`` converts adjusted to traded prices, and its
            ``limit_up``/``limit_down`` columns (traded prices) win where present.
        base_rate: The profile's main-board rate; ``None`` turns every limit off.

    Returns:
        Two float arrays of shape ``(len(series),)``.
    """
    n = len(series)
    down = np.full(n, np.nan)
    up = np.full(n, np.nan)
    if base_rate is None or n == 0 or instrument.type is InstrumentType.INDEX:
        return down, up
    factor = series.factor if series.factor is not None else np.ones(n)
    traded_close = series.close / factor
    dates = series.dates.astype("datetime64[D]")
    rates = _limit_rates(instrument, dates, base_rate)
    prev = traded_close[:-1]
    # costs.limit_prices, vectorized: half-up to the 0.01 tick (floor == int for prices > 0)
    up[1:] = np.floor(prev * (1 + rates[1:]) * 100 + 0.5 + 1e-7) / 100
    down[1:] = np.floor(prev * (1 - rates[1:]) * 100 + 0.5 + 1e-7) / 100
    listed = np.datetime64(instrument.listed_date, "D")
    first_limited = int(np.searchsorted(dates, listed))
    if first_limited < n and dates[first_limited] - listed <= IPO_DATA_SLACK:
        # the data starts at the listing: its first sessions trade without limits
        first_limited += ipo_free_sessions(instrument)
    up[:first_limited] = np.nan
    down[:first_limited] = np.nan
    for given, out in ((series.limit_down, down), (series.limit_up, up)):
        if given is not None:
            has = ~np.isnan(given)
            out[has] = given[has]
    return down, up


def _limit_rates(
    instrument: Instrument, dates: npt.NDArray[np.datetime64], base_rate: float
) -> npt.NDArray[np.float64]:
    """``limit_rate`` for every date of ``dates`` (vectorized; instrument is not an index)."""
    board = instrument.board_type
    if board is BoardType.KSH:
        return np.full(len(dates), 0.20)
    if board is BoardType.BJS:
        return np.full(len(dates), 0.30)
    rates = np.full(len(dates), base_rate)
    reformed = np.zeros(len(dates), dtype=bool)
    if board is BoardType.GEM:
        reformed = dates >= np.datetime64(GEM_REFORM, "D")
        rates[reformed] = 0.20
    if instrument.type is InstrumentType.STOCK:
        for start, end in instrument.st_periods:
            st = dates >= np.datetime64(start, "D")
            if end is not None:
                st &= dates <= np.datetime64(end, "D")
            rates[st & ~reformed] = 0.05
    return rates


def order_quantities(instrument: Instrument, use_lots: bool) -> tuple[int, int]:
    """``(minimum, step)`` in shares of a buy order of ``instrument``.

    ``use_lots`` False (T+0 markets without lots) is ``(1, 1)``.
    """
    if not use_lots:
        return 1, 1
    if instrument.type is InstrumentType.STOCK:
        if instrument.board_type is BoardType.KSH:
            return 200, 1
        if instrument.board_type is BoardType.BJS:
            return 100, 1
    return instrument.lot_size, instrument.lot_size
