"""The user's side of a backtrader run.

The strategy module, the ``bt.Strategy`` class to run and its params, the
``configure(cerebro)`` hook, and what the user's analyzers found (as JSON-safe values).

Used by ``quantdesk.backtest.engines.backtrader``; see its docstring for the rules.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import math
import sys
import types
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from quantdesk.core.errors import InvalidArgument, QuantdeskError
from quantdesk.engine import exec_source, resolve_params, user_error

#: The module-level function called with the ``Cerebro`` before it runs.
CONFIGURE = "configure"

_MODULE_IDS = itertools.count(1)


@contextlib.contextmanager
def strategy_module() -> Iterator[types.ModuleType]:
    """A fresh module for the strategy, in ``sys.modules`` while it runs.

    Backtrader's metaclasses look classes' modules up there.
    """
    name = f"quantdesk_bt_strategy_{next(_MODULE_IDS)}"
    module = types.ModuleType(name)
    sys.modules[name] = module
    try:
        yield module
    finally:
        sys.modules.pop(name, None)


def exec_module(source: str, filename: str, module: types.ModuleType) -> None:
    """Execute ``source`` as ``filename`` in ``module``.

    Raises:
        StrategySyntaxError: the source does not parse.
        StrategyError: the module body raised.
    """
    module.__file__ = filename
    exec_source(source, filename, module.__dict__)


def pick_strategy(bt: Any, module: types.ModuleType, filename: str) -> Any:
    """The strategy class to run.

    ``STRATEGY`` when the module sets it: a ``bt.Strategy`` subclass (defined in the file,
    imported, or from backtrader's library such as ``bt.strategies.SMA_CrossOver``) or the
    name of one in the module. Without it, the only ``bt.Strategy`` subclass defined in the
    file.

    Raises:
        InvalidArgument: ``STRATEGY`` names no strategy class; no class, or several classes
            and no ``STRATEGY`` (the message lists them and says how to pick one).
    """
    namespace = vars(module)
    every = {
        name: obj
        for name, obj in namespace.items()
        if isinstance(obj, type) and issubclass(obj, bt.Strategy) and name != "STRATEGY"
    }
    defined = {name: obj for name, obj in every.items() if obj.__module__ == module.__name__}
    chosen = namespace.get("STRATEGY")
    if chosen is not None:
        if isinstance(chosen, str) and chosen in every:
            return every[chosen]
        if isinstance(chosen, type) and issubclass(chosen, bt.Strategy):
            return chosen
        known = ", ".join(sorted(defined or every)) or "none"
        raise InvalidArgument(
            f"{filename}: STRATEGY must be a backtrader.Strategy subclass or the name of one "
            f"in the file, got {chosen!r} (strategy classes in the file: {known})"
        )
    if len(defined) == 1:
        return next(iter(defined.values()))
    if not defined:
        raise InvalidArgument(
            f"{filename} defines no backtrader.Strategy subclass; define one, or run one of "
            "backtrader's with STRATEGY = bt.strategies.SMA_CrossOver"
        )
    names = sorted(defined)
    raise InvalidArgument(
        f"{filename} defines several backtrader strategies ({', '.join(names)}); pick the one "
        f'to run with STRATEGY = "{names[0]}" (or STRATEGY = {names[0]}) at module level'
    )


def strategy_params(strategy_cls: Any, given: Mapping[str, Any]) -> dict[str, Any]:
    """The run's params for ``strategy_cls``, typed after its ``params`` defaults.

    Only the given names are returned (backtrader fills the rest).

    Raises:
        InvalidArgument: a name the class does not declare, or a value of the wrong type.
    """
    keys, values = strategy_cls.params._getkeys(), strategy_cls.params._getdefaults()
    defaults = dict(zip(keys, values, strict=True))
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        valid = ", ".join(sorted(defaults)) or "none"
        raise InvalidArgument(
            f"unknown parameter {unknown[0]!r}; {strategy_cls.__name__}.params are: {valid}"
        )
    merged = resolve_params(defaults, given)
    return {name: merged[name] for name in given}


def call_configure(cerebro: Any, module: types.ModuleType, filename: str, cash: float) -> None:
    """Call the module's ``configure(cerebro)``, if it defines one.

    The user may add sizers, analyzers, observers and commission schemes, or change broker
    settings; the feeds, the strategy and the starting cash are the run's and must stay.

    Raises:
        StrategyError: ``configure`` raised (traceback restricted to the file's frames).
        InvalidArgument: ``configure`` is not callable, or it added/removed feeds or
            strategies, or changed the starting cash.
    """
    hook = vars(module).get(CONFIGURE)
    if hook is None:
        return
    if not callable(hook):
        raise InvalidArgument(f"{filename}: {CONFIGURE} must be a function configure(cerebro)")
    feeds, strategies = list(cerebro.datas), list(cerebro.strats)
    try:
        hook(cerebro)
    except QuantdeskError:
        raise
    except (Exception, SystemExit) as exc:
        raise user_error(exc, filename, f"in {CONFIGURE}(cerebro)") from exc
    if len(cerebro.datas) != len(feeds) or any(
        a is not b for a, b in zip(cerebro.datas, feeds, strict=True)
    ):
        raise InvalidArgument(
            f"{CONFIGURE}(cerebro) must not add or remove feeds: the feeds are the run's "
            "universe (set it with the run's universe)"
        )
    if len(cerebro.strats) != len(strategies):
        raise InvalidArgument(
            f"{CONFIGURE}(cerebro) must not add strategies; a file runs one strategy, "
            "picked with STRATEGY"
        )
    if float(cerebro.broker.getcash()) != cash:
        raise InvalidArgument(
            f"{CONFIGURE}(cerebro) must not change the starting cash ({cash:g}); set it with "
            "the run's cash"
        )


def user_analyses(strategy: Any, skip: type, filename: str) -> dict[str, Any]:
    """``get_analysis()`` of each analyzer of ``strategy`` that is not a ``skip``, by name.

    Names are backtrader's (``_name=`` or the class name in lower case); values are
    ``json_safe``.

    Raises:
        StrategyError: an analyzer's ``get_analysis`` raised.
    """
    out: dict[str, Any] = {}
    for name, analyzer in strategy.analyzers.getitems():
        if isinstance(analyzer, skip):
            continue
        try:
            analysis = analyzer.get_analysis()
        except (Exception, SystemExit) as exc:
            raise user_error(exc, filename, f"reading analyzer {name}") from exc
        out[str(name)] = json_safe(analysis)
    return out


def json_safe(value: Any) -> Any:
    """``value`` as plain JSON types.

    Mappings (backtrader's ``OrderedDict``/``AutoOrderedDict``) become dicts with string keys,
    sequences lists, dates and datetimes ISO strings, NaN/inf ``None``, numpy scalars and
    arrays Python values; anything else its ``str``.
    """
    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {_key(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _key(key: Any) -> str:
    if isinstance(key, dt.date | dt.time):
        return key.isoformat()
    return str(key)
