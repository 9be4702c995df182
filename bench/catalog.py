"""Benchmark: the market-data catalog as it grows (a synthetic 5,000-instrument catalog).

What it measures, on a seeded random-walk catalog of N instruments x S XNYS sessions built
through the real import path (``Catalog.import_bars``: validation, Parquet files):

* **listing**: ``GET /api/data/instruments`` (the whole table) and a search (``q=``, a page of
  50) through the API's service;
* **one instrument's year** of bars (``Catalog.bars_frame`` with ``start``/``end``), and the
  same through the API's ``bars`` (columns as JSON-ready lists);
* **a backtest over 300 instruments** for one year (the native engine, an equal-weight
  monthly rebalance).

Peers measured in the same run, on the same bars: one Parquet file of every bar read with
pandas and filtered (the "one big table" layout), and DuckDB querying that file by id and date
(``duckdb`` when installed). Ratios are peer / quantdesk (> 1: quantdesk faster).

Run: uv run python bench/catalog.py [--instruments 5000] [--sessions 750] [--universe 300]
         [--repeat 5] [--seed 7]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from quantdesk.backtest.run import run_backtest  # noqa: E402 -- after the path fix
from quantdesk.core.instruments import Instrument, InstrumentType, Market  # noqa: E402
from quantdesk.core.settings import Settings  # noqa: E402
from quantdesk.data import Catalog  # noqa: E402
from quantdesk.data.calendars import sessions  # noqa: E402
from quantdesk.services.data import DataService  # noqa: E402

REBALANCE = """
def init(context):
    context.month = None

def handle_bar(context, bar_dict):
    month = context.now.month
    if month == context.month:
        return
    context.month = month
    ids = context.universe
    for oid in ids:
        order_target_percent(oid, 0.95 / len(ids))
"""


def best(fn: Callable[[], Any], repeat: int) -> float:
    """Best wall time of ``repeat`` calls (seconds)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def build(root: Path, n: int, days: pd.DatetimeIndex, seed: int) -> pd.DataFrame:
    """A catalog of ``n`` random walks over ``days``; returns every bar as one frame."""
    rng = np.random.default_rng(seed)
    catalog = Catalog(root)
    frames, batch = [], []
    for i in range(n):
        oid = f"S{i:05d}"
        close = 50 * np.exp(np.cumsum(rng.normal(0.0002, 0.02, len(days))))
        spread = close * 0.01
        frame = pd.DataFrame({
            "date": days.date, "open": close, "high": close + spread, "low": close - spread,
            "close": close, "volume": rng.integers(10_000, 1_000_000, len(days)),
        })  # fmt: skip
        batch.append((
            Instrument(oid, oid, f"Synthetic {i}", Market.US, InstrumentType.STOCK, "XNYS", 1,
                       days[0].date(), None, "USD"),
            frame,
        ))  # fmt: skip
        frames.append(frame.assign(order_book_id=oid))
    catalog.import_many(batch)  # validated, one bar file each, the instruments table once
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instruments", type=int, default=5000)
    parser.add_argument("--sessions", type=int, default=750)
    parser.add_argument("--universe", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    all_days = pd.DatetimeIndex(sessions("XNYS", dt.date(2015, 1, 2), dt.date(2025, 12, 31)))
    days = all_days[: args.sessions]
    with tempfile.TemporaryDirectory(prefix="qd-bench-catalog-") as tmp:
        root = Path(tmp) / "data"
        t0 = time.perf_counter()
        every = build(root, args.instruments, days, args.seed)
        built = time.perf_counter() - t0
        big = Path(tmp) / "all_bars.parquet"
        every.to_parquet(big, index=False)
        settings = Settings(_env_file=None, data_dir=root, backtest_base_dir=Path(tmp) / "bt")
        service = DataService(None, settings, Catalog(root))  # type: ignore[arg-type]
        oid = f"S{args.instruments // 2:05d}"
        year = (days[-252].date(), days[-1].date())
        catalog = Catalog(root)
        figures: dict[str, float] = {
            "listing (all)": best(service.instruments, args.repeat),
            "search (q=, 50)": best(lambda: service.instruments("s012", limit=50), args.repeat),
            "one year of bars": best(lambda: catalog.bars_frame(oid, *year), args.repeat),
            "one year via API": best(
                lambda: service.bars(oid, year[0].isoformat(), year[1].isoformat(), "none"),
                args.repeat,
            ),
        }

        def peer_pandas() -> pd.DataFrame:
            frame = pd.read_parquet(big)
            mask = (frame["order_book_id"] == oid) & (frame["date"] >= year[0])
            return frame[mask & (frame["date"] <= year[1])]

        peers = {"one year of bars": {"pandas, one big Parquet": best(peer_pandas, args.repeat)}}
        try:
            import duckdb

            query = (f"SELECT * FROM read_parquet('{big}') WHERE order_book_id = '{oid}' "
                     f"AND date BETWEEN DATE '{year[0]}' AND DATE '{year[1]}'")  # fmt: skip
            peers["one year of bars"]["duckdb, one big Parquet"] = best(
                lambda: duckdb.sql(query).df(), args.repeat
            )
        except ImportError:
            pass
        strategy = Path(tmp) / "rebalance.py"
        strategy.write_text(REBALANCE)
        universe = [f"S{i:05d}" for i in range(args.universe)]
        figures[f"backtest, {args.universe} instruments x 1 year"] = best(
            lambda: run_backtest(strategy, start=year[0], end=year[1], universe=universe,
                                 benchmark="none", catalog=catalog),
            max(1, args.repeat // 2),
        )  # fmt: skip
    print(f"catalog: {args.instruments} instruments x {args.sessions} sessions "
          f"({args.instruments * args.sessions:,} bars), built in {built:.1f} s")  # fmt: skip
    for name, seconds in figures.items():
        line = f"  {name:<40} {seconds * 1000:10.2f} ms"
        for peer, theirs in peers.get(name, {}).items():
            line += f"   | {peer}: {theirs * 1000:.2f} ms ({theirs / seconds:.1f}x)"
        print(line)
    print(f"  median of the figures: {statistics.median(figures.values()) * 1000:.2f} ms")


if __name__ == "__main__":
    main()
