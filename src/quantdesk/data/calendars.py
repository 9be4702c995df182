"""Trading calendars from ``exchange_calendars`` (XNYS, XSHG, ...)."""

from __future__ import annotations

import datetime as dt
import warnings
from functools import lru_cache
from typing import Any

import exchange_calendars as xcals
import numpy as np
import numpy.typing as npt

from quantdesk.core.errors import InvalidArgument

# exchange_calendars builds 20 years back by default; the demo data starts in 1999.
_FIRST_YEAR = {"XSHG": "1991-01-01"}
_DEFAULT_START = "1990-01-01"


@lru_cache(maxsize=8)
def _calendar(name: str) -> Any:
    try:
        with warnings.catch_warnings():
            # exchange_calendars 4.x calls a pandas API that pandas 3.1 deprecates; harmless.
            warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
            return xcals.get_calendar(name, start=_FIRST_YEAR.get(name, _DEFAULT_START))
    except xcals.errors.InvalidCalendarName:
        raise InvalidArgument(f"unknown trading calendar {name!r}") from None


@lru_cache(maxsize=8)
def _all_sessions(name: str) -> npt.NDArray[np.datetime64]:
    sessions = _calendar(name).sessions
    return np.asarray(sessions.values.astype("datetime64[D]"))


def sessions(name: str, start: dt.date, end: dt.date) -> npt.NDArray[np.datetime64]:
    """Sessions of calendar ``name`` in ``[start, end]`` as ``datetime64[D]``.

    Raises:
        InvalidArgument: unknown calendar name.
    """
    days = _all_sessions(name)
    lo = np.searchsorted(days, np.datetime64(start, "D"), side="left")
    hi = np.searchsorted(days, np.datetime64(end, "D"), side="right")
    return days[lo:hi]
