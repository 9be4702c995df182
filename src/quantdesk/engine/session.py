"""``StrategySession``: what the strategy-facing functions read of the running engine."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Protocol

from quantdesk.core.instruments import Instrument
from quantdesk.engine.broker import Broker, BrokerSession
from quantdesk.engine.events import EventBus
from quantdesk.engine.indicators import IndicatorSession
from quantdesk.engine.ports import IndexComposition
from quantdesk.engine.scheduler import Scheduler

if TYPE_CHECKING:
    from quantdesk.engine.feeds import Feed


class StrategySession(BrokerSession, IndicatorSession, Protocol):
    """What the strategy-facing functions read of the running engine.

    The broker's and the indicators' state, plus the broker itself, last prices and the plot
    recorder.
    """

    broker: Broker

    def loaded_feed(self, order_book_id: str) -> Feed | None:
        """The feed of ``order_book_id`` if already loaded (no I/O, no checks), else None."""
        ...

    def last_price(self, order_book_id: str) -> float | None:
        """The latest close known now (today's close from ``handle_bar`` on)."""
        ...

    def log(self, level: str, message: str) -> None:
        """Append a strategy log line stamped with the current bar date."""
        ...

    def record_plot(self, name: str, value: float) -> None:
        """Store a ``plot()`` point of series ``name`` for today."""
        ...

    events: EventBus
    scheduler: Scheduler

    def reference(self, order_book_id: str) -> Instrument:
        """Reference data of any instrument of the source (``NotFound`` if unknown)."""
        ...

    def listed_instruments(self) -> list[Instrument]:
        """Every instrument of the run's market the source knows."""
        ...

    def index_composition(self, index_id: str, day: dt.date) -> IndexComposition:
        """The composition of ``index_id`` in effect on ``day`` (``ports.IndexSource``)."""
        ...

    def calendar(self, start: dt.date, end: dt.date) -> list[dt.date]:
        """The market's sessions in ``[start, end]``."""
        ...
