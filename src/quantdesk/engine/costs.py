"""Transaction costs as pure functions (currency units)."""

from __future__ import annotations


def commission(value: float, rate: float, minimum: float) -> float:
    """Commission of one fill: ``max(value * rate, minimum)``; 0 for a zero-value fill.

    Args:
        value: Traded value ``quantity * price`` (> 0).
        rate: Commission rate, fraction of value.
        minimum: Minimum commission per order.
    """
    if value <= 0:
        return 0.0
    return max(value * rate, minimum)


def sell_tax(value: float, rate: float) -> float:
    """Sell-side tax (stamp duty) of one sell fill: ``value * rate``."""
    return value * rate


def limit_prices(prev_close: float, limit: float) -> tuple[float, float]:
    """Daily (limit_down, limit_up) around ``prev_close``, rounded to the 0.01 tick.

    The exchanges round ``prev_close * (1 ± limit)`` half-up to the price tick; a tiny
    epsilon keeps binary floating point (e.g. 10.005) from rounding the wrong way.
    """
    up = _round_half_up(prev_close * (1 + limit))
    down = _round_half_up(prev_close * (1 - limit))
    return down, up


def _round_half_up(x: float) -> float:
    return int(x * 100 + 0.5 + 1e-7) / 100
