"""The Parquet catalog on the real demo data: import, listing, queries, adjustment, errors."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from pathlib import Path
from typing import cast

import pandas as pd
import pytest

from quantdesk.core.errors import DataValidationError, NotFound
from quantdesk.data import Adjust, Catalog
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
    from quantdesk.data.catalog import CatalogBarSource

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
