"""Golden runs on the real demo data, checked against independent re-computations."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd
import pytest

from quantdesk.backtest import run_backtest
from quantdesk.data import Adjust, Catalog

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_buy_and_hold_matches_the_price_path(demo_catalog: Catalog) -> None:
    res = run_backtest(
        EXAMPLES / "buy_and_hold.py",
        start="2005-01-03",
        end="2012-12-31",
        universe=["AAPL"],
        benchmark="SPX",
        catalog=demo_catalog,
    )
    pre = demo_catalog.bars_frame("AAPL", adjust=Adjust.PRE)["close"]
    p0, p1 = pre["2005-01-03"], pre["2012-12-31"]
    qty = math.floor(100_000 / p0)
    final = 100_000 - qty * p0 + qty * p1
    s = res.summary
    assert res.trades["quantity"].tolist() == [qty]
    assert s["total_value"] == pytest.approx(final, rel=1e-12)
    assert s["total_returns"] == pytest.approx(final / 100_000 - 1, rel=1e-12)
    assert s["annualized_returns"] == pytest.approx((final / 100_000) ** (252 / 2013) - 1)
    spx = demo_catalog.bars_frame("SPX")["close"]
    assert s["benchmark_total_returns"] == pytest.approx(
        spx["2012-12-31"] / spx["2004-12-31"] - 1, rel=1e-12
    )
    # No split crash under `pre`: the worst day is the 2008 crash, not 2005-02-28.
    worst = res.portfolio["returns"].idxmin()
    assert worst != pd.Timestamp("2005-02-28")
    assert res.portfolio["returns"].min() > -0.2


def test_unadjusted_run_shows_the_split_as_a_loss(demo_catalog: Catalog) -> None:
    res = run_backtest(
        EXAMPLES / "buy_and_hold.py",
        start="2005-02-01",
        end="2005-03-31",
        universe="AAPL",
        adjust="none",
        catalog=demo_catalog,
    )
    # The portfolio is indexed by a DatetimeIndex; the stubs type idxmin() as a bare Hashable.
    worst = cast(pd.Timestamp, res.portfolio["returns"].idxmin())
    assert worst == pd.Timestamp("2005-02-28")
    assert res.portfolio["returns"].min() < -0.45
    assert res.logs[0] == (
        "2005-02-01 WARNING AAPL splits 2:1 on 2005-02-28; with adjust=none its price drops"
        " but holdings are not split (use adjust=pre)"
    )


def _sma_reference(closes: np.ndarray, start: int, fast: int, slow: int) -> tuple[float, int]:
    """Independent simulation: all-in at the close when fast > slow, all-out when below."""
    cash, held, fills = 100_000.0, 0, 0
    for i in range(start, len(closes)):
        window = closes[max(0, i + 1 - slow) : i + 1]
        if len(window) < slow:
            continue
        fast_ma, slow_ma = window[-fast:].mean(), window.mean()
        if fast_ma > slow_ma and held == 0:
            held = int(cash / closes[i])
            cash -= held * closes[i]
            fills += 1
        elif fast_ma < slow_ma and held > 0:
            cash += held * closes[i]
            held = 0
            fills += 1
    return cash + held * closes[-1], fills


@pytest.mark.parametrize("oid", ["AAPL", "IBM", "MSFT"])
def test_sma_crossover_matches_an_independent_simulation(demo_catalog: Catalog, oid: str) -> None:
    res = run_backtest(
        EXAMPLES / "sma_crossover.py",
        start="2005-01-03",
        end="2012-12-31",
        universe=[oid],
        params={"fast": 10, "slow": 30},
        catalog=demo_catalog,
    )
    bars = demo_catalog.bars_frame(oid, end=pd.Timestamp("2012-12-31").date(), adjust=Adjust.PRE)
    closes = bars["close"].to_numpy()
    start = int(np.searchsorted(bars.index.to_numpy(), np.datetime64("2005-01-03")))
    final, fills = _sma_reference(closes, start, 10, 30)
    assert res.summary["trade_count"] == fills
    assert res.summary["total_value"] == pytest.approx(final, rel=1e-9)


def test_same_inputs_same_output_bytes(demo_catalog: Catalog) -> None:
    def run() -> str:
        return run_backtest(
            EXAMPLES / "momentum_rotation.py",
            start="2006-01-03",
            end="2012-12-31",
            universe="AAPL,GOOG,IBM,MSFT",
            catalog=demo_catalog,
        ).to_json()

    first, second = run(), run()
    assert first == second
    payload = json.loads(first)
    assert payload["summary"]["trade_count"] == payload["trades_total"] > 50


def test_every_example_runs(demo_catalog: Catalog) -> None:
    for path in sorted(EXAMPLES.glob("*.py")):
        kwargs: dict[str, object] = {"start": "2007-01-04", "end": "2012-12-31"}
        if "csi300" in path.name:
            kwargs.update(market="cn_stock", cash=1_000_000)
        res = run_backtest(path, catalog=demo_catalog, **kwargs)  # type: ignore[arg-type]
        assert res.summary["trade_count"] > 0, path.name
