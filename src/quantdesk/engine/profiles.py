"""Market profiles: the trading rules and default costs of a market.

Rules are re-implemented from their public definitions:

* China A-shares (``cn_stock``): T+1 (shares bought today can be sold from the next
  session), round lots of 100 shares for buys, daily price limits of ±10% of the previous
  close, commission 0.08% per side with a 5 CNY minimum per order, stamp duty on sells
  (0.1% until 2023-08-27, 0.05% from 2023-08-28, announced by the Ministry of Finance and
  the State Taxation Administration on 2023-08-27), and fills capped at 25% of the bar's
  volume (RQAlpha's default ``volume_percent``).
* US stocks (``us_stock``): T+0, 1-share lots, no price limits, no stamp duty, commission
  configurable (default 0), same 25% volume cap.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from quantdesk.core.errors import InvalidArgument
from quantdesk.core.instruments import Market

#: The day China's stamp duty on share sales was halved from 0.1% to 0.05%.
CN_STAMP_DUTY_CUT = dt.date(2023, 8, 28)
#: Largest money amount accepted in a request (starting cash, minimum commission): 1e12
#: keeps share counts and cash exact to the cent in a float64 (53-bit mantissa).
MAX_AMOUNT = 1e12


@dataclass(frozen=True, slots=True)
class MarketProfile:
    """Trading rules and costs of one market.

    Attributes:
        name: ``us_stock`` or ``cn_stock``.
        market: The market whose instruments it trades.
        t_plus: Sessions before bought shares become sellable (0 = T+0, 1 = T+1).
        use_lots: Buy quantities are rounded down to the instrument's lot size.
        price_limit: Daily price limit as a fraction of the previous close (``None`` = off).
        commission: Commission rate per side, fraction of traded value.
        min_commission: Minimum commission per order, in currency units.
        tax: Sell-side tax rate; ``None`` means the market's dated schedule (cn stamp duty).
        slippage: Price ratio applied against the order (buy higher, sell lower).
        volume_limit: Max fraction of a bar's volume one instrument can fill (``None`` = off).
        currency: Currency of cash and prices.
        close_time: Local time stamped on daily bars (the session close).
    """

    name: str
    market: Market
    t_plus: int
    use_lots: bool
    price_limit: float | None
    commission: float
    min_commission: float
    tax: float | None
    slippage: float
    volume_limit: float | None
    currency: str
    close_time: dt.time

    def tax_rate(self, day: dt.date) -> float:
        """Sell-side tax rate (fraction of traded value) on ``day``."""
        if self.tax is not None:
            return self.tax
        if self.market is Market.CN:
            return 0.001 if day < CN_STAMP_DUTY_CUT else 0.0005
        return 0.0

    def with_costs(
        self,
        *,
        commission: float | None = None,
        min_commission: float | None = None,
        tax: float | None = None,
        slippage: float | None = None,
    ) -> MarketProfile:
        """A copy with the given costs overridden (``None`` keeps the profile's value).

        Raises:
            InvalidArgument: a rate is negative or not below 1, or ``min_commission`` is
                outside ``[0, MAX_AMOUNT]``.
        """
        changes: dict[str, Any] = {}
        for name, value in (
            ("commission", commission),
            ("min_commission", min_commission),
            ("tax", tax),
            ("slippage", slippage),
        ):
            if value is None:
                continue
            if name == "min_commission":
                if not (math.isfinite(value) and 0 <= value <= MAX_AMOUNT):
                    raise InvalidArgument(
                        f"min_commission must be in [0, {MAX_AMOUNT:g}], got {value!r}"
                    )
            elif not (math.isfinite(value) and 0 <= value < 1):
                raise InvalidArgument(f"{name} must be a fraction in [0, 1), got {value!r}")
            changes[name] = float(value)
        return dataclasses.replace(self, **changes)


_PROFILES = {
    "us_stock": MarketProfile(
        name="us_stock",
        market=Market.US,
        t_plus=0,
        use_lots=False,
        price_limit=None,
        commission=0.0,
        min_commission=0.0,
        tax=0.0,
        slippage=0.0,
        volume_limit=0.25,
        currency="USD",
        close_time=dt.time(16, 0),
    ),
    "cn_stock": MarketProfile(
        name="cn_stock",
        market=Market.CN,
        t_plus=1,
        use_lots=True,
        price_limit=0.10,
        commission=0.0008,
        min_commission=5.0,
        tax=None,
        slippage=0.0,
        volume_limit=0.25,
        currency="CNY",
        close_time=dt.time(15, 0),
    ),
}


class MarketName(StrEnum):
    """The market profiles a run can name (``market`` of a backtest)."""

    US_STOCK = "us_stock"
    CN_STOCK = "cn_stock"


#: Names accepted by ``market_profile``.
PROFILE_NAMES = tuple(str(name) for name in MarketName)


def market_profile(name: str) -> MarketProfile:
    """The profile called ``name`` (``us_stock`` or ``cn_stock``).

    Raises:
        InvalidArgument: unknown name.
    """
    try:
        return _PROFILES[name]
    except KeyError:
        raise InvalidArgument(
            f"unknown market {name!r}; choose one of {', '.join(PROFILE_NAMES)}"
        ) from None
