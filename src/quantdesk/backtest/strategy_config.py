"""A strategy file's own ``__config__`` (RQAlpha's per-file settings), read alike by every engine.

RQAlpha merges a module-level ``__config__ = {...}`` over its configuration, and command-line
options over both. quantdesk reads it statically (the file is never executed in the API
process) and applies the same precedence to every engine:

* The keys that map onto a run: ``base.start_date``, ``base.end_date``,
  ``base.accounts.stock`` (or RQAlpha 3's ``base.stock_starting_cash``), ``base.benchmark`` /
  ``mod.sys_analyser.benchmark`` and ``base.frequency``. A field the run request gives wins
  (as RQAlpha's command line does); a field it leaves out takes the file's value. Either way
  a line in the run's log says which value ran.
* Keys that only change output (``extra.log_level``, ``mod.sys_analyser.plot``,
  ``mod.sys_progress``...) are ignored.
* Every other key would change the result in RQAlpha but not in the request (slippage,
  commissions, matching, accounts, context variables...): the run is refused with
  ``InvalidArgument`` (400) naming the key and the run field to use instead, so the engines
  never silently differ.
* A ``__config__`` that is not a literal dict is refused (it cannot be read without running
  the file).

The rqalpha adapter runs the file with an empty ``__config__`` appended (the last assignment
wins), so RQAlpha runs exactly the prepared run.
"""

from __future__ import annotations

import ast
import datetime as dt
from collections.abc import Mapping
from typing import Any

from quantdesk.backtest.spec import BacktestSpec
from quantdesk.core.errors import InvalidArgument
from quantdesk.core.pysource import parse_module

#: Keys that change nothing in a result (output, logging, plotting, progress).
IGNORED = (
    "extra.log_level", "extra.locale", "extra.user_system_log_disabled",
    "extra.user_log_disabled", "extra.enable_profiler", "extra.is_hold",
    "mod.sys_analyser.enabled", "mod.sys_analyser.plot", "mod.sys_analyser.output_file",
    "mod.sys_analyser.report_save_path", "mod.sys_analyser.plot_save_file",
    "mod.sys_analyser.plot_config", "mod.sys_progress", "mod.sys_simulation.enabled",
    "mod.sys_scheduler", "mod.sys_risk.enabled", "base.strategy_file", "base.data_bundle_path",
    "base.run_type", "base.persist", "base.persist_mode", "base.resume_mode",
)  # fmt: skip

#: ``__config__`` key -> the run field it maps onto.
MAPPED = {
    "base.start_date": "start_date",
    "base.end_date": "end_date",
    "base.accounts.stock": "cash",
    "base.stock_starting_cash": "cash",
    "base.benchmark": "benchmark",
    "mod.sys_analyser.benchmark": "benchmark",
    "base.frequency": "frequency",
}

#: Keys that change a result, and the run field to use instead.
INSTEAD = {
    "mod.sys_simulation.slippage": "slippage",
    "mod.sys_simulation.matching_type": "matching",
    "mod.sys_transaction_cost": "commission, min_commission and tax",
    "base.accounts": "cash (stock account only)",
    "extra.context_vars": "params (a PARAMS dict in the file)",
}


def read_strategy_config(source: str) -> dict[str, Any] | None:
    """The module-level ``__config__`` literal of ``source``; ``None`` without one.

    Raises:
        InvalidArgument: ``__config__`` is not a literal dict.
    """
    try:
        tree = parse_module(source)
    except SyntaxError:
        return None  # the run reports the syntax error
    found: dict[str, Any] | None = None
    for node in tree.body:
        if not isinstance(node, ast.Assign):
            continue
        if any(isinstance(t, ast.Name) and t.id == "__config__" for t in node.targets):
            try:
                value = ast.literal_eval(node.value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                raise InvalidArgument(
                    f"__config__ (line {node.lineno}) must be a literal dict (strings, numbers, "
                    "lists and dicts only) so that every engine reads the same values"
                ) from None
            if not isinstance(value, dict):
                raise InvalidArgument(f"__config__ (line {node.lineno}) must be a dict")
            found = value
    return found


def apply_strategy_config(
    spec: BacktestSpec, config: Mapping[str, Any]
) -> tuple[BacktestSpec, list[str]]:
    """``spec`` with the file's run values where the request left them out, and log notes.

    Raises:
        InvalidArgument: a key that would change the result outside the run's fields, or a
            value of the wrong type.
    """
    given = spec.model_fields_set
    updates: dict[str, Any] = {}
    notes: list[str] = []
    for key, value in _flatten(config):
        if key in MAPPED:
            field = MAPPED[key]
            wanted = _value(field, key, value)
            current = getattr(spec, field)
            if field in given or field in updates:
                if _differs(current, wanted):
                    notes.append(
                        f"INFO __config__ {key} = {value!r} is overridden by the run's "
                        f"{field} {_show(current)}"
                    )
                continue
            updates[field] = wanted
            notes.append(f"INFO __config__ {key} = {value!r} applied ({field})")
        elif not any(key == k or key.startswith(k + ".") for k in IGNORED):
            instead = next((v for k, v in INSTEAD.items() if key == k or key.startswith(k + ".")),
                           None)  # fmt: skip
            hint = f"set {instead} on the run instead" if instead else "it has no run field"
            raise InvalidArgument(
                f"__config__ key {key} would change the result and is not read from the file: "
                f"remove it ({hint})"
            )
    if not updates:
        return spec, notes
    merged = {**spec.model_dump(), **updates}
    return type(spec).model_validate(merged), notes


def _flatten(config: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and name not in MAPPED and value:
            out.extend(_flatten(value, name + "."))
        else:
            out.append((name, value))
    return out


def _value(field: str, key: str, value: Any) -> Any:
    if field in ("start_date", "end_date"):
        try:
            return dt.date.fromisoformat(str(value)[:10])
        except ValueError:
            raise InvalidArgument(
                f"__config__ {key} must be a YYYY-MM-DD date, got {value!r}"
            ) from None
    if field == "cash":
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise InvalidArgument(f"__config__ {key} must be a positive number, got {value!r}")
        return float(value)
    if field == "frequency" and value != "1d":
        raise InvalidArgument(f"__config__ {key} = {value!r}: only daily bars (1d) are supported")
    if field == "benchmark" and not (isinstance(value, str) and value.strip()):
        raise InvalidArgument(f"__config__ {key} must be an order_book_id, got {value!r}")
    return value


def _differs(current: Any, wanted: Any) -> bool:
    return str(getattr(current, "value", current)) != str(wanted)


def _show(value: Any) -> str:
    return str(getattr(value, "value", value))
