"""The notebook helpers on the real demo data: prices, instruments, jobs, result views.

``stats()`` is cross-checked against empyrical where the definitions are the same (Sharpe,
Sortino, max drawdown, annual return and volatility, Calmar) and against independent
re-computations from the round trips and the NAV for the rest.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import empyrical as ep  # type: ignore[import-untyped]  # ships no type hints
import numpy as np
import pandas as pd
import pytest

import quantdesk
from quantdesk.backtest import BacktestResult, run_backtest
from quantdesk.core.errors import InvalidArgument, NotFound
from quantdesk.core.settings import Settings
from quantdesk.data import Catalog
from quantdesk.research import JOBS_DIR_ENV, all_instruments, get_price, load_job

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FRAMES = ("portfolio", "trades", "positions", "orders", "plots")


@pytest.fixture(scope="module")
def rotation(demo_catalog: Catalog) -> BacktestResult:
    """Four stocks rotated monthly for seven years: many round trips, a deep drawdown."""
    return run_backtest(
        EXAMPLES / "momentum_rotation.py",
        start="2006-01-03",
        end="2012-12-31",
        universe="AAPL,GOOG,IBM,MSFT",
        catalog=demo_catalog,
        strategy_name="<b>rotation</b> & co",
    )


@pytest.fixture(scope="module")
def with_rf(demo_catalog: Catalog) -> BacktestResult:
    """SMA crossover with a 3% risk-free rate and no benchmark."""
    return run_backtest(
        EXAMPLES / "sma_crossover.py",
        start="2007-01-04",
        end="2010-12-31",
        universe=["MSFT"],
        benchmark="none",
        risk_free_rate=0.03,
        catalog=demo_catalog,
    )


# -- get_price / all_instruments ----------------------------------------------------------------


def test_get_price_of_one_id_is_indexed_by_date(demo_catalog: Catalog) -> None:
    px = get_price("AAPL", "2005-01-03", "2005-12-30", catalog=demo_catalog)
    assert isinstance(px.index, pd.DatetimeIndex) and px.index.name == "date"
    assert px.index[0] == pd.Timestamp("2005-01-03")
    assert px.index[-1] == pd.Timestamp("2005-12-30")
    assert len(px) == 252  # NYSE sessions of 2005
    assert list(px.columns[:5]) == ["open", "high", "low", "close", "volume"]
    assert px["close"].resample("ME").last().size == 12


def test_get_price_of_a_list_is_indexed_by_id_then_date(demo_catalog: Catalog) -> None:
    px = get_price(["MSFT", "AAPL"], "2010-01-04", "2010-01-29", "close", catalog=demo_catalog)
    assert px.index.names == ["order_book_id", "date"]
    assert list(px.columns) == ["close"]
    assert list(px.index.get_level_values(0).unique()) == ["MSFT", "AAPL"]
    assert len(px.loc["AAPL"]) == len(px.loc["MSFT"]) == 19
    one = get_price(["AAPL"], "2010-01-04", "2010-01-29", ["open", "close"], catalog=demo_catalog)
    assert one.index.nlevels == 2 and list(one.columns) == ["open", "close"]
    pd.testing.assert_series_equal(one.loc["AAPL"]["close"], px.loc["AAPL"]["close"])


def test_get_price_adjusts_forward_from_the_last_bar(demo_catalog: Catalog) -> None:
    pre = get_price("AAPL", "2005-02-01", "2005-03-31", catalog=demo_catalog)
    raw = get_price("AAPL", "2005-02-01", "2005-03-31", adjust="none", catalog=demo_catalog)
    np.testing.assert_allclose(pre["close"], raw["close"] * pre["factor"], rtol=1e-12)
    # The 2:1 split of 2005-02-28 is a halving as traded, not in the adjusted series.
    assert raw["close"].pct_change().min() < -0.45
    assert pre["close"].pct_change().min() > -0.1
    full = get_price("AAPL", adjust="pre", catalog=demo_catalog)
    assert full["factor"].iloc[-1] == 1.0


def test_get_price_refuses_bad_arguments(demo_catalog: Catalog) -> None:
    with pytest.raises(InvalidArgument, match="unknown fields"):
        get_price("AAPL", fields=["close", "vwap"], catalog=demo_catalog)
    with pytest.raises(InvalidArgument, match="adjust 'post'"):
        get_price("AAPL", adjust="post", catalog=demo_catalog)
    with pytest.raises(InvalidArgument, match="after end_date"):
        get_price("AAPL", "2010-02-01", "2010-01-01", catalog=demo_catalog)
    with pytest.raises(InvalidArgument, match="not a date"):
        get_price("AAPL", "yesterday", catalog=demo_catalog)
    with pytest.raises(NotFound, match="did you mean AAPL"):
        get_price("AAPLE", catalog=demo_catalog)


def test_all_instruments_lists_and_filters_the_catalog(demo_catalog: Catalog) -> None:
    every = all_instruments(catalog=demo_catalog)
    assert every["order_book_id"].tolist() == [
        "000300.XSHG", "AAPL", "FB", "GOOG", "IBM", "IXIC", "MSFT", "SPX",
    ]  # fmt: skip
    assert every["listed_date"].dtype == "datetime64[ns]"
    assert every["bar_count"].dtype == "int64"
    first_bar = every.set_index("order_book_id").loc["AAPL", "first_bar"]
    assert first_bar == get_price("AAPL", catalog=demo_catalog).index[0]
    indices = all_instruments("INDX", catalog=demo_catalog)
    assert indices["order_book_id"].tolist() == ["000300.XSHG", "IXIC", "SPX"]
    assert all_instruments(market="cn", catalog=demo_catalog)["order_book_id"].tolist() == [
        "000300.XSHG"
    ]
    us_stocks = all_instruments(["cs"], market="US", catalog=demo_catalog)
    assert us_stocks["order_book_id"].tolist() == ["AAPL", "FB", "GOOG", "IBM", "MSFT"]
    with pytest.raises(InvalidArgument, match="type 'bond'"):
        all_instruments("bond", catalog=demo_catalog)
    with pytest.raises(InvalidArgument, match="market 'hk'"):
        all_instruments(market="hk", catalog=demo_catalog)


def test_the_helpers_read_the_settings_catalog_by_default(
    demo_catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATA_DIR", str(demo_catalog.root))
    assert quantdesk.all_instruments("INDX")["order_book_id"].tolist() == [
        "000300.XSHG", "IXIC", "SPX",
    ]  # fmt: skip
    assert len(quantdesk.get_price("SPX", "2010-01-04", "2010-01-08")) == 5


# -- load_job ----------------------------------------------------------------------------------


def assert_same_result(loaded: BacktestResult, original: BacktestResult) -> None:
    for name in FRAMES:
        pd.testing.assert_frame_equal(getattr(loaded, name), getattr(original, name))
    assert loaded.summary == original.summary
    assert loaded.config == original.config
    assert loaded.to_json() == original.to_json()


def test_a_finished_job_loads_back_as_the_same_result(
    rotation: BacktestResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rotation.write(tmp_path / "3f2a9c")
    monkeypatch.setenv(JOBS_DIR_ENV, str(tmp_path))
    loaded = quantdesk.load_job("3f2a9c")
    assert_same_result(loaded, rotation)
    assert isinstance(loaded.portfolio.index, pd.DatetimeIndex)
    assert loaded.stats().equals(rotation.stats())


def test_load_job_explains_an_unknown_or_unfinished_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(JOBS_DIR_ENV, str(tmp_path))
    with pytest.raises(NotFound, match="not among your finished jobs"):
        load_job("0123abcd")
    (tmp_path / "running1").mkdir()
    (tmp_path / "running1" / "status.json").write_text(json.dumps({"status": "RUNNING"}))
    with pytest.raises(NotFound, match="has no result: it is running"):
        load_job("running1")
    (tmp_path / "failed1").mkdir()
    (tmp_path / "failed1" / "error.json").write_text(
        json.dumps({"code": "STRATEGY_ERROR", "message": "ZeroDivisionError"})
    )
    with pytest.raises(NotFound, match=r"it failed \(STRATEGY_ERROR: ZeroDivisionError\)"):
        load_job("failed1")
    for bad in ("../etc", "a/b", "", ".hidden"):
        with pytest.raises(InvalidArgument, match="not a job id"):
            load_job(bad)


def test_outside_a_notebook_the_job_is_found_under_the_backtest_base_dir(
    with_rf: BacktestResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(JOBS_DIR_ENV, raising=False)
    settings = Settings(backtest_base_dir=tmp_path)
    # as the platform lays it out: runs/<day>/<id> and runs_index/<id>.json pointing there
    with_rf.write(tmp_path / "runs" / "2026-11-30" / "feed01")
    (tmp_path / "runs_index").mkdir()
    entry = {"job_id": "feed01", "run_dir": "runs/2026-11-30/feed01"}
    (tmp_path / "runs_index" / "feed01.json").write_text(json.dumps(entry))
    assert_same_result(load_job("feed01", settings=settings), with_rf)
    # a folder the index does not list is still found by its name
    with_rf.write(tmp_path / "runs" / "2026-11-29" / "beef02")
    assert_same_result(load_job("beef02", settings=settings), with_rf)
    with pytest.raises(NotFound, match="BACKTEST_BASE_DIR"):
        load_job("cafe03", settings=settings)


def test_read_and_from_dict_rebuild_the_dtypes_of_a_run(with_rf: BacktestResult) -> None:
    again = BacktestResult.from_dict(json.loads(with_rf.to_json()))
    for name in FRAMES:
        assert getattr(again, name).dtypes.to_dict() == getattr(with_rf, name).dtypes.to_dict()
    # no benchmark: the benchmark columns are NaN floats, not None objects
    assert again.portfolio["benchmark_nav"].dtype == "float64"
    assert again.portfolio["benchmark_nav"].isna().all()
    with pytest.raises(ValueError, match="not a backtest result"):
        BacktestResult.from_dict({"summary": {}})


# -- the result's frames and views --------------------------------------------------------------


def test_the_per_session_frames_are_indexed_by_a_datetime_index(rotation: BacktestResult) -> None:
    for frame in (rotation.portfolio, rotation.positions):
        assert isinstance(frame.index, pd.DatetimeIndex) and frame.index.name == "date"
        assert frame.index.tz is None
        assert (frame.index == frame.index.normalize()).all()
    monthly = rotation.portfolio["nav"].resample("ME").last()
    assert len(monthly) == 84  # 2006-01 .. 2012-12
    assert monthly.iloc[-1] == rotation.portfolio["nav"].iloc[-1]
    assert pd.DatetimeIndex(rotation.portfolio.loc["2008"].index).year.unique().tolist() == [2008]
    held = rotation.positions.pivot(columns="order_book_id", values="market_value")
    assert held.resample("YE").last().shape[0] == 7
    # the files keep the dates as YYYY-MM-DD text
    payload = json.loads(rotation.to_json())
    assert payload["portfolio"]["date"][0] == payload["equity"]["dates"][0] == "2006-01-03"
    assert payload["positions"]["date"][0] == "2006-01-03"
    assert list(payload["positions"])[:2] == ["date", "order_book_id"]


def test_stats_match_empyrical_where_the_definitions_agree(
    rotation: BacktestResult, with_rf: BacktestResult
) -> None:
    for result, rf in ((rotation, 0.0), (with_rf, 0.03)):
        s = result.stats()
        r = result.portfolio["returns"]
        rf_d = (1 + rf) ** (1 / 252) - 1
        assert s["Sharpe Ratio"] == pytest.approx(ep.sharpe_ratio(r, risk_free=rf_d), abs=1e-9)
        assert s["Sortino Ratio"] == pytest.approx(
            ep.sortino_ratio(r, required_return=rf_d), abs=1e-9
        )
        assert s["Max. Drawdown [%]"] / 100 == pytest.approx(ep.max_drawdown(r), abs=1e-9)
        assert s["Return (Ann.) [%]"] / 100 == pytest.approx(ep.annual_return(r), abs=1e-9)
        assert s["Volatility (Ann.) [%]"] / 100 == pytest.approx(ep.annual_volatility(r), abs=1e-9)
        assert s["Calmar Ratio"] == pytest.approx(ep.calmar_ratio(r), abs=1e-9)
        # the same figures as the run's summary
        assert s["Return [%]"] == pytest.approx(100 * result.summary["total_returns"], abs=1e-9)
        assert s["Sharpe Ratio"] == pytest.approx(result.summary["sharpe"], abs=1e-12)
        assert s["Max. Drawdown [%]"] == pytest.approx(-100 * result.summary["max_drawdown"])


def test_stats_describe_the_run_and_its_round_trips(rotation: BacktestResult) -> None:
    s = rotation.stats()
    pf = rotation.portfolio
    assert s["Start"] == pd.Timestamp("2006-01-03") and s["End"] == pd.Timestamp("2012-12-31")
    assert s["Duration"] == pd.Timedelta(days=2554)
    assert s["Equity Final"] == pf["total_value"].iloc[-1]
    assert s["Equity Peak"] == pf["total_value"].max()
    spx = pf["benchmark_close"]
    assert s["Buy & Hold Return [%]"] == pytest.approx(
        100 * (pf["benchmark_nav"].iloc[-1] - 1), rel=1e-9
    )
    assert spx.notna().all()
    sessions_held = rotation.positions.index.unique()
    assert s["Exposure Time [%]"] == pytest.approx(100 * len(sessions_held) / len(pf))

    trips = rotation.round_trips()
    pnl, ret = trips["pnl"], trips["return"]
    assert s["# Trades"] == len(trips) > 100
    assert s["Win Rate [%]"] == pytest.approx(100 * (pnl > 0).mean())
    assert s["Best Trade [%]"] == pytest.approx(100 * ret.max())
    assert s["Worst Trade [%]"] == pytest.approx(100 * ret.min())
    growth = float(np.prod(1 + ret.to_numpy()))
    assert s["Avg. Trade [%]"] == pytest.approx(100 * (growth ** (1 / len(ret)) - 1))
    assert s["Expectancy [%]"] == pytest.approx(100 * ret.mean())
    assert s["Profit Factor"] == pytest.approx(pnl[pnl > 0].sum() / -pnl[pnl < 0].sum())
    assert s["SQN"] == pytest.approx(math.sqrt(len(pnl)) * pnl.mean() / pnl.std())
    assert s["Max. Trade Duration"] == pd.Timedelta(days=int(trips["holding_days"].max()))
    # instruments the rotation ended flat in: their trips add up to the engine's realized P/L
    last = rotation.positions.loc[rotation.positions.index.max(), "order_book_id"]
    flat = set(trips["order_book_id"]) - set(np.atleast_1d(last))
    fills = rotation.trades[rotation.trades["order_book_id"].isin(flat)]
    assert flat
    assert trips[trips["order_book_id"].isin(flat)]["pnl"].sum() == pytest.approx(
        fills["realized_pnl"].sum(), abs=1e-6
    )


def test_drawdown_durations_match_a_walk_over_the_nav(rotation: BacktestResult) -> None:
    nav, dates = rotation.portfolio["nav"].tolist(), list(rotation.portfolio.index)
    periods, peak, peak_date, depth = [], 1.0, dates[0], 0.0
    for day, value in zip(dates, nav, strict=True):
        if value >= peak:
            if depth > 0:
                periods.append((day - peak_date, depth))
            peak, peak_date, depth = value, day, 0.0
        else:
            depth = max(depth, 1 - value / peak)
    if depth > 0:
        periods.append((dates[-1] - peak_date, depth))
    s = rotation.stats()
    assert s["Max. Drawdown Duration"] == max(d for d, _ in periods)
    mean_days = pd.Timedelta(sum((d for d, _ in periods), pd.Timedelta(0)) / len(periods))
    assert s["Avg. Drawdown Duration"] == mean_days.ceil("D")
    assert s["Avg. Drawdown [%]"] == pytest.approx(-100 * np.mean([x for _, x in periods]))
    assert s["Max. Drawdown [%]"] == pytest.approx(-100 * max(x for _, x in periods))


def test_repr_is_short_and_names_the_run(rotation: BacktestResult) -> None:
    text = repr(rotation)
    lines = text.splitlines()
    assert len(lines) == 2
    assert "'<b>rotation</b> & co'" in lines[0] and "2006-01-03..2012-12-31" in lines[0]
    s = rotation.summary
    assert f"return {100 * s['total_returns']:+.2f}%" in lines[1]
    assert f"Sharpe {s['sharpe']:.2f}" in lines[1]
    assert f"max drawdown {100 * s['max_drawdown']:.2f}%" in lines[1]
    assert f"{s['trade_count']} fills" in lines[1]


def test_the_html_view_has_the_metrics_and_a_sparkline_and_escapes_text(
    rotation: BacktestResult,
) -> None:
    page = rotation._repr_html_()
    s = rotation.stats()
    assert f"{s['Sharpe Ratio']:.2f}" in page and "Sharpe Ratio" in page
    assert f"{s['Max. Drawdown [%]']:.2f}%" in page
    assert f">{s['# Trades']}</td>" in page
    assert "Buy &amp; Hold Return [%]" in page
    assert page.count("<svg") == 1 and page.count("<polyline") == 2  # NAV and benchmark
    assert "&lt;b&gt;rotation&lt;/b&gt; &amp; co" in page and "<b>rotation</b>" not in page
    assert "<script" not in page


def test_plot_draws_nav_drawdown_and_prices_with_fills(
    rotation: BacktestResult, demo_catalog: Catalog
) -> None:
    pytest.importorskip("plotly", reason="plotly comes with the research extra")
    fig = rotation.plot(catalog=demo_catalog)
    assert type(fig).__name__ == "Figure"
    rows = {t.name: t.yaxis for t in fig.data}
    assert rows["NAV"] == rows["SPX"] == "y"
    assert rows["drawdown"] == "y2"
    assert {rows[oid] for oid in ("AAPL", "GOOG", "IBM", "MSFT")} == {"y3"}
    marks = [t for t in fig.data if t.mode == "markers"]
    assert sum(len(t.x) for t in marks) == len(rotation.trades)
    underwater = next(t for t in fig.data if t.name == "drawdown").y
    assert min(underwater) == pytest.approx(-rotation.summary["max_drawdown"])
    assert fig.layout.yaxis3.title.text == "price"


def test_plot_names_the_extra_when_plotly_is_missing(
    rotation: BacktestResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "plotly", None)
    monkeypatch.setitem(sys.modules, "plotly.graph_objects", None)
    with pytest.raises(ImportError, match=r"quantdesk\[research\]"):
        rotation.plot()
