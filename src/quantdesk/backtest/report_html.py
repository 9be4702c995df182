"""HTML fragments of the tear sheet (``report``): value formats, the header and the tables.

The tables are rendered here rather than by the report's script, so the figures are in the
HTML itself (readable with scripts off, searchable, testable). Every piece of text that can
come from a user or a strategy goes through ``html.escape`` (``esc``); numbers are formatted
by ``fmt``. Sortable tables carry each cell's raw value in ``data-v``.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

#: Shown for a missing or non-finite value.
MISSING = "\u2014"
#: A negative number that rounds to zero ("-0.00%") is shown without its sign.
_NEGATIVE_ZERO = re.compile(r"^-0(\.0*)?\D*$")
#: Metric groups: ``(title, rows)``; a row is ``(label, summary key, format, benchmark
#: source, conventions key)``. A benchmark source ``"benchmark_x"`` is read from the summary,
#: ``"@x"`` from the benchmark's own metrics (``report_data.benchmark_metrics``).
METRIC_GROUPS: list[tuple[str, list[tuple[str, str, str, str | None, str | None]]]] = [
    ("Returns", [
        ("Total return", "total_returns", "pct", "benchmark_total_returns", "returns"),
        ("Annualized return", "annualized_returns", "pct", "benchmark_annualized_returns",
         "annualization"),
        ("Excess return", "excess_returns", "pct", None, "excess_returns"),
        ("Alpha (annual)", "alpha", "pct", None, "alpha"),
        ("Beta", "beta", "num", None, "beta"),
    ]),
    ("Risk", [
        ("Volatility (annual)", "volatility", "pct", "benchmark_volatility", "volatility"),
        ("Max drawdown", "max_drawdown", "pct", "@max_drawdown", "max_drawdown"),
        ("Downside risk", "downside_risk", "pct", "@downside_risk", "downside_risk"),
        ("Tracking error", "tracking_error", "pct", None, "tracking_error"),
        ("Max drawdown duration", "max_drawdown_duration", "int", None, "max_drawdown_duration"),
    ]),
    ("Risk-adjusted", [
        ("Sharpe ratio", "sharpe", "num", "@sharpe", "sharpe"),
        ("Sortino ratio", "sortino", "num", "@sortino", "sortino"),
        ("Calmar ratio", "calmar", "num", "@calmar", "calmar"),
        ("Information ratio", "information_ratio", "num", None, "information_ratio"),
        ("Excess Sharpe", "excess_sharpe", "num", None, "excess_sharpe"),
    ]),
    ("Round trips", [
        ("Round trips", "round_trips", "int", None, "round_trips"),
        ("Win rate", "win_rate", "pct", None, "win_rate"),
        ("Profit factor", "profit_factor", "num", None, "profit_factor"),
        ("Profit / loss ratio", "profit_loss_ratio", "num", None, "profit_loss_ratio"),
        ("Expectancy", "expectancy", "money", None, "expectancy"),
        ("Expectancy (return)", "expectancy_return", "pct", None, "expectancy"),
        ("Average win", "avg_win", "money", None, "avg_win"),
        ("Average loss", "avg_loss", "money", None, "avg_win"),
        ("Best trade", "best_trade", "money", None, "best_trade"),
        ("Worst trade", "worst_trade", "money", None, "best_trade"),
        ("Avg holding (sessions)", "avg_holding_sessions", "dec1", None, "avg_holding"),
        ("Avg holding (days)", "avg_holding_days", "dec1", None, "avg_holding"),
        ("Max consecutive wins", "max_consecutive_wins", "int", None, "max_consecutive"),
        ("Max consecutive losses", "max_consecutive_losses", "int", None, "max_consecutive"),
        ("SQN", "sqn", "num", None, "sqn"),
    ]),
    ("Activity", [
        ("Exposure time", "exposure_time", "pct", None, "exposure_time"),
        ("Turnover", "turnover", "times", None, "turnover"),
        ("Fills", "trade_count", "int", None, None),
        ("Orders", "order_count", "int", None, None),
        ("Rejected orders", "rejected_orders", "int", None, None),
        ("Commission paid", "total_commission", "money", None, None),
        ("Tax paid", "total_tax", "money", None, None),
        ("Starting cash", "starting_cash", "money", None, None),
        ("Final value", "total_value", "money", None, None),
        ("Sessions", "trading_days", "int", None, None),
    ]),
]  # fmt: skip
#: Tooltips of the metrics the result's conventions do not define.
TIPS = {
    "excess_returns": "total return - benchmark total return",
    "max_drawdown_duration": "sessions from the peak to the trough of the max drawdown",
}
#: Headline cards: ``(label, summary key, format)``.
CARDS = [
    ("Total return", "total_returns", "pct"),
    ("Annualized return", "annualized_returns", "pct"),
    ("Sharpe ratio", "sharpe", "num"),
    ("Max drawdown", "max_drawdown", "pct"),
    ("Win rate", "win_rate", "pct"),
    ("Round trips", "round_trips", "int"),
]
#: ``meta`` keys the header shows in their own places (the rest are listed as given).
META_KEYS = (
    "title", "notes", "job_id", "strategy_id", "strategy_version", "code_sha256",
    "created_at", "generated_at",
)  # fmt: skip
#: Summary keys whose sign is colored (green gain, red loss).
SIGNED = {"total_returns", "annualized_returns", "excess_returns", "alpha", "expectancy"}


def esc(value: Any) -> str:
    """``value`` as HTML-escaped text (quotes too)."""
    return html.escape(str(value), quote=True)


def finite(value: Any) -> float | None:
    """``value`` as a float, or ``None`` when missing, not a number or not finite."""
    if value is None or isinstance(value, bool) or value is pd.NA:
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def fmt(value: Any, kind: str) -> str:
    """A number as text in one of the report's formats.

    ``kind``: ``pct`` (fraction -> ``12.34%``), ``num`` (2 decimals), ``money`` (thousands
    separators, 2 decimals), ``int``, ``dec1`` (1 decimal), ``times`` (``1.23x``), ``rate``
    (fraction -> percent, up to 4 decimals). ``MISSING`` when not a finite number; a negative
    value that rounds to zero loses its sign.
    """
    x = finite(value)
    if x is None:
        return MISSING
    if kind == "pct":
        text = f"{x * 100:.2f}%"
    elif kind == "money":
        text = f"{x:,.2f}"
    elif kind == "int":
        text = f"{x:,.0f}"
    elif kind == "dec1":
        text = f"{x:.1f}"
    elif kind == "times":
        text = f"{x:.2f}x"
    elif kind == "rate":
        text = f"{x * 100:.4f}".rstrip("0").rstrip(".") + "%"
    else:
        text = f"{x:.2f}"
    return text[1:] if _NEGATIVE_ZERO.match(text) else text


def sign_class(value: Any) -> str:
    """``pos`` / ``neg`` / ``""`` by the sign of ``value``."""
    x = finite(value)
    return "" if x is None or x == 0 else ("pos" if x > 0 else "neg")


def day(value: Any) -> str:
    """A date or timestamp as ``YYYY-MM-DD`` (``""`` when missing)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(pd.Timestamp(value).strftime("%Y-%m-%d"))


def _text(value: Any) -> str:
    """A meta or parameter value as display text (JSON for lists and dicts)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def header_html(
    summary: Mapping[str, Any], config: Mapping[str, Any], meta: Mapping[str, Any]
) -> str:
    """The report's header: title, notes and a list of the run's inputs and code version."""
    name = summary.get("strategy_name") or "strategy"
    title = meta.get("title") or name
    strategy = esc(name)
    if meta.get("strategy_id") is not None:
        strategy += f' <span class="muted">id {esc(meta["strategy_id"])}</span>'
    if meta.get("strategy_version") is not None:
        strategy += f' <span class="muted">version {esc(meta["strategy_version"])}</span>'
    rows: list[tuple[str, str]] = [("Strategy", strategy)]
    if meta.get("code_sha256"):
        sha = str(meta["code_sha256"])
        rows.append(("Code", f'<code title="sha256 {esc(sha)}">sha256 {esc(sha[:12])}</code>'))
    if meta.get("job_id") is not None:
        rows.append(("Job", f"<code>{esc(meta['job_id'])}</code>"))
    if meta.get("created_at"):
        rows.append(("Run at", esc(meta["created_at"])))
    universe = [str(u) for u in config.get("universe") or []]
    engine = (
        f"{summary.get('engine', config.get('engine', ''))} {summary.get('engine_version', '')}"
    )
    if summary.get("rqalpha_bundle"):
        engine += f" (bundle {summary['rqalpha_bundle']})"
    rows += [
        ("Period", f"{esc(config.get('start_date'))} &rarr; {esc(config.get('end_date'))}"
         f' <span class="muted">{esc(fmt(summary.get("trading_days"), "int"))} sessions</span>'),
        ("Universe", esc(", ".join(universe)) if universe else MISSING),
        ("Benchmark", esc(config.get("benchmark") or "none")),
        ("Starting cash", esc(fmt(config.get("cash"), "money"))),
        ("Market", esc(" \u00b7 ".join(
            str(config[k]) for k in ("market", "frequency", "matching") if config.get(k)
        ) + f" \u00b7 adjust {config.get('adjust', MISSING)}")),
        ("Engine", esc(engine.strip())),
        ("Costs", esc(
            f"commission {fmt(config.get('commission'), 'rate')}"
            f" (min {fmt(config.get('min_commission'), 'money')})"
            f" \u00b7 tax {fmt(config.get('tax'), 'rate')}"
            f" \u00b7 slippage {fmt(config.get('slippage'), 'rate')}")),
        ("Rules", esc(
            f"volume limit {fmt(config.get('volume_limit'), 'rate')}"
            f" \u00b7 T+{config.get('t_plus', 0)}"
            f" \u00b7 price limit {fmt(config.get('price_limit'), 'rate').replace(MISSING, 'none')}"
            f" \u00b7 risk-free rate {fmt(config.get('risk_free_rate') or 0.0, 'rate')}"
            f" \u00b7 {config.get('trading_days_per_year', 252)} sessions/year")),
    ]  # fmt: skip
    params = config.get("params") or {}
    rows.append(("Parameters", " ".join(
        f'<span class="chip">{esc(k)} = {esc(_text(v))}</span>' for k, v in params.items()
    ) or '<span class="muted">none</span>'))  # fmt: skip
    rows += [
        (str(k), esc(_text(v))) for k, v in meta.items() if k not in META_KEYS and v is not None
    ]
    items = "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in rows)
    notes = f'<p class="notes">{esc(meta["notes"])}</p>' if meta.get("notes") else ""
    generated = (
        f'<p class="generated">Generated {esc(meta["generated_at"])}</p>'
        if meta.get("generated_at")
        else ""
    )
    sub = f"{summary.get('start_date')} \u2192 {summary.get('end_date')} \u00b7 {name}"
    return (
        f'<p class="eyebrow">Backtest report</p><h1 id="report-title">{esc(title)}</h1>'
        f'<p class="subtitle">{esc(sub)}</p>{notes}<dl class="inputs">{items}</dl>{generated}'
    )


def cards_html(summary: Mapping[str, Any], bench: Mapping[str, Any]) -> str:
    """The headline figures as cards (the benchmark's below each where it has one)."""
    out = []
    for label, key, kind in CARDS:
        other = bench.get(key)
        sub = (
            f'<span class="card-sub">benchmark {esc(fmt(other, kind))}</span>'
            if key in bench and other is not None
            else ""
        )
        cls = sign_class(summary.get(key)) if key in SIGNED else ""
        cls = "neg" if key == "max_drawdown" and finite(summary.get(key)) else cls
        out.append(
            f'<div class="card" data-key="{esc(key)}"><span class="card-label">{esc(label)}</span>'
            f'<span class="card-value {cls}">{esc(fmt(summary.get(key), kind))}</span>{sub}</div>'
        )
    return f'<div class="cards">{"".join(out)}</div>'


def metrics_html(
    summary: Mapping[str, Any],
    conventions: Mapping[str, Any],
    bench: Mapping[str, Any] | None,
) -> str:
    """The metric tables, one per group; a Benchmark column where the run had one.

    Each row is ``<tr data-key="<summary key>">``; a label's tooltip is the metric's convention.
    """
    groups = []
    for title, rows in METRIC_GROUPS:
        with_bench = bench is not None and any(src for *_, src, _ in rows)
        body = []
        for label, key, kind, src, conv in rows:
            text = conventions.get(conv, TIPS.get(conv)) if conv else None
            tip = f' title="{esc(text)}"' if text is not None else ""
            value = summary.get(key)
            cls = f"num {sign_class(value)}" if key in SIGNED else "num"
            cells = f'<td class="{cls.strip()}">{esc(fmt(value, kind))}</td>'
            if with_bench and bench is not None:
                other = None
                if src is not None:
                    other = bench.get(src[1:]) if src.startswith("@") else summary.get(src)
                cells += f'<td class="num bench">{esc(fmt(other, kind))}</td>'
            body.append(
                f'<tr data-key="{esc(key)}"><th scope="row"{tip}>{esc(label)}</th>{cells}</tr>'
            )
        head = "<th>Strategy</th><th>Benchmark</th>" if with_bench else "<th>Value</th>"
        groups.append(
            f'<table class="metric-table"><caption>{esc(title)}</caption><thead><tr>'
            f'<th scope="col">Metric</th>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
        )
    return f'<div class="metric-grid">{"".join(groups)}</div>'


def table_html(
    columns: Sequence[tuple[str, str]],
    rows: Iterable[Sequence[tuple[str, Any, str]]],
    *,
    table_id: str,
    sortable: bool = False,
) -> str:
    """A table: ``columns`` are ``(label, css class)``; a cell is ``(text, raw value, class)``.

    A sortable table's cells carry ``data-v`` (the raw value: a number as ``repr`` of a
    float, dates ISO, ``""`` when missing) for the report's script.
    """
    head = "".join(f'<th scope="col" class="{cls}">{esc(label)}</th>' for label, cls in columns)
    body = []
    for row in rows:
        cells = []
        for text, raw, cls in row:
            attr = ""
            if sortable:
                x = finite(raw)
                key = repr(x) if x is not None else ("" if raw is None else str(raw))
                attr = f' data-v="{esc(key)}"'
            cells.append(f'<td class="{cls}"{attr}>{esc(text)}</td>')
        body.append(f"<tr>{''.join(cells)}</tr>")
    sort = ' data-sortable="true"' if sortable else ""
    return (
        f'<table class="data-table" id="{esc(table_id)}"{sort}><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _cell(value: Any, kind: str, signed: bool = False) -> tuple[str, Any, str]:
    return fmt(value, kind), value, f"num {sign_class(value)}".strip() if signed else "num"


def round_trips_html(trips: pd.DataFrame) -> str:
    """Every round trip, one row each, sortable by any column."""
    columns = [
        ("#", "num"), ("Instrument", ""), ("Side", ""), ("Quantity", "num"), ("Entry", ""),
        ("Exit", ""), ("Entry price", "num"), ("Exit price", "num"), ("P&L", "num"),
        ("Return", "num"), ("Sessions", "num"), ("Days", "num"), ("MAE", "num"), ("MFE", "num"),
        ("Costs", "num"),
    ]  # fmt: skip
    rows = []
    for i, t in enumerate(trips.to_dict("records"), start=1):
        qty = finite(t.get("quantity"))
        entry, exit_ = day(t.get("entry_datetime")), day(t.get("exit_datetime"))
        rows.append([
            (str(i), i, "num"), (str(t.get("order_book_id")), t.get("order_book_id"), ""),
            (str(t.get("direction", "")).lower(), t.get("direction"), ""),
            (f"{qty:,.10g}" if qty is not None else MISSING, qty, "num"),
            (entry, entry, ""), (exit_, exit_, ""),
            _cell(t.get("entry_price"), "num"), _cell(t.get("exit_price"), "num"),
            _cell(t.get("pnl"), "money", True), _cell(t.get("return"), "pct", True),
            _cell(t.get("holding_sessions"), "int"), _cell(t.get("holding_days"), "int"),
            _cell(t.get("mae"), "pct"), _cell(t.get("mfe"), "pct"), _cell(t.get("costs"), "money"),
        ])  # fmt: skip
    return table_html(columns, rows, table_id="round-trip-table", sortable=True)


def drawdowns_html(periods: Sequence[Mapping[str, Any]]) -> str:
    """The deepest drawdown periods (``period_tables()["drawdowns"]``)."""
    columns = [
        ("#", "num"), ("Peak", ""), ("Trough", ""), ("Recovery", ""), ("Depth", "num"),
        ("Sessions", "num"), ("Days", "num"),
    ]  # fmt: skip
    rows = [
        [(str(i), i, "num"), (str(d["start"]), None, ""), (str(d["trough"]), None, ""),
         (str(d["end"] or "not recovered"), None, ""), _cell(d["depth"], "pct"),
         _cell(d["length"], "int"), _cell(d["days"], "int")]
        for i, d in enumerate(periods, start=1)
    ]  # fmt: skip
    return table_html(columns, rows, table_id="drawdown-table")


def exposure_html(rows: Sequence[Mapping[str, Any]]) -> str:
    """Exposure per instrument (``report_data.exposure``'s table), sortable."""
    columns = [
        ("Instrument", ""), ("Avg weight", "num"), ("Max weight", "num"), ("Sessions held", "num"),
        ("Fills", "num"), ("Round trips", "num"), ("Win rate", "num"), ("P&L", "num"),
    ]  # fmt: skip
    body = [
        [(str(r["order_book_id"]), r["order_book_id"], ""), _cell(r["avg_weight"], "pct"),
         _cell(r["max_weight"], "pct"), _cell(r["held"], "pct"), _cell(r["fills"], "int"),
         _cell(r["round_trips"], "int"), _cell(r["win_rate"], "pct"),
         _cell(r["pnl"], "money", True)]
        for r in rows
    ]  # fmt: skip
    return table_html(columns, body, table_id="exposure-table", sortable=True)


def return_stats_html(strategy: Mapping[str, Any], bench: Mapping[str, Any] | None) -> str:
    """Daily-return statistics (``report_data.return_stats``), strategy and benchmark."""
    spec = [
        ("Mean", "mean", "pct"), ("Std deviation", "std", "pct"), ("Skew", "skew", "num"),
        ("Excess kurtosis", "kurtosis", "num"), ("Best day", "best", "pct"),
        ("Worst day", "worst", "pct"), ("Positive days", "positive", "pct"),
        ("VaR 95% (historical)", "var_95", "pct"), ("CVaR 95%", "cvar_95", "pct"),
    ]  # fmt: skip
    columns = [("Daily returns", ""), ("Strategy", "num")]
    if bench is not None:
        columns.append(("Benchmark", "num"))
    rows = [
        [(label, None, "")] + [_cell(s.get(key), kind) for s in (strategy, bench) if s is not None]
        for label, key, kind in spec
    ]
    return table_html(columns, rows, table_id="return-stats-table")


def conventions_html(conventions: Mapping[str, Any]) -> str:
    """How each metric is computed, as a definition list."""
    items = "".join(f"<dt>{esc(k)}</dt><dd>{esc(_text(v))}</dd>" for k, v in conventions.items())
    return f'<dl class="conventions">{items}</dl>'
