"""Benchmark closes per session, computed from our bars the same way for every engine."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

from quantdesk.core.errors import DataUnavailable
from quantdesk.engine import BarSeries


def benchmark_closes(bench: BarSeries | None, sessions: list[dt.date]) -> tuple[list[float], float]:
    """The benchmark's close per session (the last known close) and its NAV base.

    The base is the close before the first session (as the native engine and RQAlpha),
    else the first session's open. Without a benchmark: NaN closes and a NaN base.

    Raises:
        DataUnavailable: the benchmark has no bar on or before the first session.
    """
    if bench is None:
        return [math.nan] * len(sessions), math.nan
    known = np.searchsorted(bench.dates, np.array(sessions, dtype="datetime64[D]"), "right")
    first = int(np.searchsorted(bench.dates, np.datetime64(sessions[0], "D")))
    if not known[0]:
        raise DataUnavailable(f"benchmark {bench.order_book_id} has no bar by {sessions[0]}")
    base = float(bench.close[first - 1] if first else bench.open[0])
    return [float(bench.close[k - 1]) if k else base for k in known], base
