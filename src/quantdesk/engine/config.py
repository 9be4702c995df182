"""Run configuration of one backtest."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from quantdesk.engine.profiles import MarketProfile

#: Engine phases in which the current session's bar is not known yet.
PRE_OPEN_PHASES = frozenset({"init", "before_trading", "open"})


class Matching(StrEnum):
    """When and at which price a market order fills.

    ``current_bar``: at the close of the bar on which it was placed (RQAlpha's default for
    daily bars). ``next_bar``: at the open of the next bar (backtrader's default).
    """

    CURRENT_BAR = "current_bar"
    NEXT_BAR = "next_bar"


@dataclass(frozen=True)
class EngineConfig:
    """Everything that determines a run besides the strategy source and the bars.

    Attributes:
        start: First session to trade (inclusive).
        end: Last session to trade (inclusive).
        cash: Starting cash in the market's currency, > 0.
        universe: Instruments whose bars are passed to ``handle_bar`` (``bar_dict``).
        benchmark: Benchmark ``order_book_id`` or ``None``.
        profile: Market rules and costs (see ``quantdesk.engine.profiles``).
        matching: Fill timing and price rule.
        params: Strategy parameters, exposed as ``context.params``.
        trading_days_per_year: Annualization factor of the metrics.
        risk_free_rate: Annual risk-free rate (fraction) used by Sharpe, Sortino and alpha.
    """

    start: dt.date
    end: dt.date
    cash: float
    universe: tuple[str, ...]
    benchmark: str | None
    profile: MarketProfile
    matching: Matching = Matching.CURRENT_BAR
    params: Mapping[str, Any] = field(default_factory=dict)
    trading_days_per_year: int = 252
    risk_free_rate: float = 0.0
