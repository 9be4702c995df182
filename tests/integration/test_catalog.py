"""The Parquet catalog on the real demo data: import, listing, queries, adjustment, errors;
A-share reference data (board, ST periods) and price-limit columns, old catalog files."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import math
import os
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from quantdesk.backtest.run import run_backtest
from quantdesk.core.errors import DataValidationError, InvalidArgument, NotFound
from quantdesk.core.instruments import BoardType, Instrument, InstrumentType, Market
from quantdesk.data import Adjust, Catalog
from quantdesk.data.bar_source import CatalogBarSource
from quantdesk.data.demo import DEMO_INSTRUMENTS


def test_demo_import_lists_every_instrument_with_its_range(demo_catalog: Catalog) -> None:
    stats = {r["order_book_id"]: r for r in demo_catalog.stats()}
    assert set(stats) == {"AAPL", "FB", "GOOG", "IBM", "MSFT", "SPX", "IXIC", "000300.XSHG"}
    assert (stats["AAPL"]["first_bar"], stats["AAPL"]["last_bar"], stats["AAPL"]["bar_count"]) == (
        dt.date(2000, 3, 1),
        dt.date(2013, 3, 1),
        3270,
    )
    assert stats["FB"]["first_bar"] == dt.date(2012, 5, 18)
    assert stats["SPX"]["bar_count"] == 5031  # every XNYS session 1999-2018
    assert stats["000300.XSHG"]["bar_count"] == 4857  # every XSHG session 2006-01-06..2025
    assert (demo_catalog.root / "bars" / "1d" / "AAPL.parquet").is_file()
    assert demo_catalog.instrument("000300.XSHG").calendar == "XSHG"


def test_bars_are_real_and_queried_by_range(demo_catalog: Catalog) -> None:
    bars = demo_catalog.bars_frame("AAPL", dt.date(2005, 2, 24), dt.date(2005, 3, 1), Adjust.NONE)
    # The frame is indexed by session (a DatetimeIndex); the stubs only know a plain Index.
    assert list(cast(pd.DatetimeIndex, bars.index).date) == [
        dt.date(2005, 2, d) for d in (24, 25, 28)
    ] + [dt.date(2005, 3, 1)]
    assert bars.loc["2005-02-28", "close"] == 44.86
    assert bars.loc["2005-02-25", "close"] == 88.99


@pytest.mark.parametrize(
    ("oid", "before", "split_day"),
    [("AAPL", "2005-02-25", "2005-02-28"), ("MSFT", "2003-02-14", "2003-02-18")],
)
def test_pre_adjustment_removes_the_split_jump(
    demo_catalog: Catalog, oid: str, before: str, split_day: str
) -> None:
    raw = demo_catalog.bars_frame(oid, adjust=Adjust.NONE)["close"]
    pre = demo_catalog.bars_frame(oid, adjust=Adjust.PRE)["close"]
    raw_move = raw[split_day] / raw[before] - 1
    pre_move = pre[split_day] / pre[before] - 1
    assert raw_move < -0.45  # the 2:1 split looks like a crash unadjusted
    assert abs(pre_move) < 0.05  # a normal day once adjusted
    assert pre.iloc[-1] == raw.iloc[-1]  # anchored at the last bar


def test_unknown_instrument_suggests_close_matches(demo_catalog: Catalog) -> None:
    with pytest.raises(NotFound, match="did you mean AAPL"):
        demo_catalog.instrument("AAPX")


def test_import_rejects_bad_rows_and_strict_refuses_the_file(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    frame = pd.DataFrame(
        {
            "date": ["2021-03-01", "2021-03-02", "2021-03-03"],
            "open": [10.0, 10.0, 10.0],
            "high": [11.0, 9.0, 11.0],
            "low": [9.0, 8.0, 9.0],
            "close": [10.5, 10.0, 10.0],
            "volume": [1.0, 1.0, 1.0],
        }
    )
    ins = DEMO_INSTRUMENTS["IBM"]
    with pytest.raises(DataValidationError, match="high below"):
        catalog.import_bars(ins, frame, strict=True)
    assert catalog.is_empty()
    assert not (tmp_path / "bars").exists() or not any((tmp_path / "bars").rglob("*.parquet"))
    report = catalog.import_bars(ins, frame)
    assert report.rejected == [("2021-03-02", "high below max(open, close)")]
    assert Catalog(tmp_path).stats()[0]["bar_count"] == 2  # persisted, re-read from disk


def test_reading_bars_leaves_no_file_open_once_it_returns(demo_catalog: Catalog) -> None:
    """Regression: Arrow's thread pool closed a bar file some time after the read returned,
    when a forked sandbox had already reused the descriptor number (for its events pipe)."""

    def open_bar_files() -> list[str]:
        found = []
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/self/fd/{fd}")
                if target.endswith(".parquet"):
                    found.append(target)
        return found

    source = CatalogBarSource(demo_catalog, Adjust.PRE)
    for _ in range(20):
        demo_catalog.bars_frame("AAPL", dt.date(2005, 2, 24), dt.date(2005, 3, 1), Adjust.NONE)
        assert open_bar_files() == []
        source.bars("IBM", dt.date(2010, 3, 1))
        assert open_bar_files() == []


# -- A-share reference data and price limits ---------------------------------------------------

NAN = math.nan
#: Five XSHG sessions (no holiday in that week).
CN_DAYS = ["2021-03-01", "2021-03-02", "2021-03-03", "2021-03-04", "2021-03-05"]


def cn_stock(oid: str = "600000.XSHG", **fields: Any) -> Instrument:
    """An A-share stock listed long before ``CN_DAYS`` (no IPO sessions without limits)."""
    base = Instrument(
        oid, oid.partition(".")[0], "test stock", Market.CN, InstrumentType.STOCK, "XSHG", 100,
        dt.date(1999, 11, 10), None, "CNY",
    )  # fmt: skip
    return dataclasses.replace(base, **fields)


def cn_frame(close: list[float], **columns: list[float]) -> pd.DataFrame:
    """Bars on ``CN_DAYS`` with open = high = low = close, plus ``columns``."""
    days = CN_DAYS[: len(close)]
    return pd.DataFrame(
        {"date": days, "open": close, "high": close, "low": close, "close": close,
         "volume": 1e6, **columns}
    )  # fmt: skip


def test_board_type_and_st_periods_round_trip(tmp_path: Path) -> None:
    periods = ((dt.date(2021, 6, 1), None), (dt.date(2020, 1, 2), dt.date(2020, 6, 30)))
    ins = cn_stock("688001.XSHG", board_type=BoardType.KSH, st_periods=periods)
    Catalog(tmp_path).import_bars(ins, cn_frame([10.0, 10.5]))
    again = Catalog(tmp_path)  # re-read from disk
    stored = again.instrument("688001.XSHG")
    assert stored == dataclasses.replace(ins, st_periods=periods[::-1])  # sorted by start
    assert stored.board_type is BoardType.KSH
    assert stored.is_st(dt.date(2020, 3, 2)) and stored.is_st(dt.date(2030, 1, 2))
    assert not stored.is_st(dt.date(2021, 3, 1))
    (row,) = again.stats()
    assert row["board_type"] == "KSH"
    assert row["st_periods"] == [
        {"start": dt.date(2020, 1, 2), "end": dt.date(2020, 6, 30)},
        {"start": dt.date(2021, 6, 1), "end": None},
    ]
    schema = pq.read_schema(tmp_path / "instruments.parquet")
    assert schema.field("board_type").type == pa.string()
    period_type = pa.struct([("start", pa.date32()), ("end", pa.date32())])
    assert schema.field("st_periods").type == pa.list_(period_type)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"st_periods": ((dt.date(2020, 1, 2), dt.date(2019, 12, 31)),)},
         "ST period 2020-01-02:2019-12-31: END 2019-12-31 is before START 2020-01-02"),
        ({"st_periods": ((dt.date(2020, 1, 2), dt.date(2020, 6, 30)),
                         (dt.date(2020, 6, 30), None))},
         "ST periods 2020-01-02:2020-06-30 and 2020-06-30: overlap"),
        ({"st_periods": ((dt.date(2021, 1, 4), dt.date(2021, 2, 1)),
                         (dt.date(2020, 1, 2), None))},
         "ST periods 2020-01-02: and 2021-01-04:2021-02-01 overlap"),
        ({"market": Market.US, "board_type": BoardType.GEM},
         "board_type GEM is an A-share board; market us instruments are MainBoard"),
        ({"type": InstrumentType.INDEX, "st_periods": ((dt.date(2020, 1, 2), None),)},
         "ST periods apply to A-share stocks (market cn, type CS), not to market cn type INDX"),
        ({"lot_size": 0}, "lot size must be >= 1, got 0"),
    ],
)  # fmt: skip
def test_bad_reference_data_is_refused_before_anything_is_written(
    tmp_path: Path, fields: dict[str, Any], message: str
) -> None:
    catalog = Catalog(tmp_path)
    with pytest.raises(InvalidArgument) as info:
        catalog.import_bars(cn_stock(**fields), cn_frame([10.0, 10.5]))
    assert message in str(info.value)
    assert catalog.is_empty() and not (tmp_path / "instruments.parquet").exists()
    assert not list(tmp_path.rglob("*.parquet"))


# Traded closes 10 -> 10.5 (at a 5% limit_up the data gives) -> 10.6 -> 5.4 after a 2:1
# split on 03-04 (the exchange halves the reference price: limits 5.83 / 4.77) -> 5.5.
LIMIT_BARS = {
    "close": [10.0, 10.5, 10.6, 5.4, 5.5],
    "adj_close": [5.0, 5.25, 5.3, 5.4, 5.5],
    "limit_up": [NAN, 10.5, 11.66, 5.83, 5.94],
    "limit_down": [NAN, 9.5, 9.54, 4.77, 4.86],
}


def test_limit_columns_are_stored_and_read_back_as_traded(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    bars = dict(LIMIT_BARS)
    report = catalog.import_bars(cn_stock(), cn_frame(bars.pop("close"), **bars))
    assert report.ok and report.rows_accepted == 5
    schema = pq.read_schema(tmp_path / "bars" / "1d" / "600000.XSHG.parquet")
    assert (schema.field("limit_up").type, schema.field("limit_down").type) == (
        pa.float64(),
        pa.float64(),
    )
    traded = catalog.bars_frame("600000.XSHG", adjust=Adjust.NONE)
    pre = catalog.bars_frame("600000.XSHG", adjust=Adjust.PRE)
    assert pre["close"].tolist() == pytest.approx(LIMIT_BARS["adj_close"])  # adjusted...
    for frame in (traded, pre):  # ...while the limits stay as traded, NaN kept
        np.testing.assert_array_equal(frame["limit_up"], LIMIT_BARS["limit_up"])
        np.testing.assert_array_equal(frame["limit_down"], LIMIT_BARS["limit_down"])
    series = CatalogBarSource(catalog, Adjust.PRE).bars("600000.XSHG", dt.date(2021, 3, 4))
    assert len(series) == 4
    assert series.close.tolist() == pytest.approx([5.0, 5.25, 5.3, 5.4])
    assert series.factor is not None and series.factor.tolist() == [0.5, 0.5, 0.5, 1.0]
    assert series.limit_up is not None and series.limit_down is not None
    np.testing.assert_array_equal(series.limit_up, [NAN, 10.5, 11.66, 5.83])
    np.testing.assert_array_equal(series.limit_down, [NAN, 9.5, 9.54, 4.77])


def test_limits_are_none_when_the_bar_file_has_no_such_column(
    demo_catalog: Catalog, tmp_path: Path
) -> None:
    demo = CatalogBarSource(demo_catalog, Adjust.PRE).bars("AAPL", dt.date(2005, 3, 1))
    assert (demo.limit_up, demo.limit_down) == (None, None)
    assert "limit_up" not in demo_catalog.bars_frame("AAPL").columns
    catalog = Catalog(tmp_path)
    catalog.import_bars(cn_stock(), cn_frame([10.0, 10.5], limit_up=[11.0, 11.0]))
    only_up = CatalogBarSource(catalog, Adjust.NONE).bars("600000.XSHG", dt.date(2021, 3, 5))
    assert only_up.limit_down is None
    assert only_up.limit_up is not None and only_up.limit_up.tolist() == [11.0, 11.0]
    assert "limit_down" not in catalog.bars_frame("600000.XSHG").columns


#: ``instruments.parquet`` and bar files as catalogs wrote them before boards, ST periods and
#: limit columns: users' catalogs on disk still have this shape.
OLD_INSTRUMENT_SCHEMA = pa.schema(
    [  # type: ignore[arg-type]
        ("order_book_id", pa.string()), ("symbol", pa.string()), ("name", pa.string()),
        ("market", pa.string()), ("type", pa.string()), ("exchange", pa.string()),
        ("lot_size", pa.int64()), ("listed_date", pa.date32()), ("delisted_date", pa.date32()),
        ("currency", pa.string()), ("first_bar", pa.date32()), ("last_bar", pa.date32()),
        ("bar_count", pa.int64()),
    ]
)  # fmt: skip
OLD_BAR_SCHEMA = pa.schema(
    [("date", pa.date32())]
    + [(c, pa.float64()) for c in ("open", "high", "low", "close", "volume", "adj_close")]
)


def test_a_catalog_written_before_boards_and_limits_still_loads(tmp_path: Path) -> None:
    days = [dt.date(2021, 3, 1), dt.date(2021, 3, 2)]
    old_row = {
        "order_book_id": "000001.XSHE", "symbol": "000001", "name": "old stock",
        "market": "cn", "type": "CS", "exchange": "XSHE", "lot_size": 100,
        "listed_date": dt.date(1991, 4, 3), "delisted_date": None, "currency": "CNY",
        "first_bar": days[0], "last_bar": days[1], "bar_count": 2,
    }  # fmt: skip
    pq.write_table(
        pa.Table.from_pylist([old_row], schema=OLD_INSTRUMENT_SCHEMA),
        tmp_path / "instruments.parquet",
    )
    (tmp_path / "bars" / "1d").mkdir(parents=True)
    bars: dict[str, list[Any]] = {
        "date": days, **{c: [10.0, 10.5] for c in ("open", "high", "low", "close")},
        "volume": [1e6, 1e6], "adj_close": [10.0, 10.5],
    }  # fmt: skip
    pq.write_table(
        pa.Table.from_pydict(bars, schema=OLD_BAR_SCHEMA),
        tmp_path / "bars" / "1d" / "000001.XSHE.parquet",
    )

    catalog = Catalog(tmp_path)
    old = catalog.instrument("000001.XSHE")
    assert (old.board_type, old.st_periods, old.lot_size) == (BoardType.MAIN, (), 100)
    assert catalog.stats()[0]["board_type"] == "MainBoard"
    assert catalog.stats()[0]["st_periods"] == []
    series = CatalogBarSource(catalog, Adjust.PRE).bars("000001.XSHE", days[1])
    assert series.close.tolist() == [10.0, 10.5]
    assert (series.limit_up, series.limit_down) == (None, None)
    assert catalog.bars_frame("000001.XSHE")["close"].tolist() == [10.0, 10.5]

    # The next import rewrites the table with the new columns; the old row keeps defaults.
    catalog.import_bars(cn_stock("300750.XSHE", board_type=BoardType.GEM), cn_frame([20.0]))
    assert "st_periods" in pq.read_schema(tmp_path / "instruments.parquet").names
    reread = Catalog(tmp_path)
    assert reread.instrument("000001.XSHE") == old
    assert reread.instrument("300750.XSHE").board_type is BoardType.GEM


@pytest.mark.parametrize(
    ("columns", "reason"),
    [
        ({"limit_up": [11.0, 11.55], "limit_down": [11.5, 9.45]}, "limit_down above limit_up"),
        ({"limit_up": [11.0, -1.0]}, "bad limit_up: not a price > 0"),
        ({"limit_up": [11.0, 10.4]}, "close 10.5 above limit_up 10.4 by more than a 0.01 tick"),
    ],
)
def test_invalid_limit_columns_are_rejected_with_a_clear_message(
    tmp_path: Path, columns: dict[str, list[float]], reason: str
) -> None:
    catalog = Catalog(tmp_path)
    frame = cn_frame([10.0, 10.5], **columns)
    with pytest.raises(DataValidationError) as info:
        catalog.import_bars(cn_stock(), frame, strict=True)
    assert "nothing imported" in str(info.value) and reason in str(info.value)
    assert catalog.is_empty()
    report = catalog.import_bars(cn_stock(), frame)
    bad_day = "2021-03-01" if reason == "limit_down above limit_up" else "2021-03-02"
    assert [(d, r[: len(reason)]) for d, r in report.rejected] == [(bad_day, reason)]
    assert report.rows_accepted == 1


BUY_ON_DAYS_1_AND_2 = """
def init(context):
    context.day = -1

def handle_bar(context, bar_dict):
    context.day += 1
    if context.day in (1, 2):
        order_shares("600000.XSHG", 100)
"""


@pytest.mark.parametrize("with_limits", [True, False])
def test_the_data_limit_up_wins_over_the_boards_rule(tmp_path: Path, with_limits: bool) -> None:
    """A 5% limit_up in the data (as for an ST stock the reference data does not mark) refuses
    the buy at 10.50 on 03-02 that the main board's computed 10% limit (11.00) would allow.

    The bars are forward-adjusted (factor 0.5 before the split): the 03-03 buy at 10.60 fills
    under the data's 11.66, which only holds if the stored limits stay as traded.
    """
    catalog = Catalog(tmp_path)
    bars = dict(LIMIT_BARS)
    if not with_limits:
        del bars["limit_up"], bars["limit_down"]
    catalog.import_bars(cn_stock(), cn_frame(bars.pop("close"), **bars))
    result = run_backtest(
        BUY_ON_DAYS_1_AND_2, start=CN_DAYS[0], end=CN_DAYS[-1], cash=100_000.0,
        universe=["600000.XSHG"], benchmark="none", market="cn_stock", adjust="pre",
        catalog=catalog, engine="native",
    )  # fmt: skip
    orders = result.orders
    assert orders["order_book_id"].tolist() == ["600000.XSHG"] * 2
    reasons = orders["reject_reason"].fillna("-").tolist()  # None reads back as NaN
    fills = [d.date().isoformat() for d in result.trades["datetime"]]
    if with_limits:
        assert reasons == ["limit_up", "-"]
        assert "10.5 is at limit_up 10.5" in orders["message"].iloc[0]
        assert fills == ["2021-03-03"]
    else:
        assert reasons == ["-", "-"]
        assert fills == ["2021-03-02", "2021-03-03"]


def test_import_many_writes_the_table_once_and_nothing_when_one_is_invalid(
    tmp_path: Path,
) -> None:
    catalog = Catalog(tmp_path)
    days = pd.bdate_range("2024-01-02", "2024-01-05")
    good = pd.DataFrame({"date": days.date, "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0,
                         "volume": 10})  # fmt: skip

    def stock(oid: str) -> Instrument:
        return Instrument(oid, oid, oid, Market.US, InstrumentType.STOCK, "XNYS", 1,
                          days[0].date(), None, "USD")  # fmt: skip

    bad = good.assign(close=-1.0)
    with pytest.raises(DataValidationError):
        catalog.import_many([(stock("A"), good), (stock("B"), bad)], strict=True)
    assert not (tmp_path / "instruments.parquet").exists() and catalog.stats() == []
    reports = catalog.import_many([(stock(f"S{i}"), good) for i in range(20)])
    assert [r.rows_accepted for r in reports] == [4] * 20
    assert len(catalog.stats()) == 20 and Catalog(tmp_path).instrument("S19").name == "S19"
