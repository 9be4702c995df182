"""The same SMA(10/30) rule on the peer engines: backtrader, backtesting.py, vectorbt, RQAlpha.

Each runner imports its library itself (a benchmark child process loads one engine only) and
returns an ``Outcome``: per instrument, fills (session, signed quantity) and final value.
The rule everywhere: long-only state rule (buy all-in when SMA(10) > SMA(30) and flat, sell
all when SMA(10) < SMA(30) and long), filled at the signal bar's close, cash 100,000, no costs.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engines_data import CASH, FAST, SLOW, Dataset, Outcome, day, native_run
from quantdesk.engine.indicators import sma


def frames(ds: Dataset, title_case: bool = False) -> dict[str, pd.DataFrame]:
    """One OHLCV DataFrame per instrument (DatetimeIndex), built before timing starts."""
    out = {}
    for oid, s in ds.bars.items():
        cols = {"open": s.open, "high": s.high, "low": s.low, "close": s.close, "volume": s.volume}
        if title_case:
            cols = {k.title(): v for k, v in cols.items()}
        out[oid] = pd.DataFrame(cols, index=pd.DatetimeIndex(s.dates.astype("datetime64[ns]")))
    return out


def run_backtrader(data: dict[str, pd.DataFrame]) -> Outcome:
    """One cerebro per instrument: ``bt.ind.SMA`` in ``__init__``, cheat-on-close,
    ``runonce``/``preload`` on, ``stdstats=False`` (no observers)."""
    import backtrader as bt

    class SmaCross(bt.Strategy):  # type: ignore[misc]
        """State rule (fast vs slow), not ``CrossOver`` events: ``CrossOver`` needs one more
        bar and would skip the entry on the first bar where SMA(30) exists."""

        params = (("fast", FAST), ("slow", SLOW))

        def __init__(self) -> None:
            self.fast = bt.ind.SMA(self.data.close, period=self.p.fast)
            self.slow = bt.ind.SMA(self.data.close, period=self.p.slow)
            self.fills: list[tuple[str, int]] = []
            self.pending: Any = None
            self.rejected = 0

        def next(self) -> None:
            if not self.position:
                if self.fast[0] > self.slow[0]:
                    size = int(self.broker.getcash() / self.data.close[0])
                    self.pending = self.buy(size=size)
            elif self.fast[0] < self.slow[0]:
                self.pending = self.close()

        def notify_order(self, order: Any) -> None:
            if order.status == order.Completed:
                when = bt.num2date(order.executed.dt).date().isoformat()
                self.fills.append((when, int(order.executed.size)))
                self.pending = None
            elif order.status in (order.Canceled, order.Margin, order.Rejected):
                self.pending, self.rejected = None, self.rejected + 1

    out = Outcome()
    for oid, frame in data.items():
        cerebro = bt.Cerebro(stdstats=False)
        cerebro.adddata(bt.feeds.PandasData(dataname=frame, openinterest=None), name=oid)
        cerebro.addstrategy(SmaCross)
        cerebro.broker.setcash(CASH)
        cerebro.broker.set_coc(True)
        strat = cerebro.run()[0]
        out.fills[oid] = strat.fills
        out.final_value[oid] = cerebro.broker.getvalue()
        out.rejected += strat.rejected
        # Cheat-on-close fills an order when the next bar arrives: one placed on the last
        # bar never executes (native fills it at that bar's close).
        if strat.pending is not None:
            o = strat.pending
            when = bt.num2date(o.created.dt).date().isoformat()
            out.unfilled_at_end[oid] = [(when, int(o.created.size))]
    return out


def run_backtesting(data: dict[str, pd.DataFrame]) -> Outcome:
    """backtesting.py, one ``Backtest`` per instrument: ``self.I(SMA)``, ``trade_on_close``."""
    import warnings

    os.environ.setdefault("TQDM_DISABLE", "1")  # its progress bar, on stderr
    from backtesting import Backtest, Strategy

    def slow_sma(close: np.ndarray) -> np.ndarray:
        # backtesting.py calls next() from the bar *after* the first one where every
        # indicator is set, one bar later than the other engines. Setting the bar before
        # that one to the fast average (neither above nor below: no signal) ends its
        # warm-up a bar earlier, so the first tradable bar is the same everywhere.
        fast, slow = sma(close, FAST), sma(close, SLOW)
        if len(close) >= SLOW:
            slow[SLOW - 2] = fast[SLOW - 2]
        return slow

    class SmaCross(Strategy):  # type: ignore[misc]
        def init(self) -> None:
            self.fast = self.I(sma, self.data.Close, FAST)
            self.slow = self.I(slow_sma, self.data.Close)

        def next(self) -> None:
            if not self.position:
                if self.fast[-1] > self.slow[-1]:
                    self.buy(size=int(self.equity / self.data.Close[-1]))
            elif self.fast[-1] < self.slow[-1]:
                self.position.close()

    out = Outcome()
    for oid, frame in data.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            test = Backtest(frame, SmaCross, cash=CASH, trade_on_close=True)
            stats = test.run()
        strat = stats._strategy
        fills: list[tuple[str, int]] = []
        for trade in [*strat.closed_trades, *strat.trades]:
            fills.append((trade.entry_time.date().isoformat(), int(trade.size)))
            if trade.exit_time is not None:
                fills.append((trade.exit_time.date().isoformat(), -int(trade.size)))
        out.fills[oid] = sorted(fills)
        out.final_value[oid] = float(stats["Equity Final [$]"])
        if strat.orders:  # placed on the last bar: filled at the next bar, which never comes
            last = frame.index[-1].date().isoformat()
            out.unfilled_at_end[oid] = [(last, int(o.size)) for o in strat.orders]
    return out


def run_vectorbt(ds: Dataset, warm_up: bool) -> Outcome:
    """vectorbt: one ``Portfolio.from_signals`` over all instruments (one column each,
    own cash), signals from numpy SMAs, whole shares, filled at the close."""
    import vectorbt as vbt

    index = pd.DatetimeIndex(ds.sessions.astype("datetime64[ns]"))
    close = pd.DataFrame(
        {
            oid: pd.Series(s.close, index=s.dates.astype("datetime64[ns]"))
            for oid, s in ds.bars.items()
        },
        index=index,
    )
    if warm_up:  # numba compiles on first use (seconds): not part of the timing
        small = close.iloc[:50, :1]
        vbt.Portfolio.from_signals(small, small > 0, small < 0, init_cash=CASH, size=np.inf,
                                   size_granularity=1.0, freq="1D")  # fmt: skip
    values = close.to_numpy()
    fast = np.full(values.shape, np.nan)
    slow = np.full(values.shape, np.nan)
    for j in range(values.shape[1]):
        col = values[:, j]
        ok = ~np.isnan(col)
        fast[ok, j] = sma(col[ok], FAST)
        slow[ok, j] = sma(col[ok], SLOW)
    entries = pd.DataFrame(fast > slow, index=index, columns=close.columns)
    exits = pd.DataFrame(fast < slow, index=index, columns=close.columns)
    pf = vbt.Portfolio.from_signals(
        close, entries, exits, init_cash=CASH, size=np.inf, size_granularity=1.0, freq="1D"
    )
    out = Outcome(fills={oid: [] for oid in ds.bars})
    rec = pf.orders.records
    cols = close.columns
    for col, idx, size, side in zip(rec["col"], rec["idx"], rec["size"], rec["side"], strict=True):
        sign = 1 if side == 0 else -1
        out.fills[cols[col]].append((index[idx].date().isoformat(), sign * round(float(size))))
    final = pf.final_value()
    for oid in cols:
        out.final_value[oid] = float(final[oid])
    return out


def run_rqalpha(ds: Dataset, oid: str, command: str, n_short: int = 20) -> dict[str, Any]:
    """RQAlpha on one instrument through ``quantdesk.run_backtest(engine="rqalpha")``.

    RQAlpha runs as an external command whose start-up (interpreter, bundle, config) costs
    seconds, so it runs twice: on the first ``n_short`` bars and on all bars of ``oid``; the
    per-bar cost is the difference over the extra bars (an extrapolation, stated as such).
    Returns both timings and the full run's fills, plus native's fills on the same catalog.
    """
    import time

    import quantdesk
    from quantdesk.core.settings import Settings
    from quantdesk.data.catalog import Catalog

    s = ds.bars[oid]
    with tempfile.TemporaryDirectory(prefix="qd-bench-rq-") as tmp:
        catalog = Catalog(Path(tmp) / "data")
        frame = pd.DataFrame(
            {"date": pd.DatetimeIndex(s.dates.astype("datetime64[ns]")), "open": s.open,
             "high": s.high, "low": s.low, "close": s.close, "volume": s.volume,
             "adj_close": s.close}
        )  # fmt: skip
        catalog.import_bars(ds.instruments[oid], frame)
        settings = Settings(rqalpha_command=command, data_dir=Path(tmp) / "data")
        os.environ.setdefault("RQALPHA_COMMAND", command)
        first, last = day(s.dates[0]), day(s.dates[-1])
        short_end = day(s.dates[min(n_short, len(s)) - 1])
        times, result = {}, None
        for label, end in (("short", short_end), ("full", last)):
            t0 = time.perf_counter()
            result = quantdesk.run_backtest(
                STRATEGY_FILE, start=first, end=end, universe=[oid], benchmark="none",
                adjust="none", catalog=catalog, settings=settings, engine="rqalpha",
                params={"fast": FAST, "slow": SLOW}, work_dir=Path(tmp) / f"rq-{label}",
            )  # fmt: skip
            times[label] = time.perf_counter() - t0
        assert result is not None
        trades = result.trades
        fills = [
            (ts.date().isoformat(), int(q) * (1 if side == "BUY" else -1))
            for ts, q, side in zip(trades["datetime"], trades["quantity"], trades["side"],
                                   strict=True)
        ]  # fmt: skip
        final = float(result.portfolio["total_value"].iloc[-1])
    native = native_run(ds, "hist", (oid,), first, last)
    return {
        "short_s": times["short"], "full_s": times["full"], "short_bars": min(n_short, len(s)),
        "full_bars": len(s), "fills": fills, "final": final,
        "native_fills": [
            (f.datetime.date().isoformat(), f.quantity * (1 if f.side == "BUY" else -1))
            for f in native.fills
        ],
        "native_final": native.portfolio["total_value"][-1],
    }  # fmt: skip


STRATEGY_FILE = Path(__file__).resolve().parents[1] / "examples" / "sma_crossover.py"
__all__ = ["frames", "run_backtesting", "run_backtrader", "run_rqalpha", "run_vectorbt"]
