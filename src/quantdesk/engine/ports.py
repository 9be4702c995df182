"""The engine's ports: what it needs from the outside world, as protocols.

``quantdesk.data`` implements ``BarSource`` on top of the Parquet catalog; tests implement it
in memory.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from quantdesk.core.instruments import Instrument

FloatArray = npt.NDArray[np.float64]
DateArray = npt.NDArray[np.datetime64]


@dataclass(frozen=True, slots=True)
class BarSeries:
    """Daily bars of one instrument, already adjusted as the run asked.

    Attributes:
        order_book_id: The instrument.
        dates: ``datetime64[D]`` sessions, strictly increasing, shape ``(n,)``.
        open: Opening prices, shape ``(n,)``, in the instrument's currency.
        high: Highs, shape ``(n,)``.
        low: Lows, shape ``(n,)``.
        close: Closes, shape ``(n,)``.
        volume: Traded volume in shares (index units for indices), shape ``(n,)``.
        factor: Price adjustment factor per bar (adjusted = traded * factor), shape
            ``(n,)``; ``None`` when prices are as traded. Rules defined on traded prices
            (tick-rounded price limits) divide by it.
        limit_up: The exchange's published limit-up price per bar, as traded (not
            adjusted), NaN where unknown; ``None`` when the data has no such column.
        limit_down: Idem for the limit-down price.
    """

    order_book_id: str
    dates: DateArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    factor: FloatArray | None = None
    limit_up: FloatArray | None = None
    limit_down: FloatArray | None = None

    def __len__(self) -> int:
        return int(self.dates.shape[0])


class IndexComposition(Protocol):
    """An index's members from ``date`` until its next composition (``data.index_members``)."""

    @property
    def date(self) -> dt.date:
        """The day it took effect."""
        ...

    @property
    def order_book_ids(self) -> tuple[str, ...]:
        """The members, sorted."""
        ...

    @property
    def weights(self) -> tuple[float | None, ...] | None:
        """Weights in percent, in member order; ``None`` when the source gave none."""
        ...

    @property
    def source(self) -> str:
        """Where it came from."""
        ...


class BarSource(Protocol):
    """Where the engine gets instruments, sessions and bars from."""

    def instrument(self, order_book_id: str) -> Instrument:
        """Reference data of one instrument.

        Raises:
            quantdesk.core.errors.NotFound: unknown ``order_book_id``.
        """
        ...

    def sessions(self, calendar: str, start: dt.date, end: dt.date) -> DateArray:
        """Trading sessions of ``calendar`` in ``[start, end]`` as ``datetime64[D]``."""
        ...

    def bars(self, order_book_id: str, end: dt.date) -> BarSeries:
        """Every daily bar of ``order_book_id`` on or before ``end`` (history included).

        Raises:
            quantdesk.core.errors.NotFound: unknown ``order_book_id``.
        """
        ...


class IndexSource(Protocol):
    """A ``BarSource`` that also knows index membership over time (optional)."""

    def index_components(self, index_id: str, day: dt.date) -> IndexComposition:
        """The composition of ``index_id`` in effect on ``day``.

        Raises:
            quantdesk.core.errors.NotFound: no membership known for the index.
            quantdesk.core.errors.DataUnavailable: ``day`` is before the first composition.
        """
        ...
