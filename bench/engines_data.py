"""Benchmark datasets (demo stocks, seeded synthetic walks) and the native runs over them.

Imports only numpy, pandas and quantdesk, so that a child process timing one engine carries
no other engine's modules (peak memory is measured per child).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from quantdesk.core.errors import NotFound
from quantdesk.core.instruments import Instrument, InstrumentType, Market
from quantdesk.engine import BarSeries, Engine, EngineConfig, EngineResult, Matching
from quantdesk.engine.profiles import market_profile

FAST, SLOW, CASH = 10, 30, 100_000.0
DEMO_IDS = ("AAPL", "FB", "GOOG", "IBM", "MSFT")
DEMO_START, DEMO_END = dt.date(2000, 3, 1), dt.date(2013, 3, 1)
SYNTHETIC_END = dt.date(2019, 12, 31)
SIGN = {"BUY": 1, "SELL": -1}
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
#: Session arrays cached like a catalog does, so children never import exchange_calendars.
CALENDAR_CACHE = Path(tempfile.gettempdir()) / "qd-bench-calendars"

#: The strategies a user would run (their one plot() call per session is well under 1%).
STRATEGIES = {
    "hist": (EXAMPLES / "sma_crossover.py").read_text(),
    "ind": (EXAMPLES / "sma_crossover_fast.py").read_text(),
    "noop": "def handle_bar(context, bar_dict):\n    pass\n",
}

Fills = list[tuple[str, int]]  # (ISO session date, signed quantity)


@dataclass(frozen=True)
class Dataset:
    """Bars of several instruments plus the XNYS sessions spanning them."""

    name: str
    sessions: np.ndarray  # datetime64[D]
    bars: dict[str, BarSeries]
    instruments: dict[str, Instrument]

    @property
    def n_bars(self) -> int:
        return sum(len(s) for s in self.bars.values())


@dataclass
class Outcome:
    """What one engine did: fills and final value per instrument (or ``portfolio``)."""

    fills: dict[str, Fills] = field(default_factory=dict)
    final_value: dict[str, float] = field(default_factory=dict)
    unfilled_at_end: dict[str, Fills] = field(default_factory=dict)
    rejected: int = 0


class MemoryBarSource:
    """A ``quantdesk.engine.BarSource`` over a ``Dataset`` held in memory."""

    def __init__(self, dataset: Dataset) -> None:
        self._ds = dataset

    def instrument(self, order_book_id: str) -> Instrument:
        try:
            return self._ds.instruments[order_book_id]
        except KeyError:
            raise NotFound(f"unknown order_book_id {order_book_id!r}") from None

    def sessions(self, _calendar: str, start: dt.date, end: dt.date) -> np.ndarray:
        s = self._ds.sessions
        return s[(s >= np.datetime64(start, "D")) & (s <= np.datetime64(end, "D"))]

    def bars(self, order_book_id: str, end: dt.date) -> BarSeries:
        full = self._ds.bars[order_book_id]
        n = int(np.searchsorted(full.dates, np.datetime64(end, "D"), side="right"))
        cols = (full.open, full.high, full.low, full.close, full.volume)
        return BarSeries(order_book_id, full.dates[:n], *(c[:n].copy() for c in cols))


def load_demo() -> Dataset:
    """The five demo stocks, unadjusted OHLCV, on the XNYS sessions of 2000-03..2013-03."""
    from quantdesk.data.calendars import sessions as calendar_sessions
    from quantdesk.data.demo import DEMO_INSTRUMENTS, demo_frames

    frames = demo_frames()
    bars: dict[str, BarSeries] = {}
    for oid in DEMO_IDS:
        f = frames[oid]
        cols = [f[c].to_numpy(dtype=np.float64) for c in ("open", "high", "low", "close", "volume")]
        bars[oid] = BarSeries(oid, f["date"].to_numpy().astype("datetime64[D]"), *cols)
    sessions = calendar_sessions("XNYS", DEMO_START, DEMO_END, CALENDAR_CACHE)
    return Dataset("demo", sessions, bars, {oid: DEMO_INSTRUMENTS[oid] for oid in DEMO_IDS})


def make_synthetic(n_instruments: int, n_sessions: int, seed: int) -> Dataset:
    """Geometric random walks over the last ``n_sessions`` XNYS sessions to 2019-12-31."""
    from quantdesk.data.calendars import sessions as calendar_sessions

    first = dt.date(1990, 1, 1)
    sessions = calendar_sessions("XNYS", first, SYNTHETIC_END, CALENDAR_CACHE)[-n_sessions:]
    if len(sessions) < n_sessions:
        raise SystemExit(f"only {len(sessions)} XNYS sessions available")
    rng = np.random.default_rng(seed)
    shape = (n_instruments, n_sessions)
    close = rng.uniform(10, 200, (n_instruments, 1)) * np.exp(
        np.cumsum(rng.normal(0.0002, 0.02, shape), axis=1)
    )
    prev = np.concatenate([close[:, :1], close[:, :-1]], axis=1)
    open_ = prev * np.exp(rng.normal(0, 0.005, shape))
    del prev
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.01, shape)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.01, shape)))
    volume = np.round(rng.lognormal(14, 0.5, shape)) + 1.0
    bars, instruments = {}, {}
    for i in range(n_instruments):
        oid = f"S{i:04d}"
        bars[oid] = BarSeries(oid, sessions, open_[i], high[i], low[i], close[i], volume[i])
        instruments[oid] = Instrument(
            oid, oid, oid, Market.US, InstrumentType.STOCK, "XNYS", 1, dt.date(1990, 1, 1),
            None, "USD",
        )  # fmt: skip
    return Dataset("synthetic", sessions, bars, instruments)


def day(d: np.datetime64) -> dt.date:
    """``datetime64`` -> ``date``."""
    return d.astype("datetime64[D]").astype(dt.date)  # type: ignore[no-any-return]


def native_run(
    ds: Dataset, strategy: str, ids: tuple[str, ...], start: dt.date, end: dt.date
) -> EngineResult:
    """One ``Engine`` run (current_bar matching, no costs) of ``STRATEGIES[strategy]``."""
    config = EngineConfig(
        start=start, end=end, cash=CASH, universe=ids, benchmark=None,
        profile=market_profile("us_stock"), matching=Matching.CURRENT_BAR,
        params={} if strategy == "noop" else {"fast": FAST, "slow": SLOW},
    )  # fmt: skip
    return Engine(MemoryBarSource(ds), config).run(STRATEGIES[strategy], f"sma_{strategy}.py")


def native_multi(ds: Dataset, strategy: str) -> Outcome:
    """One native run over every instrument of ``ds``."""
    res = native_run(ds, strategy, tuple(ds.bars), day(ds.sessions[0]), day(ds.sessions[-1]))
    out = Outcome(fills={oid: [] for oid in ds.bars})
    for f in res.fills:
        out.fills[f.order_book_id].append(
            (f.datetime.date().isoformat(), f.quantity * SIGN[f.side])
        )
    out.final_value["portfolio"] = res.portfolio["total_value"][-1]
    out.rejected = sum(o.status != "FILLED" for o in res.orders)
    return out


def native_single(ds: Dataset, strategy: str) -> Outcome:
    """One native run per instrument, from its first to its last bar."""
    out = Outcome()
    for oid, s in ds.bars.items():
        res = native_run(ds, strategy, (oid,), day(s.dates[0]), day(s.dates[-1]))
        out.fills[oid] = [
            (f.datetime.date().isoformat(), f.quantity * SIGN[f.side]) for f in res.fills
        ]
        out.final_value[oid] = res.portfolio["total_value"][-1]
        out.rejected += sum(o.status != "FILLED" for o in res.orders)
    return out
