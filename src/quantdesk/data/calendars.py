"""Trading calendars from ``exchange_calendars`` (XNYS, XSHG, ...).

Building a calendar from 1990 costs ~0.2 s and importing the library ~0.1 s, which every job
subprocess would pay; ``sessions(..., cache_dir=)`` keeps each calendar's session dates as a
``.npy`` file keyed by the library's version, so later processes just load the array.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import warnings
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from quantdesk.core.errors import InvalidArgument
from quantdesk.core.files import atomic_write_bytes

# exchange_calendars builds 20 years back by default; the demo data starts in 1999.
_FIRST_YEAR = {"XSHG": "1991-01-01"}
_DEFAULT_START = "1990-01-01"


def _calendar(name: str) -> Any:
    import exchange_calendars as xcals  # deferred: only needed when no cached copy exists

    try:
        with warnings.catch_warnings():
            # exchange_calendars 4.x calls a pandas API that pandas 3.1 deprecates; harmless.
            warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
            return xcals.get_calendar(name, start=_FIRST_YEAR.get(name, _DEFAULT_START))
    except xcals.errors.InvalidCalendarName:
        raise InvalidArgument(f"unknown trading calendar {name!r}") from None


@lru_cache(maxsize=16)
def _all_sessions(name: str, cache_dir: Path | None) -> npt.NDArray[np.datetime64]:
    cached = (
        cache_dir / f"{name}-{version('exchange-calendars')}.npy" if cache_dir is not None else None
    )
    if cached is not None and cached.is_file():
        try:
            return np.asarray(np.load(cached, allow_pickle=False), dtype="datetime64[D]")
        except (OSError, ValueError):
            pass  # a damaged cache is rebuilt below
    days = np.asarray(_calendar(name).sessions.values.astype("datetime64[D]"))
    if cached is not None:
        buffer = io.BytesIO()
        np.save(buffer, days, allow_pickle=False)
        with contextlib.suppress(OSError):  # a read-only catalog just means no cache
            atomic_write_bytes(cached, buffer.getvalue())
    return days


def sessions(
    name: str, start: dt.date, end: dt.date, cache_dir: Path | None = None
) -> npt.NDArray[np.datetime64]:
    """Sessions of calendar ``name`` in ``[start, end]`` as ``datetime64[D]``.

    Args:
        name: The calendar's name (``exchange_calendars``), e.g. a market's calendar.
        start: First date of the range (included).
        end: Last date of the range (included).
        cache_dir: Optional folder for the cached session arrays.

    Raises:
        InvalidArgument: unknown calendar name.
    """
    days = _all_sessions(name, cache_dir)
    lo = np.searchsorted(days, np.datetime64(start, "D"), side="left")
    hi = np.searchsorted(days, np.datetime64(end, "D"), side="right")
    return days[lo:hi]
