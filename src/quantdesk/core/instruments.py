"""Instrument reference data shared by the catalog and the engine."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum


class InstrumentType(StrEnum):
    """RQAlpha's instrument type codes."""

    STOCK = "CS"
    INDEX = "INDX"
    ETF = "ETF"


class BoardType(StrEnum):
    """The board a China A-share trades on (RQAlpha's ``board_type`` codes).

    It sets the daily price limit and the IPO sessions without limits
    (``quantdesk.engine.limits``); other markets use ``MainBoard``.
    """

    MAIN = "MainBoard"
    #: ChiNext (创业板, Shenzhen).
    GEM = "GEM"
    #: STAR Market (科创板, Shanghai).
    KSH = "KSH"
    #: Beijing Stock Exchange (北交所).
    BJS = "BJS"


#: An ST (special treatment) period: first and last day, ``None`` while it lasts.
StPeriod = tuple[dt.date, dt.date | None]


class Market(StrEnum):
    """The market an instrument trades in; it picks the calendar and the default profile."""

    US = "us"
    CN = "cn"


#: Trading calendar (ISO 10383 MIC, as named by ``exchange_calendars``) of each market.
MARKET_CALENDAR: dict[Market, str] = {Market.US: "XNYS", Market.CN: "XSHG"}
#: The IANA time zone of each market's exchanges (a market's "today").
MARKET_ZONE: dict[Market, str] = {Market.US: "America/New_York", Market.CN: "Asia/Shanghai"}


@dataclass(frozen=True, slots=True)
class Instrument:
    """One row of the instruments table.

    Attributes:
        order_book_id: Unique id, e.g. ``"AAPL"`` or ``"000300.XSHG"``.
        symbol: Short ticker / code shown to users.
        name: Full name.
        market: Market (``us`` or ``cn``).
        type: ``CS`` (common stock), ``INDX`` (index) or ``ETF``.
        exchange: Listing exchange MIC, e.g. ``XNAS``, ``XNYS``, ``XSHG``.
        lot_size: Round lot in shares (100 for A-shares, 1 for US stocks and indices).
        listed_date: First trading day.
        delisted_date: Last trading day, ``None`` while listed.
        currency: ISO 4217 code.
        board_type: Board (A-shares: ``MainBoard``, ``GEM``, ``KSH``, ``BJS``).
        st_periods: Periods under special treatment (ST / *ST), sorted, non-overlapping.
    """

    order_book_id: str
    symbol: str
    name: str
    market: Market
    type: InstrumentType
    exchange: str
    lot_size: int
    listed_date: dt.date
    delisted_date: dt.date | None
    currency: str
    board_type: BoardType = BoardType.MAIN
    st_periods: tuple[StPeriod, ...] = ()

    @property
    def calendar(self) -> str:
        """The trading calendar name (``XNYS`` / ``XSHG``)."""
        return MARKET_CALENDAR[self.market]

    def is_st(self, day: dt.date) -> bool:
        """True when ``day`` falls in one of the instrument's ST periods."""
        return any(start <= day and (end is None or day <= end) for start, end in self.st_periods)
