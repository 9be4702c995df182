"""``quantdesk backtest FILE ...``: run one backtest in this process."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from quantdesk.backtest import BacktestResult, BacktestSpec, run_spec
from quantdesk.cli.errors import reported_errors, stderr
from quantdesk.core.errors import InvalidArgument
from quantdesk.core.settings import Settings
from quantdesk.data import Catalog

stdout = Console(highlight=False)

#: Summary rows shown by the table: (key, label, format).
_ROWS = (
    ("total_value", "Final value", "money"),
    ("total_returns", "Total return", "pct"),
    ("annualized_returns", "Annual return", "pct"),
    ("benchmark_total_returns", "Benchmark total return", "pct"),
    ("benchmark_annualized_returns", "Benchmark annual return", "pct"),
    ("alpha", "Alpha", "num"),
    ("beta", "Beta", "num"),
    ("sharpe", "Sharpe", "num"),
    ("sortino", "Sortino", "num"),
    ("information_ratio", "Information ratio", "num"),
    ("volatility", "Volatility", "pct"),
    ("max_drawdown", "Max drawdown", "pct"),
    ("max_drawdown_start", "Max drawdown from", "str"),
    ("max_drawdown_end", "Max drawdown to", "str"),
    ("calmar", "Calmar", "num"),
    ("win_rate", "Win rate (sells)", "pct"),
    ("profit_loss_ratio", "Profit/loss ratio", "num"),
    ("turnover", "Turnover", "num"),
    ("trade_count", "Fills", "str"),
    ("rejected_orders", "Rejected orders", "str"),
    ("total_commission", "Commission", "money"),
    ("total_tax", "Tax", "money"),
)


def _parse_params(items: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidArgument(f"--param expects key=value, got {item!r}")
        params[key.strip()] = value
    return params


def _fmt(value: Any, kind: str) -> str:
    if value is None:
        return "—"
    if kind == "pct":
        return f"{value:.2%}"
    if kind == "money":
        return f"{value:,.2f}"
    if kind == "num":
        return f"{value:.4f}"
    return str(value)


def _table(result: BacktestResult) -> Table:
    s = result.summary
    title = (
        f"{s['strategy_name']} · {s['start_date']}..{s['end_date']} · {s['market']} · "
        f"benchmark {s['benchmark'] or 'none'} · {s['engine']} {s['engine_version']}"
    )
    table = Table(title=title, show_header=False)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, label, kind in _ROWS:
        table.add_row(label, _fmt(s.get(key), kind))
    return table


def backtest(
    file: Annotated[
        Path, typer.Argument(help="Strategy file (RQAlpha-style, or a backtrader Strategy).")
    ],
    start: Annotated[str, typer.Option(help="First session, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option(help="Last session, YYYY-MM-DD.")],
    cash: Annotated[float, typer.Option(help="Starting cash.")] = 100_000.0,
    universe: Annotated[
        str | None, typer.Option(help="Comma-separated order_book_ids (default: all stocks).")
    ] = None,
    benchmark: Annotated[
        str | None, typer.Option(help="Benchmark id (default SPX / 000300.XSHG; 'none').")
    ] = None,
    frequency: Annotated[str, typer.Option(help="Bar frequency (1d).")] = "1d",
    market: Annotated[
        str | None,
        typer.Option(help="us_stock or cn_stock (default: the universe's and benchmark's)."),
    ] = None,
    matching: Annotated[str, typer.Option(help="current_bar or next_bar.")] = "current_bar",
    adjust: Annotated[str, typer.Option(help="pre (split/dividend adjusted) or none.")] = "pre",
    engine: Annotated[
        str,
        typer.Option(
            help="native, rqalpha (needs RQALPHA_COMMAND) or backtrader; auto picks "
            "backtrader for a bt.Strategy subclass, else native."
        ),
    ] = "auto",
    commission: Annotated[float | None, typer.Option(help="Commission rate per side.")] = None,
    min_commission: Annotated[
        float | None, typer.Option(help="Minimum commission per order.")
    ] = None,
    tax: Annotated[float | None, typer.Option(help="Sell-side tax rate.")] = None,
    slippage: Annotated[float | None, typer.Option(help="Slippage price ratio.")] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", help="Strategy parameter key=value.")
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the summary as JSON on stdout only.")
    ] = False,
    output: Annotated[
        Path | None, typer.Option(help="Write result.json, CSVs and run.log here.")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Catalog folder (default: $DATA_DIR or ./var/data).")
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(help="Write a self-contained HTML tear sheet of the run to this file."),
    ] = None,
) -> None:
    """Run a backtest of FILE on the catalog's daily bars and print the summary."""
    with reported_errors():
        spec = BacktestSpec.of(
            names=BacktestSpec.PYTHON_NAMES,
            start_date=start, end_date=end, cash=cash, universe=universe, benchmark=benchmark,
            frequency=frequency, market=market, matching=matching, adjust=adjust,
            commission=commission, min_commission=min_commission, tax=tax,
            slippage=slippage, params=_parse_params(param or []), engine=engine,
        )  # fmt: skip
        if output is not None and output.exists() and not output.is_dir():
            raise InvalidArgument(f"--output {output} exists and is not a directory")
        catalog = Catalog(data_dir or Settings().data_dir)
        show_progress = stderr.is_terminal and not json_out
        progress = Progress(
            TextColumn("backtest"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.completed}/{task.total} sessions"),
            TimeElapsedColumn(),
            console=stderr,
            disable=not show_progress,
            transient=True,
        )
        task = progress.add_task("run", total=None)

        def on_progress(done: int, total: int) -> None:
            if done == total or done % 50 == 0:
                progress.update(task, completed=done, total=total)

        def on_log(line: str) -> None:
            if not json_out:
                progress.console.print(line, markup=False, highlight=False)

        with progress:
            result = run_spec(file, spec, catalog=catalog, progress=on_progress, log_sink=on_log)
        if output is not None:
            try:
                paths = result.write(output)
            except OSError as exc:
                raise InvalidArgument(f"cannot write the result to {output}: {exc}") from None
            stderr.print(f"wrote {len(paths)} files to {output}")
        if report is not None:
            try:
                result.report(report, meta={"strategy_file": str(file)})
            except OSError as exc:
                raise InvalidArgument(f"cannot write the report to {report}: {exc}") from None
            stderr.print(f"wrote the report to {report}")
        if json_out:
            sys.stdout.write(json.dumps(result.to_dict()["summary"], ensure_ascii=False) + "\n")
        else:
            stdout.print(_table(result))
