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


class Market(StrEnum):
    """The market an instrument trades in; it picks the calendar and the default profile."""

    US = "us"
    CN = "cn"


#: Trading calendar (ISO 10383 MIC, as named by ``exchange_calendars``) of each market.
MARKET_CALENDAR: dict[Market, str] = {Market.US: "XNYS", Market.CN: "XSHG"}


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

    @property
    def calendar(self) -> str:
        """The trading calendar name (``XNYS`` / ``XSHG``)."""
        return MARKET_CALENDAR[self.market]
