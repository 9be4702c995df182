"""Where market data comes from: the bundled demo, uploaded files, and library adapters.

Each adapter wraps a library users already use (each an optional extra:
``pip install 'quantdesk[akshare]'``...) and turns its documented response into the
catalog's columns (``date, open, high, low, close, volume`` [+ ``adj_close``]) and reference
data; the import rules (``validation``) then apply as to any file. The library is imported
when an update runs, or passed in (``client=``): tests give adapters recorded responses and
never touch the network; a user with internet gets real data.

Sources and what they provide (``SourceInfo.provides``):

* ``akshare`` (A-shares, ``ak.stock_zh_a_hist``: Eastmoney daily bars in CNY, volume in lots
  of 100 shares; ``ak.stock_info_a_code_name``: names; the current composition of any CSI
  index, ``index_sources``);
* ``baostock`` (A-shares, ``bs.query_history_k_data_plus``: daily bars with ``tradestatus``
  (suspended days are left out, so they show as sessions without a bar) and ``isST`` (ST
  periods); ``bs.query_stock_basic``: names, listing and delisting dates; CSI 300, SSE 50
  and CSI 500 membership over time, ``index_sources``);
* ``yfinance`` (US and others, ``yf.Ticker(...).history(auto_adjust=False)``: daily bars with
  ``Adj Close``, whence the split/dividend adjustment factor).
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from quantdesk.core.errors import InvalidArgument, QuantdeskError
from quantdesk.core.instruments import Market
from quantdesk.data.ids import LIBRARY_TAGS, is_cn_index, split_cn_id

#: Capabilities a source may declare.
CAPABILITIES = (
    "daily_bars", "adjustment_factors", "instruments", "listing_dates", "suspensions",
    "st_status", "limit_prices", "index_constituents", "files",
)  # fmt: skip


class SourceError(QuantdeskError):
    """A data source failed (network, rate limit, changed schema): the update fails with it."""

    code = "SOURCE_ERROR"


@dataclass(frozen=True)
class SourceInfo:
    """What ``GET /api/data/sources`` says of a source.

    Attributes:
        name: The source's id in the API (``POST /api/data/sources/{name}/update``).
        title: What it is.
        markets: Markets it covers (``us``, ``cn``).
        provides: Its ``CAPABILITIES``.
        package: The library it needs (``None``: built in).
        extra: The quantdesk extra that installs it.
        updatable: Whether ``update`` runs on it (files are uploaded instead).
        indexes: The indexes whose membership it gives (``index_ids`` of an update);
            ``("*",)``: any index of its market (the source says which it has).
    """

    name: str
    title: str
    markets: tuple[str, ...]
    provides: tuple[str, ...]
    package: str | None = None
    extra: str | None = None
    updatable: bool = True
    indexes: tuple[str, ...] = ()

    @property
    def available(self) -> bool:
        """True when its library is installed (always for built-in sources)."""
        if self.package is None:
            return True
        try:
            return importlib.util.find_spec(self.package) is not None
        except ValueError:  # imported already, without a spec (a stand-in module)
            return self.package in sys.modules


@dataclass
class Fetched:
    """One instrument as a source gave it: bars in the catalog's columns and reference data.

    ``reference`` may hold ``name``, ``listed_date``, ``delisted_date``, ``type``
    (``CS``/``INDX``) and ``st_periods`` (``((start, end | None), ...)``).
    """

    order_book_id: str
    bars: pd.DataFrame
    reference: dict[str, Any] = field(default_factory=dict)


class Adapter(Protocol):
    """A library adapter: ``fetch`` one instrument's daily bars in ``[start, end]``."""

    info: SourceInfo

    def fetch(self, order_book_id: str, start: dt.date, end: dt.date) -> Fetched:
        """Raises ``SourceError`` (the library's message) or ``InvalidArgument`` (a bad id)."""
        ...


def load(package: str, client: Any) -> Any:
    """``client`` if given (a recorded stand-in), else the library ``package``.

    Raises:
        SourceError: the library is not installed (the message says which extra).
    """
    if client is not None:
        return client
    try:
        return importlib.import_module(package)
    except ImportError:
        raise SourceError(
            f"{package} is not installed: pip install 'quantdesk[{package}]' (or uv sync "
            f"--extra {package}) on the workers"
        ) from None


def columns(frame: pd.DataFrame, names: dict[str, str], source: str) -> pd.DataFrame:
    """``frame``'s columns ``names`` (theirs -> ours); a missing one is a changed schema."""
    missing = [theirs for theirs in names if theirs not in frame.columns]
    if missing:
        raise SourceError(
            f"{source} answered without the column(s) {', '.join(missing)} (it has "
            f"{', '.join(map(str, frame.columns))}): the library's response changed"
        )
    return frame[list(names)].rename(columns=names)


def call(source: str, what: str, fn: Callable[[], Any]) -> Any:
    """Run a library call, its failures (network, rate limit...) as ``SourceError``."""
    try:
        return fn()
    except QuantdeskError:
        raise
    except Exception as exc:  # the libraries raise anything: requests, JSON, KeyError...
        raise SourceError(f"{source} {what} failed: {type(exc).__name__}: {exc}") from None


class AkshareSource:
    """A-share daily bars from akshare (Eastmoney); see the module docstring."""

    info = SourceInfo(
        "akshare", "A-shares through akshare (Eastmoney daily bars)", ("cn",),
        ("daily_bars", "instruments", "suspensions", "index_constituents"), package="akshare",
        extra="akshare", indexes=("*",),
    )  # fmt: skip

    def __init__(self, client: Any = None) -> None:
        self._client = client

    def fetch(self, order_book_id: str, start: dt.date, end: dt.date) -> Fetched:
        """Unadjusted daily bars of an A-share (``adjust=""``); volume from lots to shares.

        An index id (``ids.is_cn_index``: ``000300.XSHG``, ``399006.XSHE``) is read with
        ``ak.index_zh_a_hist``: ``stock_zh_a_hist`` would take its code for a stock's.
        """
        code, _ = split_cn_id(order_book_id)
        ak = load("akshare", self._client)
        index = is_cn_index(order_book_id)
        query = "index_zh_a_hist" if index else "stock_zh_a_hist"
        window = {"start_date": start.strftime("%Y%m%d"), "end_date": end.strftime("%Y%m%d")}
        raw = call("akshare", f"{query}({code})", lambda: (
            ak.index_zh_a_hist(symbol=code, period="daily", **window) if index
            else ak.stock_zh_a_hist(symbol=code, period="daily", adjust="", **window)
        ))  # fmt: skip
        if not isinstance(raw, pd.DataFrame):
            raise SourceError(f"akshare answered {type(raw).__name__}, not a table")
        bars = columns(raw, {"日期": "date", "开盘": "open", "最高": "high", "最低": "low",
                              "收盘": "close", "成交量": "volume"}, "akshare")  # fmt: skip
        bars = bars.assign(volume=pd.to_numeric(bars["volume"], errors="coerce") * 100)
        if index:
            return Fetched(order_book_id, bars, {"type": "INDX"})
        reference: dict[str, Any] = {}
        names = call("akshare", "stock_info_a_code_name()", ak.stock_info_a_code_name)
        if isinstance(names, pd.DataFrame) and {"code", "name"} <= set(names.columns):
            hit = names[names["code"].astype(str) == code]
            if len(hit):
                reference["name"] = str(hit["name"].iloc[0])
        return Fetched(order_book_id, bars, reference)


class BaostockSource:
    """A-share daily bars, suspensions, ST periods and listing dates from baostock."""

    info = SourceInfo(
        "baostock", "A-shares through baostock (daily bars, ST and suspension flags)", ("cn",),
        ("daily_bars", "instruments", "listing_dates", "suspensions", "st_status",
         "index_constituents"),
        package="baostock", extra="baostock", indexes=("000300.XSHG", "000016.XSHG", "000905.XSHG"),
    )  # fmt: skip
    FIELDS = "date,code,open,high,low,close,volume,tradestatus,isST"
    #: An index's k-data has no trading status or ST flag (baostock's field list for indices).
    INDEX_FIELDS = "date,code,open,high,low,close,volume"

    def __init__(self, client: Any = None) -> None:
        self._client = client

    @staticmethod
    def _rows(result: Any, what: str) -> pd.DataFrame:
        if getattr(result, "error_code", "0") != "0":
            raise SourceError(f"baostock {what} failed: {getattr(result, 'error_msg', '')}")
        frame = result.get_data()
        if not isinstance(frame, pd.DataFrame):
            raise SourceError(f"baostock {what} answered {type(frame).__name__}, not a table")
        return frame

    def fetch(self, order_book_id: str, start: dt.date, end: dt.date) -> Fetched:
        """Unadjusted daily bars (``adjustflag=3``); suspended days dropped; ST periods.

        An index id (``ids.is_cn_index``) is asked for the index fields only.
        """
        code, suffix = split_cn_id(order_book_id)
        index = is_cn_index(order_book_id)
        fields = self.INDEX_FIELDS if index else self.FIELDS
        bs = load("baostock", self._client)
        symbol = f"{LIBRARY_TAGS[suffix]}.{code}"
        login = call("baostock", "login", bs.login)
        if getattr(login, "error_code", "0") != "0":
            raise SourceError(f"baostock login failed: {getattr(login, 'error_msg', '')}")
        try:
            raw = self._rows(call("baostock", "query_history_k_data_plus", lambda: (
                bs.query_history_k_data_plus(
                    symbol, fields, start_date=start.isoformat(), end_date=end.isoformat(),
                    frequency="d", adjustflag="3",
                )
            )), f"query_history_k_data_plus({symbol})")  # fmt: skip
            basic = self._rows(
                call("baostock", "query_stock_basic", lambda: bs.query_stock_basic(code=symbol)),
                f"query_stock_basic({symbol})",
            )
        finally:
            call("baostock", "logout", bs.logout)
        names = {"date": "date", "open": "open", "high": "high", "low": "low", "close": "close",
                 "volume": "volume"}  # fmt: skip
        if index:
            frame = columns(raw, names, "baostock")
            trading = pd.Series(True, index=frame.index)
            reference: dict[str, Any] = {"type": "INDX"}
        else:
            frame = columns(raw, {**names, "tradestatus": "trading", "isST": "st"}, "baostock")
            trading = frame["trading"].astype(str) == "1"
            reference = {"st_periods": _periods(frame["date"], frame["st"])}
        if len(basic) and {"code_name", "ipoDate", "outDate"} <= set(basic.columns):
            row = basic.iloc[0]
            reference["name"] = str(row["code_name"])
            reference["listed_date"] = _date_or_none(row["ipoDate"])
            reference["delisted_date"] = _date_or_none(row["outDate"])
            if str(row.get("type", "1")) == "2":
                reference["type"] = "INDX"
        bars = frame.loc[trading, ["date", "open", "high", "low", "close", "volume"]]
        return Fetched(order_book_id, bars.reset_index(drop=True), reference)


def _date_or_none(value: Any) -> dt.date | None:
    text = str(value or "").strip()
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _periods(dates: pd.Series, flags: pd.Series) -> tuple[tuple[dt.date, dt.date | None], ...]:
    """Runs of ``flags == "1"`` as ``(first, last)`` dates (the last run open if it lasts)."""
    days = [dt.date.fromisoformat(str(d)) for d in dates]
    on = [str(f) == "1" for f in flags]
    periods: list[tuple[dt.date, dt.date | None]] = []
    start: dt.date | None = None
    for i, (day, flag) in enumerate(zip(days, on, strict=True)):
        if flag and start is None:
            start = day
        if start is not None and (not flag or i == len(days) - 1):
            end = days[i - 1] if not flag else None  # still ST on the last day: open
            periods.append((start, end))
            start = None
    return tuple(periods)


class YFinanceSource:
    """Daily bars with Adj Close from yfinance (Yahoo); US tickers as the catalog ids."""

    info = SourceInfo(
        "yfinance", "US and other markets through yfinance (Yahoo daily bars)", ("us",),
        ("daily_bars", "adjustment_factors"), package="yfinance", extra="yfinance",
    )  # fmt: skip

    def __init__(self, client: Any = None) -> None:
        self._client = client

    def fetch(self, order_book_id: str, start: dt.date, end: dt.date) -> Fetched:
        """Unadjusted OHLCV and ``adj_close`` (``auto_adjust=False``); ``end`` included."""
        yf = load("yfinance", self._client)
        ticker = call("yfinance", f"Ticker({order_book_id})", lambda: yf.Ticker(order_book_id))
        raw = call("yfinance", f"history({order_book_id})", lambda: ticker.history(
            start=start.isoformat(), end=(end + dt.timedelta(days=1)).isoformat(),
            auto_adjust=False, actions=True,
        ))  # fmt: skip
        if not isinstance(raw, pd.DataFrame):
            raise SourceError(f"yfinance answered {type(raw).__name__}, not a table")
        if raw.empty:
            raise SourceError(
                f"yfinance has no bars for {order_book_id} between {start} and {end} "
                "(unknown ticker, or delisted)"
            )
        frame = raw.reset_index()
        frame = frame.rename(columns={frame.columns[0]: "Date"})
        bars = columns(frame, {"Date": "date", "Open": "open", "High": "high", "Low": "low",
                                "Close": "close", "Volume": "volume",
                                "Adj Close": "adj_close"}, "yfinance")  # fmt: skip
        dates = pd.to_datetime(bars["date"], utc=False)
        bars["date"] = [d.date().isoformat() for d in dates]
        bars["adj_close"] = pd.to_numeric(bars["adj_close"], errors="coerce").astype(np.float64)
        return Fetched(order_book_id, bars, {})


#: Every source, by name.
SOURCES: dict[str, SourceInfo] = {
    "demo": SourceInfo(
        "demo", "Bundled real demo data (5 US stocks 2000-2013, S&P 500, NASDAQ, CSI 300)",
        ("us", "cn"), ("daily_bars", "adjustment_factors"), updatable=False,
    ),
    "upload": SourceInfo(
        "upload", "Files: CSV or Parquet uploads (POST /api/data/import, quantdesk data import)",
        ("us", "cn"), ("daily_bars", "adjustment_factors", "limit_prices", "files"),
        updatable=False,
    ),
    "akshare": AkshareSource.info,
    "baostock": BaostockSource.info,
    "yfinance": YFinanceSource.info,
}  # fmt: skip
_ADAPTERS: dict[str, Callable[[Any], Adapter]] = {
    "akshare": AkshareSource, "baostock": BaostockSource, "yfinance": YFinanceSource,
}  # fmt: skip


def adapter(name: str, client: Any = None) -> Adapter:
    """The adapter of source ``name`` (``client``: the library module, or a recorded stand-in).

    Raises:
        InvalidArgument: no such source, or one that is not updated (``demo``, ``upload``).
    """
    if name not in SOURCES:
        raise InvalidArgument(f"unknown data source {name!r}; sources: {', '.join(SOURCES)}")
    if name not in _ADAPTERS:
        raise InvalidArgument(f"source {name!r} is not updated from a library (it is built in)")
    return _ADAPTERS[name](client)


def has_index(info: SourceInfo, index_id: str) -> bool:
    """Whether source ``info`` gives ``index_id``'s membership (``SourceInfo.indexes``).

    ``("*",)`` is any index of its market: an A-share index id (``ids.is_cn_index``) for
    an A-share source.
    """
    if "*" in info.indexes:
        return "cn" not in info.markets or is_cn_index(index_id)
    return index_id in info.indexes


def market_of(source: str) -> Market:
    """The market of a library source's instruments."""
    return Market.CN if "cn" in SOURCES[source].markets else Market.US
