"""Map a run (``EngineConfig``) onto RQAlpha's configuration (``rqalpha run --config``).

RQAlpha's defaults and names are from its package (``rqalpha/config.yml`` and each system
mod's ``__config__``, v6.4). The mapping keeps our profile's rules:

=====================  =========================================================
ours                   RQAlpha
=====================  =========================================================
commission rate r      ``sys_transaction_cost.stock_commission_multiplier`` = r / 0.0008
min_commission m       ``sys_transaction_cost.stock_min_commission`` = m
tax None (cn dated)    ``pit_tax: true`` (0.1% before 2023-08-28, 0.05% from then)
tax t                  ``pit_tax: false``, ``tax_multiplier`` = t / 0.0005
slippage s             ``sys_simulation.slippage`` = s (``PriceRatioSlippage``)
volume_limit v / None  ``volume_limit: true, volume_percent: v`` / ``volume_limit: false``
price_limit p / None   ``price_limit: true`` (limits in the bundle) / ``false``
t_plus 1 / 0           ``sys_accounts.stock_t1`` (+ ``market_tplus`` in the bundle)
matching current_bar   ``matching_type: current_bar`` (the only daily option)
params                 ``extra.context_vars.params`` (``context.params`` as in native)
risk_free_rate         the bundle's yield curve; 252 days a year
=====================  =========================================================
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from quantdesk.engine import EngineConfig, params_schema, resolve_params

#: RQAlpha's base stock commission rate and stamp tax rate (multipliers scale these).
RQ_COMMISSION = 0.0008
RQ_TAX = 0.0005


def rqalpha_flags(config: EngineConfig) -> list[str]:
    """Command-line flags that must accompany the config file.

    ``rqalpha run`` registers some mod options as click flags with a default (e.g.
    ``--pit-tax``, default ``False``), and a flag's default overrides the config file's value;
    such settings only take effect on the command line. The run's dates, cash and frequency
    go there too, as they rank above a strategy file's ``__config__`` in RQAlpha (the adapter
    also empties that ``__config__``: ``prepare`` has applied it already, see
    ``quantdesk.backtest.strategy_config``).
    """
    flags = [
        "--start-date", config.start.isoformat(), "--end-date", config.end.isoformat(),
        "--account", "stock", repr(float(config.cash)), "--frequency", "1d",
    ]  # fmt: skip
    if config.profile.tax is None:
        flags.append("--pit-tax")
    return flags


def rqalpha_config(
    source: str,
    config: EngineConfig,
    *,
    bundle: Path,
    strategy_file: Path,
    result_file: Path,
    orders_file: Path,
    total_sessions: int,
    index_file: Path | None = None,
) -> dict[str, Any]:
    """The ``rqalpha run --config`` mapping of ``config`` (see the module docstring).

    Raises:
        InvalidArgument: parameters that do not fit the strategy's ``PARAMS``.
    """
    profile = config.profile
    defaults = {p["name"]: p["default"] for p in params_schema(source)}
    params = resolve_params(defaults, config.params)
    tax: dict[str, Any] = (
        {"pit_tax": True, "tax_multiplier": 1.0}
        if profile.tax is None
        else {"pit_tax": False, "tax_multiplier": profile.tax / RQ_TAX}
    )
    return {
        "base": {
            "data_bundle_path": str(bundle),
            "strategy_file": str(strategy_file),
            "start_date": config.start.isoformat(),
            "end_date": config.end.isoformat(),
            "frequency": "1d",
            "accounts": {"stock": float(config.cash)},
            "capital_gain_tax_rate": 0,
            "custom_trading_days_a_year": config.trading_days_per_year,
        },
        "extra": {
            "log_level": "info",
            "context_vars": {"params": params},
        },
        "mod": {
            "sys_analyser": {
                "enabled": True,
                "benchmark": config.benchmark,
                "output_file": str(result_file),
                "plot": False,
            },
            "sys_progress": {"enabled": False},
            "sys_simulation": {
                "matching_type": "current_bar",
                "slippage_model": "PriceRatioSlippage",
                "slippage": profile.slippage,
                "volume_limit": profile.volume_limit is not None,
                "volume_percent": profile.volume_limit or 0.25,
                "price_limit": profile.price_limit is not None,
            },
            "sys_transaction_cost": {
                "stock_commission_multiplier": profile.commission / RQ_COMMISSION,
                "stock_min_commission": profile.min_commission,
                **tax,
            },
            "sys_accounts": {"stock_t1": profile.t_plus >= 1},
            "quantdesk": {
                "enabled": True,
                "lib": "quantdesk_mod",
                "universe": list(config.universe),
                "orders_file": str(orders_file),
                "total_sessions": total_sessions,
                "index_file": "" if index_file is None else str(index_file),
            },
        },
    }
