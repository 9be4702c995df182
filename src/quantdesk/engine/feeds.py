"""Per-instrument bar feeds aligned to the run's sessions, and the ``bar_dict`` view."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Mapping
from functools import cached_property
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from quantdesk.core.errors import InvalidArgument
from quantdesk.core.instruments import Instrument
from quantdesk.engine.ports import BarSeries
from quantdesk.engine.rules import price_limits

#: ``history_bars`` fields (the default structured array has the first six).
FIELDS = ("datetime", "open", "high", "low", "close", "volume")
#: Further ``history_bars`` fields, derived per bar: turnover (``volume * close``: the data
#: has no traded value), the session's price limits (NaN without) and the previous close.
EXTRA_FIELDS = ("total_turnover", "limit_up", "limit_down", "prev_close")


class Feed:
    """Bars of one instrument plus, for each run session ``t``, how many bars are known.

    ``known[t]`` = number of the instrument's bars dated on or before session ``t``; the bar
    of session ``t`` exists iff ``has_bar[t]``. Arrays are read-only so a strategy cannot
    corrupt them through ``history_bars``.

    Scalar reads (``known``, ``has_bar``, ``close_l`` ...) go through memoryviews of the
    numpy arrays (and ``bytes``): about as fast to index as lists, no copy, and invisible to
    the cyclic garbage collector (a list of a million floats is rescanned at every full
    collection).
    """

    def __init__(
        self,
        instrument: Instrument,
        series: BarSeries,
        sessions: np.ndarray,
        limit_rate: float | None = None,
    ) -> None:
        self.instrument = instrument
        self._limit_rate = limit_rate
        self.series = series
        known = np.searchsorted(series.dates, sessions, side="right").astype(np.int64)
        if len(series):
            at = np.maximum(known - 1, 0)  # known <= len(series), so at < len(series)
            has = (known > 0) & (series.dates[at] == sessions)
        else:
            has = known > 0
        known.setflags(write=False)
        has.setflags(write=False)
        #: ``known`` and ``has_bar`` as numpy arrays (vectorized readers, e.g. indicators).
        self.known_np: npt.NDArray[np.int64] = known
        self.has_bar_np: npt.NDArray[np.bool_] = has
        self.known: memoryview[int] = _view(known)
        self.has_bar: bytes = has.astype(np.uint8).tobytes()  # has_bar[t] is 0 or 1
        for arr in (series.open, series.high, series.low, series.close, series.volume):
            arr.setflags(write=False)
        self._struct: npt.NDArray[Any] | None = None
        self._columns: dict[str, npt.NDArray[np.float64]] = {
            "open": series.open,
            "high": series.high,
            "low": series.low,
            "close": series.close,
            "volume": series.volume,
        }

    @cached_property
    def open_l(self) -> memoryview[float]:
        """Opens as an ``array.array`` (fast scalar reads)."""
        return _view(self.series.open)

    @cached_property
    def high_l(self) -> memoryview[float]:
        """Highs as an ``array.array``."""
        return _view(self.series.high)

    @cached_property
    def low_l(self) -> memoryview[float]:
        """Lows as an ``array.array``."""
        return _view(self.series.low)

    @cached_property
    def close_l(self) -> memoryview[float]:
        """Closes as an ``array.array``."""
        return _view(self.series.close)

    @cached_property
    def volume_l(self) -> memoryview[float]:
        """Volumes as an ``array.array``."""
        return _view(self.series.volume)

    @cached_property
    def session_close(self) -> memoryview[float]:
        """Per run session: the close of that session's bar, NaN without one (marking)."""
        closes = np.full(len(self.known_np), np.nan)
        has = self.has_bar_np
        closes[has] = self.series.close[self.known_np[has] - 1]
        return _view(closes)

    @cached_property
    def factor_l(self) -> memoryview[float] | None:
        """Adjustment factors as an ``array.array``, ``None`` for prices as traded."""
        factor = self.series.factor
        return None if factor is None else _view(factor)

    @cached_property
    def _limits(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        return price_limits(self.instrument, self.series, self._limit_rate)

    @cached_property
    def limit_down_l(self) -> memoryview[float]:
        """Per bar: the limit-down price as traded, NaN without a limit (``rules``)."""
        return _view(self._limits[0])

    @cached_property
    def limit_up_l(self) -> memoryview[float]:
        """Per bar: the limit-up price as traded, NaN without a limit (``rules``)."""
        return _view(self._limits[1])

    def column(self, name: str) -> npt.NDArray[np.float64]:
        """The full read-only array of price/volume field ``name`` (all bars of the feed).

        Raises:
            InvalidArgument: ``name`` is not one of open, high, low, close, volume.
        """
        column = self._columns.get(name)
        if column is None:
            raise InvalidArgument(
                f"unknown bar field {name!r}; fields: open, high, low, close, volume"
            )
        return column

    def last_close(self, t: int) -> float | None:
        """Close of the latest bar on or before session ``t`` (``None`` before the first)."""
        k = self.known[t]
        return self.close_l[k - 1] if k else None

    def prev_close(self, t: int) -> float | None:
        """Close of the bar before session ``t``'s bar (``None`` if there is none)."""
        k = self.known[t] - (1 if self.has_bar[t] else 0)
        return self.close_l[k - 1] if k > 0 else None

    def history(self, end: int, count: int, fields: str | list[str]) -> npt.NDArray[Any]:
        """The last ``count`` bars among the first ``end`` bars, for ``fields``."""
        start = end - count if end > count else 0
        if type(fields) is str:
            column = self._columns.get(fields)
            if column is not None:
                return column[start:end]
            return self._column(fields)[start:end]
        names = list(fields)
        if any(name not in FIELDS for name in names):
            return self._records(names)[start:end]
        return self._structured()[names][start:end]

    def _records(self, names: list[str]) -> npt.NDArray[Any]:
        """A structured array of any ``FIELDS`` / ``EXTRA_FIELDS`` (built per call)."""
        dtype = [(n, "i8" if n == "datetime" else "f8") for n in names]
        out = np.empty(len(self.series), dtype=dtype)
        for name in names:
            out[name] = self._column(name)
        return out

    def weekly(self, end: int, count: int, fields: str | list[str]) -> npt.NDArray[Any]:
        """The last ``count`` weekly bars built from the first ``end`` daily bars.

        A week is a calendar week (Monday to Sunday); the current week is included as far as
        it is known. open: first; high: max; low: min; close, limit and prev_close fields:
        last (prev_close: the first day's); volume, total_turnover: sums; datetime: the last
        day's.
        """
        names = [fields] if isinstance(fields, str) else list(fields)
        dates = self.series.dates[:end].astype("datetime64[D]")
        # Monday of each bar's week: 1970-01-01 was a Thursday
        week = (dates.astype(np.int64) + 3) // 7
        starts = np.flatnonzero(np.r_[True, week[1:] != week[:-1]]) if end else np.array([], int)
        starts = starts[-count:] if count < len(starts) else starts
        stops = np.r_[starts[1:], end].astype(np.int64)
        out = np.empty(len(starts), dtype=[(n, "i8" if n == "datetime" else "f8") for n in names])
        for name in names:
            column = self._column(name)[:end]
            if name in ("open", "prev_close"):
                values = column[starts]
            elif name == "high":
                values = np.array([column[a:b].max() for a, b in zip(starts, stops, strict=True)])
            elif name == "low":
                values = np.array([column[a:b].min() for a, b in zip(starts, stops, strict=True)])
            elif name in ("volume", "total_turnover"):
                values = np.add.reduceat(column, starts) if len(starts) else column[:0]
            else:  # close, datetime, limits: the week's last bar
                values = column[stops - 1]
            out[name] = values
        return out[names[0]] if isinstance(fields, str) else out

    def _column(self, name: str) -> npt.NDArray[Any]:
        s = self.series
        if name == "close":
            return s.close
        if name == "open":
            return s.open
        if name == "high":
            return s.high
        if name == "low":
            return s.low
        if name == "volume":
            return s.volume
        if name == "datetime":
            return self._structured()["datetime"]
        if name in EXTRA_FIELDS:
            return self._extra[name]
        known = ", ".join(FIELDS + EXTRA_FIELDS)
        raise InvalidArgument(f"unknown history_bars field {name!r}; fields: {known}")

    @cached_property
    def _extra(self) -> dict[str, npt.NDArray[np.float64]]:
        s = self.series
        factor = s.factor if s.factor is not None else 1.0
        down, up = self._limits
        prev = np.concatenate(([np.nan], s.close[:-1]))
        out = {
            "total_turnover": s.volume * s.close,
            "limit_up": up * factor,
            "limit_down": down * factor,
            "prev_close": prev,
        }
        for arr in out.values():
            arr.setflags(write=False)
        return out

    def _structured(self) -> npt.NDArray[Any]:
        if self._struct is None:
            s = self.series
            out = np.empty(
                len(s),
                dtype=[(f, "i8" if f == "datetime" else "f8") for f in FIELDS],
            )
            # RQAlpha encodes bar datetimes as YYYYMMDDHHMMSS integers.
            days = s.dates.astype("datetime64[D]")
            months = days.astype("datetime64[M]")
            year = months.astype(np.int64) // 12 + 1970
            month = months.astype(np.int64) % 12 + 1
            day = (days - months).astype(np.int64) + 1
            ymd = year * 10_000 + month * 100 + day
            out["datetime"] = ymd * 1_000_000
            for f in FIELDS[1:]:
                out[f] = getattr(s, f)
            out.setflags(write=False)
            self._struct = out
        return self._struct


def _view(values: npt.NDArray[Any]) -> memoryview[Any]:
    """A read-only memoryview of ``values`` (indexing yields Python floats/ints, no copy)."""
    out = np.ascontiguousarray(values)
    out.setflags(write=False)
    return out.data  # the array's own memoryview


class Bar:
    """One instrument's bar at the current session (``bar_dict[id]``).

    Prices are NaN and ``is_trading`` is False when the instrument has no bar that day
    (suspended, not yet listed or delisted).
    """

    __slots__ = (
        "_feed",
        "_k",
        "close",
        "datetime",
        "high",
        "is_trading",
        "low",
        "open",
        "order_book_id",
        "prev_close",
        "volume",
    )

    def __init__(self, feed: Feed, t: int, when: dt.datetime) -> None:
        self._feed = feed
        self._k = feed.known[t] - 1  # the latest bar on or before session t (-1: none)
        self.order_book_id = feed.instrument.order_book_id
        self.datetime = when
        self.prev_close = feed.prev_close(t) or math.nan
        if feed.has_bar[t]:
            k = feed.known[t] - 1
            self.open = feed.open_l[k]
            self.high = feed.high_l[k]
            self.low = feed.low_l[k]
            self.close = feed.close_l[k]
            self.volume = feed.volume_l[k]
            self.is_trading = True
        else:
            self.open = self.high = self.low = self.close = math.nan
            self.volume = 0.0
            self.is_trading = False

    @property
    def last(self) -> float:
        """Alias of ``close`` (RQAlpha)."""
        return self.close

    @property
    def suspended(self) -> bool:
        """True when the instrument did not trade this session."""
        return not self.is_trading

    @property
    def symbol(self) -> str:
        """The instrument's short name."""
        return self._feed.instrument.symbol

    @property
    def limit_up(self) -> float:
        """Today's limit-up price (the feed's prices), NaN without a limit or a bar."""
        return self._extra("limit_up")

    @property
    def limit_down(self) -> float:
        """Today's limit-down price, NaN without a limit or a bar."""
        return self._extra("limit_down")

    @property
    def total_turnover(self) -> float:
        """Traded value, ``volume * close`` (0 without a bar)."""
        return self._extra("total_turnover") if self.is_trading else 0.0

    def mavg(self, intervals: int, frequency: str = "1d") -> float:
        """Mean close of the last ``intervals`` bars up to this one.

        Raises:
            InvalidArgument: a frequency other than ``1d`` or a non-positive count.
        """
        if frequency != "1d" or isinstance(intervals, bool) or not isinstance(intervals, int):
            raise InvalidArgument("mavg(intervals, '1d'): daily bars and an int count only")
        if intervals < 1:
            raise InvalidArgument(f"mavg: intervals must be >= 1, got {intervals}")
        closes = self._feed.series.close[max(0, self._k + 1 - intervals) : self._k + 1]
        return float(closes.mean()) if len(closes) else math.nan

    def _extra(self, name: str) -> float:
        return float(self._feed._extra[name][self._k]) if self.is_trading else math.nan

    def __repr__(self) -> str:
        return (
            f"Bar({self.order_book_id} {self.datetime:%Y-%m-%d} o={self.open} h={self.high} "
            f"l={self.low} c={self.close} v={self.volume})"
        )


class FeedSession(Protocol):
    """What ``BarMap`` reads of the running engine (the session clock and its feeds)."""

    t: int
    now: dt.datetime
    universe: list[str]

    def feed(self, order_book_id: str) -> Feed:
        """The bar feed of ``order_book_id``, loaded on first use.

        Raises:
            NotFound: unknown instrument.
            InvalidArgument: the instrument trades in another market than the run's.
        """
        ...


class BarMap(Mapping[str, Bar]):
    """``bar_dict``: the current session's bars, keyed by ``order_book_id``.

    Iterates over the universe; ``bar_dict[id]`` also works for any other known instrument.
    """

    def __init__(self, engine: FeedSession) -> None:
        self._engine = engine
        self._cache: dict[str, Bar] = {}

    def reset(self) -> None:
        """Forget the previous session's bars."""
        self._cache.clear()

    def __getitem__(self, order_book_id: str) -> Bar:
        bar = self._cache.get(order_book_id)
        if bar is None:
            engine = self._engine
            bar = Bar(engine.feed(order_book_id), engine.t, engine.now)
            self._cache[order_book_id] = bar
        return bar

    def __iter__(self) -> Iterator[str]:
        return iter(self._engine.universe)

    def __len__(self) -> int:
        return len(self._engine.universe)

    def __contains__(self, order_book_id: object) -> bool:
        return order_book_id in self._engine.universe
