"""``context.run_info`` and ``context.config``: the run's settings in RQAlpha's shapes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from quantdesk.engine.config import EngineConfig, Matching


class RunType(StrEnum):
    """RQAlpha's ``RUN_TYPE``: runs here are backtests."""

    BACKTEST = "BACKTEST"
    PAPER_TRADING = "PAPER_TRADING"
    LIVE_TRADING = "LIVE_TRADING"


class MatchingType(StrEnum):
    """RQAlpha's ``MATCHING_TYPE`` names of the two daily rules."""

    CURRENT_BAR_CLOSE = "CURRENT_BAR_CLOSE"
    NEXT_BAR_OPEN = "NEXT_BAR_OPEN"


@dataclass(frozen=True, slots=True)
class RunInfo:
    """RQAlpha's ``RunInfo`` (``context.run_info``).

    Attributes:
        start_date: First session of the run.
        end_date: Last session of the run.
        frequency: ``1d``.
        run_type: ``BACKTEST``.
        stock_starting_cash: Starting cash of the stock account.
        future_starting_cash: 0 (no futures account).
        slippage: The price-ratio slippage.
        commission_multiplier: Commission rate over RQAlpha's base rate (0.08%).
        margin_multiplier: 1.
        benchmark: The benchmark ``order_book_id`` or ``None``.
        matching_type: ``current_bar`` or ``next_bar``.
    """

    start_date: dt.date
    end_date: dt.date
    frequency: str
    run_type: str
    stock_starting_cash: float
    future_starting_cash: float
    slippage: float
    commission_multiplier: float
    margin_multiplier: float
    benchmark: str | None
    matching_type: str

    @property
    def stock_commission_multiplier(self) -> float:
        """RQAlpha 4+'s name of ``commission_multiplier``."""
        return self.commission_multiplier


class AttrDict(dict[str, Any]):
    """A dict whose keys read as attributes, nested (RQAlpha's ``RqAttrDict``)."""

    def __init__(self, data: dict[str, Any]) -> None:
        super().__init__({k: AttrDict(v) if isinstance(v, dict) else v for k, v in data.items()})

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"config has no key {name!r}; keys: {', '.join(self)}") from None


#: RQAlpha's base stock commission rate (``commission_multiplier`` scales it).
RQ_COMMISSION = 0.0008


def run_info(config: EngineConfig) -> RunInfo:
    """The ``RunInfo`` of ``config``."""
    profile = config.profile
    return RunInfo(
        start_date=config.start,
        end_date=config.end,
        frequency="1d",
        run_type="BACKTEST",
        stock_starting_cash=config.cash,
        future_starting_cash=0.0,
        slippage=profile.slippage,
        commission_multiplier=profile.commission / RQ_COMMISSION,
        margin_multiplier=1.0,
        benchmark=config.benchmark,
        matching_type=str(config.matching),
    )


def run_config(config: EngineConfig) -> AttrDict:
    """``context.config``: the keys of RQAlpha's configuration this run sets."""
    profile = config.profile
    return AttrDict(
        {
            "base": {
                "start_date": config.start,
                "end_date": config.end,
                "frequency": "1d",
                "run_type": "BACKTEST",
                "accounts": {"stock": config.cash},
                "market": str(profile.market),
            },
            "extra": {"context_vars": {"params": dict(config.params)}},
            "mod": {
                "sys_analyser": {"benchmark": config.benchmark},
                "sys_simulation": {
                    "matching_type": str(config.matching),
                    "slippage": profile.slippage,
                    "price_limit": profile.price_limit is not None,
                    "volume_limit": profile.volume_limit is not None,
                    "volume_percent": profile.volume_limit,
                },
                "sys_transaction_cost": {
                    "stock_commission_multiplier": profile.commission / RQ_COMMISSION,
                    "stock_min_commission": profile.min_commission,
                },
                "sys_accounts": {"stock_t1": profile.t_plus >= 1},
            },
            "matching": Matching(config.matching).value,
        }
    )
