"""Backtest engines behind one interface: ``native`` (ours), ``backtrader`` and ``rqalpha``.

Every engine turns a ``PreparedBacktest`` into an ``EngineRun``: the engine-neutral
``EngineResult`` columns (daily portfolio, positions, fills, orders, logs) plus the engine's
name and version, so ``build_result`` computes one summary shape for all of them.

* ``native``: ``quantdesk.engine`` in this process (RQAlpha-style ``init``/``handle_bar``).
* ``backtrader``: a ``bt.Strategy`` subclass on real backtrader, in this process (optional
  extra ``quantdesk[backtrader]``).
* ``rqalpha``: the same RQAlpha-style code on real RQAlpha, run as the external command
  ``RQALPHA_COMMAND`` over a data bundle built from our catalog (RQAlpha pins numpy < 2, so it
  never runs in our interpreter).
"""

from __future__ import annotations

import ast
from pathlib import Path

from quantdesk.backtest.spec import (
    EngineRun,
    LogSink,
    PreparedBacktest,
    ProgressCallback,
    SessionCallback,
)
from quantdesk.core.errors import InvalidArgument
from quantdesk.core.pysource import parse_module

__all__ = ["ENGINE_NAMES", "EngineRun", "LogSink", "PreparedBacktest", "ProgressCallback",
           "detect_engine", "resolve_engine", "run_engine"]  # fmt: skip

#: Engines a run can name; ``auto`` (or ``None``) picks one from the code.
ENGINE_NAMES = ("native", "rqalpha", "backtrader")


def detect_engine(source: str) -> str:
    """The engine that can run ``source``: ``backtrader`` or ``native``.

    ``backtrader`` if it defines a subclass of ``backtrader.Strategy`` (``bt.Strategy``,
    ``bt.SignalStrategy``...) or names a library strategy (``STRATEGY =
    bt.strategies.SMA_CrossOver``), else ``native``.

    Static (``ast``); code that does not parse is ``native`` (its run reports the syntax
    error).
    """
    try:
        tree = parse_module(source)
    except SyntaxError:
        return "native"
    aliases, imported = _backtrader_names(tree)
    classes = {name for name in imported if name.endswith("Strategy")}
    for node in tree.body:  # STRATEGY = bt.strategies.SMA_CrossOver (a library strategy)
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "STRATEGY" for t in node.targets)
            and _rooted_in(node.value, aliases | imported)
        ):
            return "backtrader"
    for cls in ast.walk(tree):
        if not isinstance(cls, ast.ClassDef):
            continue
        for base in cls.bases:
            if isinstance(base, ast.Name) and base.id in classes:
                return "backtrader"
            if (
                isinstance(base, ast.Attribute)
                and base.attr.endswith("Strategy")
                and _rooted_in(base.value, aliases)
            ):
                return "backtrader"
    return "native"


def _backtrader_names(tree: ast.Module) -> tuple[set[str], set[str]]:
    """Names bound to the ``backtrader`` module, and names imported from its modules."""
    aliases: set[str] = set()
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "backtrader":
                    aliases.add(alias.asname or "backtrader")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("backtrader"):
            imported.update(a.asname or a.name for a in node.names)
    return aliases, imported


def _rooted_in(node: ast.expr, names: set[str]) -> bool:
    """True for ``name`` or ``name.attr.attr...`` with ``name`` in ``names``."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Name) and node.id in names


def resolve_engine(requested: str | None, source: str) -> str:
    """``requested`` checked against ``ENGINE_NAMES``; ``None``/``""``/``auto`` detects it.

    Raises:
        InvalidArgument: an unknown engine name, or a backtrader strategy on another engine.
    """
    name = (requested or "auto").strip().lower()
    detected = detect_engine(source)
    if name == "auto":
        return detected
    if name not in ENGINE_NAMES:
        raise InvalidArgument(
            f"unknown engine {requested!r}; choose one of auto, {', '.join(ENGINE_NAMES)}"
        )
    if detected == "backtrader" and name != "backtrader":
        raise InvalidArgument(
            f"the strategy defines a backtrader Strategy class; it runs on engine backtrader, "
            f"not {name}"
        )
    if name == "backtrader" and detected != "backtrader":
        raise InvalidArgument(
            "engine backtrader needs a strategy that defines a backtrader.Strategy subclass; "
            "this code uses init/handle_bar (engines native or rqalpha)"
        )
    return name


def run_engine(
    prepared: PreparedBacktest,
    *,
    work_dir: Path | None = None,
    progress: ProgressCallback | None = None,
    log_sink: LogSink | None = None,
    on_session: SessionCallback | None = None,
) -> EngineRun:
    """Run ``prepared`` on ``prepared.engine``.

    Args:
        prepared: The validated request.
        work_dir: Folder for engine files (RQAlpha's bundle, ``config.yml``,
            ``result.pkl``); a temporary folder when ``None``.
        progress: ``(sessions_done, sessions_total)`` callback (native engine per session;
            others at start and end).
        log_sink: Receives log lines as they are produced.
        on_session: ``(date, NAV)`` after each session (native only: the live equity curve).

    Raises:
        EngineUnavailable: the engine is not installed / configured.
        StrategyError, InvalidArgument, DataUnavailable: as for the native engine.
    """
    if prepared.engine == "backtrader":
        from quantdesk.backtest.engines.backtrader import run_backtrader

        return run_backtrader(prepared, progress=progress, log_sink=log_sink)
    if prepared.engine == "rqalpha":
        from quantdesk.backtest.engines.rqalpha import run_rqalpha

        return run_rqalpha(prepared, work_dir=work_dir, progress=progress, log_sink=log_sink)
    from quantdesk.backtest.engines.native import run_native

    return run_native(prepared, progress=progress, log_sink=log_sink, on_session=on_session)
