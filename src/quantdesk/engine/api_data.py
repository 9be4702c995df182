"""RQAlpha's data functions: instruments, trading dates, prices and snapshots.

Re-implemented from RQAlpha 6.4's documented behaviour. Nothing looks ahead: before the
session's bar is known (``init``, ``before_trading``) the latest bar is the previous
session's; from ``handle_bar`` on it is today's.

* ``instruments(id | [ids])`` returns ``InstrumentView`` objects (RQAlpha's ``Instrument``
  fields: ``listed_date`` / ``de_listed_date`` as datetimes, ``round_lot``, ``board_type``,
  ``days_from_listed()``...), ``None`` (or no entry) for an unknown id.
* ``all_instruments(type=None, date=None)``: a DataFrame of the instruments listed on
  ``date`` (default and latest: today), optionally of RQAlpha types (``CS``, ``INDX``,
  ``ETF``).
* ``get_trading_dates(start, end)`` -> ``DatetimeIndex``; ``get_previous_trading_date`` /
  ``get_next_trading_date(date, n=1)`` -> ``datetime.date``.
* ``get_price(ids, start_date, end_date=None, fields=None, expect_df=False)``: daily bars in
  the run's adjustment; ``end_date`` defaults to the previous session and is capped at the
  latest known bar.
* ``current_snapshot(id)``: the latest known bar as RQAlpha's tick object (``last`` = close).
* ``is_st_stock`` / ``is_suspended(id, count=1)``: a bool, or the last ``count`` sessions'
  flags (oldest first).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from quantdesk.core.errors import InvalidArgument, NotFound
from quantdesk.core.instruments import BoardType, Instrument, InstrumentType
from quantdesk.engine.config import PRE_OPEN_PHASES

if TYPE_CHECKING:
    from quantdesk.engine.feeds import Feed
    from quantdesk.engine.session import StrategySession

#: Type names ``all_instruments`` also accepts for RQAlpha's codes.
TYPE_ALIASES = {"Stock": "CS", "stock": "CS", "Index": "INDX", "index": "INDX", "Fund": "ETF"}
#: RQAlpha's ``de_listed_date`` of an instrument still listed.
NOT_DELISTED = dt.datetime(2999, 12, 31)  # noqa: DTZ001 (naive, as RQAlpha's)


class InstrumentView:
    """One instrument with RQAlpha's ``Instrument`` fields (read-only)."""

    __slots__ = ("_engine", "instrument")

    def __init__(self, instrument: Instrument, engine: StrategySession) -> None:
        self.instrument = instrument
        self._engine = engine

    @property
    def order_book_id(self) -> str:
        """The id, e.g. ``000001.XSHE``."""
        return self.instrument.order_book_id

    @property
    def symbol(self) -> str:
        """Short name."""
        return self.instrument.symbol

    abbrev_symbol = symbol

    @property
    def name(self) -> str:
        """Full name."""
        return self.instrument.name

    @property
    def type(self) -> str:
        """RQAlpha's type code: ``CS``, ``INDX`` or ``ETF``."""
        return str(self.instrument.type)

    @property
    def exchange(self) -> str:
        """Exchange code (``XSHG``, ``XSHE``, ``XNYS``...)."""
        return self.instrument.exchange

    @property
    def board_type(self) -> str:
        """``MainBoard``, ``GEM``, ``KSH`` or ``BJS``."""
        return str(self.instrument.board_type)

    @property
    def round_lot(self) -> int:
        """Shares per lot (RQAlpha: 1 on the STAR market, whose minimum is 200)."""
        if self.instrument.board_type is BoardType.KSH:
            return 1
        return self.instrument.lot_size

    @property
    def listed_date(self) -> dt.datetime:
        """First trading day, as a datetime."""
        return dt.datetime.combine(self.instrument.listed_date, dt.time())

    @property
    def de_listed_date(self) -> dt.datetime:
        """Last trading day, as a datetime (2999-12-31 while listed)."""
        day = self.instrument.delisted_date
        return NOT_DELISTED if day is None else dt.datetime.combine(day, dt.time())

    @property
    def special_type(self) -> str:
        """``ST`` while under special treatment today, else ``Normal``."""
        return "ST" if self.instrument.is_st(self._engine.today) else "Normal"

    @property
    def status(self) -> str:
        """``Delisted`` after the delisting date, else ``Active``."""
        day = self.instrument.delisted_date
        return "Delisted" if day is not None and day < self._engine.today else "Active"

    @property
    def market_tplus(self) -> int:
        """Sessions before bought shares can be sold (1 for A-shares)."""
        return (
            0
            if self.instrument.type is InstrumentType.INDEX
            else self._engine.config.profile.t_plus
        )

    @property
    def account_type(self) -> str:
        """``STOCK``."""
        return "STOCK"

    def days_from_listed(self, date: dt.date | None = None) -> int:
        """Calendar days from listing to ``date`` (default today); -1 before listing."""
        day = as_date(date) if date is not None else self._engine.today
        days = (day - self.instrument.listed_date).days
        return days if days >= 0 else -1

    def days_to_expire(self, date: dt.date | None = None) -> int:  # noqa: ARG002 (RQAlpha API)
        """-1: stocks do not expire."""
        return -1

    def tick_size(self) -> float:
        """The price tick: 0.01 (0.001 for funds)."""
        return 0.001 if self.instrument.type is InstrumentType.ETF else 0.01

    def __eq__(self, other: object) -> bool:
        return isinstance(other, InstrumentView) and other.instrument == self.instrument

    def __hash__(self) -> int:
        return hash(self.instrument.order_book_id)

    def __repr__(self) -> str:
        i = self.instrument
        return (
            f"Instrument(order_book_id={i.order_book_id}, symbol={i.symbol}, type={self.type}, "
            f"round_lot={self.round_lot}, listed_date={i.listed_date}, "
            f"board_type={self.board_type})"
        )


class Snapshot:
    """``current_snapshot``: RQAlpha's tick object built from a daily bar."""

    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)

    def __repr__(self) -> str:
        return f"Snapshot({self.__dict__.get('order_book_id')} last={self.__dict__.get('last')})"


class DataFunctions:
    """The data functions of the strategy namespace (see the module)."""

    _engine: StrategySession

    if TYPE_CHECKING:  # provided by StrategyAPI, which mixes this class in

        def _oid(self, id_or_ins: Any) -> str: ...

    def instruments(self, id_or_symbols: str | Iterable[str]) -> Any:
        """``InstrumentView`` of one id, or a list for a list of ids (unknown ids skipped)."""
        if isinstance(id_or_symbols, str | InstrumentView):
            return self._view(id_or_symbols)
        views = [self._view(oid) for oid in id_or_symbols]
        return [v for v in views if v is not None]

    def _view(self, oid: Any) -> InstrumentView | None:
        if isinstance(oid, InstrumentView):
            return oid
        try:
            return InstrumentView(self._engine.reference(str(oid)), self._engine)
        except NotFound:
            return None

    def all_instruments(
        self, type: str | list[str] | None = None, date: Any = None
    ) -> pd.DataFrame:
        """Instruments listed on ``date`` (default today; never later) as a DataFrame.

        Columns: ``order_book_id, symbol, type, exchange, round_lot, listed_date,
        de_listed_date, board_type``. ``type`` filters by RQAlpha type code(s).
        """
        engine = self._engine
        day = min(as_date(date), engine.today) if date is not None else engine.today
        given = None if type is None else [type] if isinstance(type, str) else list(type)
        types = None if given is None else {TYPE_ALIASES.get(t, t) for t in given}
        rows = []
        for instrument in engine.listed_instruments():
            view = InstrumentView(instrument, engine)
            if types is not None and view.type not in types:
                continue
            delisted = instrument.delisted_date
            if instrument.listed_date > day or (delisted is not None and delisted < day):
                continue
            rows.append({
                "order_book_id": view.order_book_id, "symbol": view.symbol, "type": view.type,
                "exchange": view.exchange, "round_lot": view.round_lot,
                "listed_date": view.listed_date, "de_listed_date": view.de_listed_date,
                "board_type": view.board_type,
            })  # fmt: skip
        columns = ["order_book_id", "symbol", "type", "exchange", "round_lot", "listed_date",
                   "de_listed_date", "board_type"]  # fmt: skip
        return pd.DataFrame(rows, columns=columns)

    def get_trading_dates(self, start_date: Any, end_date: Any) -> pd.DatetimeIndex:
        """Sessions of the run's market in ``[start_date, end_date]``."""
        days = self._engine.calendar(as_date(start_date), as_date(end_date))
        return pd.DatetimeIndex(pd.to_datetime(days))

    def get_previous_trading_date(self, date: Any, n: int = 1) -> dt.date:
        """The ``n``-th session before ``date``."""
        day = as_date(date)
        n = _positive(n)
        days = self._engine.calendar(
            day - dt.timedelta(days=7 * n + 30), day - dt.timedelta(days=1)
        )
        if len(days) < n:
            raise InvalidArgument(f"no {n} sessions before {day} in the calendar")
        return days[-n]

    def get_next_trading_date(self, date: Any, n: int = 1) -> dt.date:
        """The ``n``-th session after ``date``."""
        day = as_date(date)
        n = _positive(n)
        days = self._engine.calendar(
            day + dt.timedelta(days=1), day + dt.timedelta(days=7 * n + 30)
        )
        if len(days) < n:
            raise InvalidArgument(f"no {n} sessions after {day} in the calendar")
        return days[n - 1]

    def get_price(
        self,
        order_book_ids: str | list[str],
        start_date: Any,
        end_date: Any = None,
        frequency: str = "1d",
        fields: str | list[str] | None = None,
        adjust_type: str = "pre",  # noqa: ARG002 (the run's adjustment applies)
        skip_suspended: bool = False,  # noqa: ARG002 (suspended sessions have no bar here)
        expect_df: bool = False,
        **_: Any,
    ) -> pd.DataFrame | pd.Series:
        """Daily bars of ``order_book_ids`` from ``start_date`` to ``end_date``.

        ``end_date`` defaults to the previous session (RQAlpha's default) and is capped at the
        latest known bar (today's from ``handle_bar`` on). ``expect_df=True`` (or several
        ids): a DataFrame indexed by ``(order_book_id, date)``; otherwise, for one id, indexed
        by date (a Series for one field).

        Raises:
            InvalidArgument: a frequency other than ``1d``, an unknown field.
        """
        if frequency != "1d":
            raise InvalidArgument(f"get_price supports frequency '1d' only, got {frequency!r}")
        ids = [order_book_ids] if isinstance(order_book_ids, str) else list(order_book_ids)
        names = ["open", "high", "low", "close", "volume", "total_turnover"]
        wanted = names if fields is None else [fields] if isinstance(fields, str) else list(fields)
        start = np.datetime64(as_date(start_date), "D")
        if end_date is None:
            end_date = self.get_previous_trading_date(self._engine.today)
        end = np.datetime64(as_date(end_date), "D")
        frames = []
        for oid in ids:
            feed = self._engine.feed(self._oid(oid))
            known = self._known(feed)
            dates = feed.series.dates[:known]
            keep = (dates >= start) & (dates <= end)
            data = {f: feed.history(known, known, f)[keep] for f in wanted}
            frame = pd.DataFrame(data, index=pd.DatetimeIndex(dates[keep], name="date"))
            frames.append(frame.assign(order_book_id=oid))
        combined = pd.concat(frames) if frames else pd.DataFrame(columns=wanted)
        if expect_df or len(ids) > 1:
            return combined.reset_index().set_index(["order_book_id", "date"])[wanted]
        single = combined.drop(columns="order_book_id")
        return single[wanted[0]] if isinstance(fields, str) else single

    def current_snapshot(self, id_or_symbol: str | Instrument) -> Snapshot | None:
        """The latest known bar as a tick object; ``None`` before the first bar."""
        feed = self._engine.feed(self._oid(id_or_symbol))
        k = self._known(feed)
        if k == 0:
            return None
        i = k - 1
        f = feed.factor_l[i] if feed.factor_l is not None else 1.0
        return Snapshot(
            order_book_id=feed.instrument.order_book_id,
            datetime=dt.datetime.combine(
                feed.series.dates[i].astype("datetime64[D]").item(),
                self._engine.config.profile.close_time,
            ),
            open=feed.open_l[i], high=feed.high_l[i], low=feed.low_l[i], last=feed.close_l[i],
            close=feed.close_l[i], volume=feed.volume_l[i],
            total_turnover=feed.volume_l[i] * feed.close_l[i],
            prev_close=feed.close_l[i - 1] if i > 0 else math.nan,
            limit_up=feed.limit_up_l[i] * f, limit_down=feed.limit_down_l[i] * f,
        )  # fmt: skip

    def is_st_stock(self, order_book_id: str | Instrument, count: int = 1) -> bool | list[bool]:
        """Whether the stock is ST today, or the flags of the last ``count`` sessions."""
        instrument = self._engine.feed(self._oid(order_book_id)).instrument
        days = self._last_sessions(_positive(count))
        flags = [instrument.is_st(d) for d in days]
        return flags[-1] if count == 1 else flags

    def is_suspended(self, order_book_id: str | Instrument, count: int = 1) -> bool | list[bool]:
        """True when it has no bar today; or the flags of the last ``count`` sessions."""
        feed = self._engine.feed(self._oid(order_book_id))
        days = np.array(self._last_sessions(_positive(count)), dtype="datetime64[D]")
        flags: list[bool] = [bool(x) for x in ~np.isin(days, feed.series.dates)]
        return flags[-1] if count == 1 else flags

    def _known(self, feed: Feed) -> int:
        """Bars of ``feed`` known now (today's from ``handle_bar`` on)."""
        engine = self._engine
        t = engine.t
        known = feed.known[t]
        if engine.phase in PRE_OPEN_PHASES and feed.has_bar[t]:
            known -= 1
        return known

    def _last_sessions(self, count: int) -> list[dt.date]:
        engine = self._engine
        days = engine.calendar(engine.today - dt.timedelta(days=7 * count + 30), engine.today)
        return days[-count:]


def as_date(value: Any) -> dt.date:
    """A date from a date, datetime, ``pd.Timestamp``, ``YYYY-MM-DD`` or ``YYYYMMDD``.

    Raises:
        InvalidArgument: anything else.
    """
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str | np.datetime64):
        try:
            return pd.Timestamp(value).date()
        except (ValueError, TypeError):
            pass
    raise InvalidArgument(f"expected a date (YYYY-MM-DD), got {value!r}")


def _positive(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise InvalidArgument(f"expected a positive integer, got {n!r}")
    return int(n)
