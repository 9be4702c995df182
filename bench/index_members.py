"""Benchmark: index membership lookups as a backtest makes them (one per session).

A seeded synthetic history of two 300-member indexes over ~20 years (800 compositions
each, 5 members replaced per composition: 480,000 stored rows) is merged into a catalog
through the real path (``IndexMembership.merge``). Then:

* **open**: the first lookup of a fresh process (read the Parquet file, build the index);
* **lookup**: ``composition_on(index, day)`` for every calendar day of ``--days`` days, the
  way ``index_components`` is called from ``handle_bar``.

The peer, measured in the same run on the same rows, is the direct pandas query (filter the
table by index and ``date <= day``, take the latest date's rows): what ``composition_on``
did before it kept each index's compositions sorted for ``bisect``. The ratio is peer /
quantdesk (> 1: quantdesk faster).

Run: uv run python bench/index_members.py [--compositions 800] [--members 300] [--days 2000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from quantdesk.data.index_members import Composition  # noqa: E402
from quantdesk.data.index_store import IndexMembership  # noqa: E402


def history(index_id: str, compositions: int, members: int, seed: int) -> list[Composition]:
    """A random index history: every 9 days, 5 of ``members`` replaced from a pool."""
    rng = random.Random(seed)
    pool = [f"{600000 + i:06d}.XSHG" for i in range(members * 5)]
    held = set(rng.sample(pool, members))
    day = dt.date(2005, 1, 3)
    out = []
    for _ in range(compositions):
        held -= set(rng.sample(sorted(held), 5))
        held |= set(rng.sample([p for p in pool if p not in held], 5))
        out.append(Composition(index_id, day, tuple(sorted(held)), None, "bench"))
        day += dt.timedelta(days=9)
    return out


def pandas_lookup(frame: pd.DataFrame, index_id: str, day: dt.date) -> list[str]:
    """The peer: filter the whole table for each lookup."""
    rows = frame[(frame["index_id"] == index_id) & (frame["date"] <= day)]
    latest = rows["date"].max()
    return rows.loc[rows["date"] == latest, "order_book_id"].tolist()


def main() -> None:
    """Build the history, time both ways of looking it up, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compositions", type=int, default=800)
    parser.add_argument("--members", type=int, default=300)
    parser.add_argument("--days", type=int, default=2000)
    parser.add_argument("--peer-days", type=int, default=200, help="the peer is slow")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="qd-bench-index-"))
    comps = [
        *history("000300.XSHG", args.compositions, args.members, 1),
        *history("000905.XSHG", args.compositions, args.members, 2),
    ]
    t0 = time.perf_counter()
    IndexMembership(root).merge(comps)
    merged = time.perf_counter() - t0
    fresh = IndexMembership(root)
    first = dt.date(2005, 2, 1)
    t0 = time.perf_counter()
    fresh.composition_on("000300.XSHG", first)
    opened = time.perf_counter() - t0
    days = [first + dt.timedelta(days=i) for i in range(args.days)]
    t0 = time.perf_counter()
    ours = [fresh.composition_on("000300.XSHG", d).order_book_ids for d in days]
    per_lookup = (time.perf_counter() - t0) / len(days)
    frame = fresh.frame()
    sample = days[:: max(len(days) // args.peer_days, 1)]
    t0 = time.perf_counter()
    theirs = [pandas_lookup(frame, "000300.XSHG", d) for d in sample]
    per_peer = (time.perf_counter() - t0) / len(sample)
    step = max(len(days) // args.peer_days, 1)
    assert [list(o) for o in ours[::step]] == theirs  # both ways agree
    print(f"{len(frame):,} stored rows ({len(comps):,} compositions of 2 indexes)")
    print("| figure | quantdesk | pandas filter per lookup |")
    print("|---|---|---|")
    print(f"| merge (write) | {merged * 1e3:.0f} ms | |")
    print(f"| open (read + build, first lookup) | {opened * 1e3:.0f} ms | |")
    print(f"| lookup, per session | {per_lookup * 1e6:.1f} us | {per_peer * 1e6:,.0f} us "
          f"({per_peer / per_lookup:,.0f}x) |")  # fmt: skip
    print(f"| {args.days} sessions of index_components | {per_lookup * args.days * 1e3:.1f} ms"
          f" | {per_peer * args.days:.1f} s |")  # fmt: skip


if __name__ == "__main__":
    main()
