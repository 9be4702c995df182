"""Data-source adapters on recorded responses (the libraries' documented shapes), and updates
that write all or nothing. No test touches the network: each adapter gets a stand-in client."""

from __future__ import annotations

import datetime as dt
import types
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from quantdesk.core.errors import InvalidArgument
from quantdesk.data.catalog import Catalog
from quantdesk.data.index_sources import akshare_compositions, baostock_compositions
from quantdesk.data.sources import (
    SOURCES,
    AkshareSource,
    BaostockSource,
    SourceError,
    YFinanceSource,
    adapter,
)
from quantdesk.data.update import UpdateCancelled, run_update

START, END = dt.date(2024, 1, 2), dt.date(2024, 1, 10)
#: XSHG sessions 2024-01-02 .. 2024-01-10 (7).
CN_DAYS = ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08", "2024-01-09",
           "2024-01-10"]  # fmt: skip


def akshare_client(*, fail: Exception | None = None, schema: dict[str, str] | None = None) -> Any:
    """``ak.stock_zh_a_hist`` / ``ak.stock_info_a_code_name`` as akshare 1.x answers them."""

    def stock_zh_a_hist(symbol: str, period: str, start_date: str, end_date: str, adjust: str):
        assert (period, adjust) == ("daily", "")
        if fail is not None:
            raise fail
        rows = [
            {"日期": d, "股票代码": symbol, "开盘": 1700.0 + i, "收盘": 1705.0 + i,
             "最高": 1710.0 + i, "最低": 1695.0 + i, "成交量": 25000 + i, "成交额": 4.2e9,
             "振幅": 0.9, "涨跌幅": 0.3, "涨跌额": 5.0, "换手率": 0.2}
            for i, d in enumerate(CN_DAYS)
            if start_date <= d.replace("-", "") <= end_date
        ]  # fmt: skip
        frame = pd.DataFrame(rows)
        return frame.rename(columns=schema) if schema else frame

    def index_zh_a_hist(symbol: str, period: str, start_date: str, end_date: str):
        """An index's daily bars (Eastmoney), columns as ``stock_zh_a_hist``'s."""
        assert period == "daily" and symbol.isdigit()
        return pd.DataFrame([
            {"日期": d, "开盘": 3400.0 + i, "收盘": 3410.0 + i, "最高": 3420.0 + i,
             "最低": 3390.0 + i, "成交量": 1.2e8, "成交额": 2.1e11, "振幅": 0.9,
             "涨跌幅": 0.3, "涨跌额": 10.0, "换手率": 0.4}
            for i, d in enumerate(CN_DAYS) if start_date <= d.replace("-", "") <= end_date
        ])  # fmt: skip

    def stock_info_a_code_name() -> pd.DataFrame:
        return pd.DataFrame({"code": ["600519", "000001"], "name": ["贵州茅台", "平安银行"]})

    def index_stock_cons_weight_csindex(symbol: str) -> pd.DataFrame:
        """CSI's weights file as akshare answers it (weights in percent)."""
        if symbol != "000300":
            raise ValueError(f"No objects to concatenate ({symbol})")  # akshare on no file
        rows = [("600519", "贵州茅台", "上海证券交易所", 5.61),
                ("000001", "平安银行", "深圳证券交易所", 0.93),
                ("300750", "宁德时代", "深圳证券交易所", 3.02)]  # fmt: skip
        return pd.DataFrame([
            {"日期": "2024-01-05", "指数代码": symbol, "指数名称": "沪深300",
             "指数英文名称": "CSI 300", "成分券代码": code, "成分券名称": name,
             "成分券英文名称": "", "交易所": exchange, "交易所英文名称": "", "权重": weight}
            for code, name, exchange, weight in rows
        ])  # fmt: skip

    def index_stock_cons_csindex(symbol: str) -> pd.DataFrame:
        """CSI's members file (no weights) as akshare answers it."""
        return pd.DataFrame([
            {"日期": "2024-01-08", "指数代码": symbol, "指数名称": "CSI", "指数英文名称": "",
             "成分券代码": "688981", "成分券名称": "中芯国际", "成分券英文名称": "",
             "交易所": "上海证券交易所", "交易所英文名称": ""},
        ])  # fmt: skip

    return types.SimpleNamespace(
        stock_zh_a_hist=stock_zh_a_hist, stock_info_a_code_name=stock_info_a_code_name,
        index_zh_a_hist=index_zh_a_hist, index_stock_cons_csindex=index_stock_cons_csindex,
        index_stock_cons_weight_csindex=index_stock_cons_weight_csindex,
    )  # fmt: skip


class _Result:
    """baostock's ``ResultData``: ``error_code``/``error_msg`` and ``get_data()`` (strings)."""

    def __init__(self, frame: pd.DataFrame, error_code: str = "0", error_msg: str = "success"):
        self.error_code, self.error_msg, self._frame = error_code, error_msg, frame

    def get_data(self) -> pd.DataFrame:
        return self._frame


def baostock_client(*, login_error: str | None = None) -> Any:
    calls: list[str] = []

    def query_history_k_data_plus(code: str, fields: str, **kw: str) -> _Result:
        assert kw["adjustflag"] == "3" and kw["frequency"] == "d"
        if code.startswith("sh.000"):  # an index: baostock has no status fields for it
            assert "tradestatus" not in fields and "isST" not in fields
            return _Result(pd.DataFrame(
                [{"date": d, "code": code, "open": "3400.1", "high": "3420.5", "low": "3390.2",
                  "close": "3410.0", "volume": "12000000000"} for d in CN_DAYS],
                columns=fields.split(","),
            ))  # fmt: skip
        rows = []
        for i, d in enumerate(CN_DAYS):
            rows.append({
                "date": d, "code": code, "open": f"{10 + i:.2f}", "high": f"{10.5 + i:.2f}",
                "low": f"{9.5 + i:.2f}", "close": f"{10.2 + i:.2f}", "volume": str(100000 + i),
                "tradestatus": "0" if d == "2024-01-04" else "1",
                "isST": "1" if d >= "2024-01-08" else "0",
            })  # fmt: skip
        return _Result(pd.DataFrame(rows, columns=fields.split(",")))

    def query_stock_basic(code: str) -> _Result:
        row = {"code": code, "code_name": "浦发银行", "ipoDate": "1999-11-10", "outDate": "",
               "type": "1", "status": "1"}  # fmt: skip
        return _Result(pd.DataFrame([row]))

    def login() -> _Result:
        calls.append("login")
        return _Result(pd.DataFrame(), *(("10001", login_error) if login_error else ()))

    def logout() -> _Result:
        calls.append("logout")
        return _Result(pd.DataFrame())

    def query_hs300_stocks(date: str) -> _Result:
        """The CSI 300 composition in effect on ``date``, each row with its updateDate."""
        calls.append(f"hs300 {date}")
        if date < "2023-12-11":
            return _Result(pd.DataFrame(columns=["updateDate", "code", "code_name"]))
        update, codes = (
            ("2023-12-11", ["sh.600000", "sz.000001"]) if date < "2024-01-08"
            else ("2024-01-08", ["sh.600519", "sz.000001"])
        )  # fmt: skip
        return _Result(pd.DataFrame({"updateDate": update, "code": codes, "code_name": "x"}))

    return types.SimpleNamespace(
        login=login, logout=logout, query_history_k_data_plus=query_history_k_data_plus,
        query_stock_basic=query_stock_basic, query_hs300_stocks=query_hs300_stocks, calls=calls,
    )  # fmt: skip


def yfinance_client(*, empty: bool = False) -> Any:
    class Ticker:
        def __init__(self, symbol: str) -> None:
            self.symbol = symbol

        def history(self, start: str, end: str, auto_adjust: bool, actions: bool) -> pd.DataFrame:
            assert auto_adjust is False and actions is True
            if empty:
                return pd.DataFrame()
            index = pd.DatetimeIndex(
                pd.bdate_range(start, end, inclusive="left"), name="Date"
            ).tz_localize("America/New_York")
            n = len(index)
            return pd.DataFrame(
                {"Open": [100.0] * n, "High": [101.0] * n, "Low": [99.0] * n,
                 "Close": [100.5] * n, "Adj Close": [100.0] * n, "Volume": [5_000_000] * n,
                 "Dividends": [0.0] * n, "Stock Splits": [0.0] * n},
                index=index,
            )  # fmt: skip

    return types.SimpleNamespace(Ticker=Ticker)


def test_akshare_bars_come_in_shares_with_the_name() -> None:
    got = AkshareSource(akshare_client()).fetch("600519.XSHG", START, END)
    assert list(got.bars.columns) == ["date", "open", "high", "low", "close", "volume"]
    assert got.bars["date"].tolist() == CN_DAYS
    assert got.bars["volume"].iloc[0] == 2_500_000  # 25,000 lots of 100 shares
    assert got.reference["name"] == "贵州茅台"


def test_baostock_drops_suspended_days_and_reads_st_periods_and_listing() -> None:
    client = baostock_client()
    got = BaostockSource(client).fetch("600000.XSHG", START, END)
    assert "2024-01-04" not in got.bars["date"].tolist() and len(got.bars) == 6
    assert got.reference["st_periods"] == ((dt.date(2024, 1, 8), None),)
    assert got.reference["listed_date"] == dt.date(1999, 11, 10)
    assert got.reference["delisted_date"] is None and got.reference["name"] == "浦发银行"
    assert client.calls == ["login", "logout"]


def test_indices_are_read_as_indices_not_as_stocks_of_the_same_code(tmp_path: Path) -> None:
    got = AkshareSource(akshare_client()).fetch("000300.XSHG", START, END)
    assert got.reference == {"type": "INDX"} and got.bars["close"].iloc[0] == 3410.0
    base = BaostockSource(baostock_client()).fetch("000300.XSHG", START, END)
    assert base.reference["type"] == "INDX" and len(base.bars) == len(CN_DAYS)
    catalog = Catalog(tmp_path)
    run_update(catalog, "akshare", ["000300.XSHG"], START, END, client=akshare_client())
    index = catalog.instrument("000300.XSHG")
    assert (str(index.type), index.lot_size) == ("INDX", 1)


def test_baostock_membership_is_sampled_weekly_and_kept_per_update_date() -> None:
    client = baostock_client()
    comps = baostock_compositions(client, "000300.XSHG", dt.date(2023, 12, 1), END)
    assert [(c.date, c.order_book_ids, c.source) for c in comps] == [
        (dt.date(2023, 12, 11), ("000001.XSHE", "600000.XSHG"), "baostock"),
        (dt.date(2024, 1, 8), ("000001.XSHE", "600519.XSHG"), "baostock"),
    ]
    asked = [c.split()[1] for c in client.calls if c.startswith("hs300")]
    assert asked[0] == "2023-12-01" and asked[-1] == "2024-01-10" and len(asked) == 7
    assert (client.calls[0], client.calls[-1]) == ("login", "logout")
    with pytest.raises(InvalidArgument, match=r"000300\.XSHG, 000016\.XSHG, 000905\.XSHG only"):
        baostock_compositions(client, "399006.XSHE", START, END)


def test_akshare_membership_is_the_current_csi_file_with_weights() -> None:
    [comp] = akshare_compositions(akshare_client(), "000300.XSHG", START, END)
    assert comp.date == dt.date(2024, 1, 5) and comp.source == "akshare"
    assert comp.order_book_ids == ("600519.XSHG", "000001.XSHE", "300750.XSHE")
    assert comp.weights == (5.61, 0.93, 3.02)
    [plain] = akshare_compositions(akshare_client(), "000852.XSHG", START, END)
    assert (plain.order_book_ids, plain.weights) == (("688981.XSHG",), None)
    with pytest.raises(InvalidArgument, match="not an A-share index id"):
        akshare_compositions(akshare_client(), "SPX", START, END)


def test_yfinance_gives_adjusted_closes_and_includes_the_end_date() -> None:
    got = YFinanceSource(yfinance_client()).fetch("AAPL", START, END)
    assert (
        got.bars["date"].tolist()[-1] == "2024-01-10" and got.bars["date"].iloc[0] == "2024-01-02"
    )
    assert got.bars["adj_close"].iloc[0] == 100.0


@pytest.mark.parametrize(
    ("source", "call", "message"),
    [
        (lambda: AkshareSource(akshare_client(fail=ConnectionError("timed out"))),
         lambda s: s.fetch("600519.XSHG", START, END), "ConnectionError: timed out"),
        (lambda: AkshareSource(akshare_client(schema={"收盘": "close_px"})),
         lambda s: s.fetch("600519.XSHG", START, END), "the library's response changed"),
        (lambda: BaostockSource(baostock_client(login_error="user not exist")),
         lambda s: s.fetch("600000.XSHG", START, END), "login failed: user not exist"),
        (lambda: YFinanceSource(yfinance_client(empty=True)),
         lambda s: s.fetch("NOPE", START, END), "no bars for NOPE"),
    ],
)  # fmt: skip
def test_source_failures_are_source_errors_with_the_sources_message(
    source: Any, call: Any, message: str
) -> None:
    with pytest.raises(SourceError, match=message):
        call(source())


def test_a_bad_id_or_source_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="not an A-share order_book_id"):
        AkshareSource(akshare_client()).fetch("AAPL", START, END)
    with pytest.raises(InvalidArgument, match="unknown data source"):
        adapter("bloomberg")
    with pytest.raises(InvalidArgument, match="built in"):
        adapter("demo")
    assert {"demo", "upload", "akshare", "baostock", "yfinance"} <= set(SOURCES)
    assert SOURCES["baostock"].provides[:2] == ("daily_bars", "instruments")


def test_an_update_writes_every_instrument_or_none(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    first = run_update(catalog, "akshare", ["600519.XSHG"], START, dt.date(2024, 1, 5),
                       client=akshare_client())  # fmt: skip
    assert first.reports[0].rows_accepted == 4
    before = {p: p.read_bytes() for p in tmp_path.rglob("*.parquet")}

    class Flaky:
        calls = 0

        def __getattr__(self, name: str) -> Any:
            good = akshare_client()
            if name != "stock_zh_a_hist":
                return getattr(good, name)

            def hist(**kw: Any) -> pd.DataFrame:
                Flaky.calls += 1
                if Flaky.calls > 1:
                    raise TimeoutError("rate limited")
                return good.stock_zh_a_hist(**kw)

            return hist

    with pytest.raises(SourceError, match="rate limited"):
        run_update(catalog, "akshare", ["600519.XSHG", "000001.XSHE"], START, END, client=Flaky())
    assert {p: p.read_bytes() for p in tmp_path.rglob("*.parquet")} == before  # unchanged
    with pytest.raises(UpdateCancelled):
        run_update(catalog, "akshare", ["600519.XSHG"], START, END, client=akshare_client(),
                   cancelled=lambda: True)  # fmt: skip
    assert {p: p.read_bytes() for p in tmp_path.rglob("*.parquet")} == before
    seen: list[tuple[int, int]] = []
    done = run_update(
        catalog, "akshare", ["600519.XSHG", "000001.XSHE"], START, END,
        client=akshare_client(), progress=lambda i, n: seen.append((i, n)),
    )  # fmt: skip
    assert seen == [(1, 2), (2, 2)]
    assert [r.rows_accepted for r in done.reports] == [7, 7]  # merged over the stored 4
    assert catalog.instrument("000001.XSHE").name == "平安银行"
    assert catalog.instrument("600519.XSHG").market == "cn"


def test_an_update_of_an_index_with_its_members_writes_both_or_nothing(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)

    class Broken:
        """baostock whose bar query fails after the membership was fetched."""

        def __getattr__(self, name: str) -> Any:
            if name == "query_history_k_data_plus":
                raise ConnectionError("reset by peer")
            return getattr(baostock_client(), name)

    with pytest.raises(SourceError, match="reset by peer"):
        run_update(catalog, "baostock", [], START, END, index_ids=["000300.XSHG"],
                   with_members=True, client=Broken())  # fmt: skip
    assert not list(tmp_path.rglob("*.parquet"))  # neither bars nor membership
    seen: list[tuple[int, int]] = []
    report = run_update(
        catalog, "baostock", [], dt.date(2023, 12, 1), END, index_ids=["000300.XSHG"],
        with_members=True, client=baostock_client(), progress=lambda i, n: seen.append((i, n)),
    )  # fmt: skip
    assert [r.order_book_id for r in report.reports] == ["000001.XSHE", "600000.XSHG",
                                                         "600519.XSHG"]  # fmt: skip
    assert report.as_dict()["indexes"] == [{"index_id": "000300.XSHG", "added": 2,
                                            "replaced": 0, "first": "2023-12-11",
                                            "last": "2024-01-08"}]  # fmt: skip
    assert seen[0] == (1, 4) and seen[-1] == (4, 4)
    on = catalog.memberships.composition_on("000300.XSHG", dt.date(2024, 1, 5))
    assert on.order_book_ids == ("000001.XSHE", "600000.XSHG")
    with pytest.raises(InvalidArgument, match="provides no index membership"):
        run_update(catalog, "yfinance", [], START, END, index_ids=["^GSPC"])


def test_an_unreadable_csi_weight_is_an_unknown_weight() -> None:
    """Regression: one ``-`` in CSI's weights file failed the whole update."""
    client = akshare_client()
    good = client.index_stock_cons_weight_csindex

    def dashed(symbol: str) -> pd.DataFrame:
        frame = good(symbol)
        frame["权重"] = [5.61, "-", 3.02]
        return frame

    client.index_stock_cons_weight_csindex = dashed
    [comp] = akshare_compositions(client, "000300.XSHG", START, END)
    assert comp.weights == (5.61, None, 3.02)


def test_baostock_is_not_asked_before_an_index_was_launched() -> None:
    client = baostock_client()
    assert baostock_compositions(client, "000300.XSHG", dt.date(1990, 1, 1),
                                 dt.date(2005, 4, 7)) == []  # fmt: skip
    assert not [c for c in client.calls if c.startswith("hs300")]
    baostock_compositions(client, "000300.XSHG", dt.date(1990, 1, 1), dt.date(2005, 4, 20))
    assert next(c for c in client.calls if c.startswith("hs300")) == "hs300 2005-04-08"


def test_an_update_keeps_bars_written_meanwhile_outside_its_window(tmp_path: Path) -> None:
    """Regression: an update merged over the stored bars it read before fetching, so bars an
    upload wrote in the meantime were lost when it wrote."""
    catalog = Catalog(tmp_path)
    run_update(catalog, "akshare", ["600519.XSHG"], START, dt.date(2024, 1, 3),
               client=akshare_client())  # fmt: skip
    client = akshare_client()
    fetch = client.stock_zh_a_hist

    def fetch_while_someone_writes(**kw: Any) -> pd.DataFrame:
        if kw["symbol"] != "000001":  # 600519 is fetched (and staged) first
            return fetch(**kw)
        other = Catalog(tmp_path)  # meanwhile another process uploads two later sessions
        stored = other.stored_bars("600519.XSHG")
        assert stored is not None
        extra = pd.DataFrame({"date": ["2024-01-11", "2024-01-12"], "open": 1.0, "high": 1.0,
                              "low": 1.0, "close": 1.0, "volume": 100.0})  # fmt: skip
        other.import_bars(other.instrument("600519.XSHG"),
                          other.merged_with_stored("600519.XSHG", extra))  # fmt: skip
        return fetch(**kw)

    client.stock_zh_a_hist = fetch_while_someone_writes
    run_update(catalog, "akshare", ["600519.XSHG", "000001.XSHE"], dt.date(2024, 1, 4), END,
               client=client)  # fmt: skip
    dates = pd.DatetimeIndex(catalog.bars_frame("600519.XSHG").index).strftime("%Y-%m-%d")
    assert dates.tolist() == [*CN_DAYS, "2024-01-11", "2024-01-12"]
