"""``quantdesk data ...``: inspect and fill the market-data catalog."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich import box
from rich.console import Console
from rich.table import Table

from quantdesk.cli.errors import reported_errors, stderr
from quantdesk.core.errors import DataValidationError, InvalidArgument
from quantdesk.core.events import EventKind
from quantdesk.core.instruments import BoardType, Market
from quantdesk.core.settings import Settings
from quantdesk.data import Adjust, Catalog
from quantdesk.data.demo import import_demo
from quantdesk.data.instruments_table import parse_st_period
from quantdesk.data.uploads import import_file
from quantdesk.data.validation import ImportReport
from quantdesk.services.data_import import upload_spec
from quantdesk.services.events import EventLog
from quantdesk.storage import Database

data_app = typer.Typer(help="Inspect and import market data.", no_args_is_help=True)
stdout = Console(highlight=False)

DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Catalog folder (default: $DATA_DIR or ./var/data)."),
]


def catalog_at(data_dir: Path | None) -> Catalog:
    """The catalog at ``data_dir`` (default: the settings' ``DATA_DIR``)."""
    return Catalog(data_dir or Settings().data_dir)


def parse_mapping(pairs: list[str] | None) -> dict[str, str]:
    """``--map OURS=THEIRS`` options as a mapping.

    Raises:
        InvalidArgument: a pair without ``=`` or with an empty side.
    """
    mapping = {}
    for pair in pairs or ():
        ours, sep, theirs = pair.partition("=")
        if not sep or not ours.strip() or not theirs.strip():
            raise InvalidArgument(f"--map {pair!r} is not OURS=THEIRS")
        mapping[ours.strip()] = theirs.strip()
    return mapping


def _record(reports: list[ImportReport], source: str) -> None:
    """Record ``data.imported`` events in the platform's event log, when it has one yet.

    Best effort: importing into a catalog needs no database (the server's first start creates
    it), so a missing one only means there is no log to record in.
    """
    settings = Settings()
    db = Database(settings.database_url)
    url = db.url
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        db.dispose()  # no server has started here yet: no log (and no empty file made)
        return
    try:
        log = EventLog(db, settings)
        for report in reports:
            log.record(EventKind.DATA_IMPORTED, report.order_book_id, data={
                "source": source, "rows_in": report.rows_in,
                "rows_accepted": report.rows_accepted, "rejected": len(report.rejected),
                "first": str(report.first), "last": str(report.last),
            })  # fmt: skip
    except Exception as exc:  # no database, or not migrated yet
        stderr.print(f"(not recorded in the event log: {str(exc).splitlines()[0]})")
    finally:
        db.dispose()


@data_app.command("import-demo")
def import_demo_cmd(data_dir: DataDirOption = None) -> None:
    """Import the bundled real demo data (US stocks, S&P 500, NASDAQ, CSI 300)."""
    with reported_errors():
        catalog = catalog_at(data_dir)
        reports = import_demo(catalog)
        for report in reports:
            stdout.print(report.describe())
        stdout.print(f"catalog: {catalog.root}")
        _record(reports, "demo")


@data_app.command("list")
def list_cmd(data_dir: DataDirOption = None) -> None:
    """List the instruments in the catalog with their bar ranges."""
    with reported_errors():
        catalog = catalog_at(data_dir)
        rows = catalog.stats()
        if not rows:
            stderr.print(
                f"the catalog at {catalog.root} is empty; run `quantdesk data import-demo`"
            )
            raise typer.Exit(0)
        table = Table(title=f"catalog {catalog.root}", box=box.SIMPLE_HEAD, pad_edge=False)
        cells = [
            (
                r["order_book_id"], r["type"], r["exchange"], _board(r),
                str(r["lot_size"]), str(r["first_bar"]), str(r["last_bar"]), str(r["bar_count"]),
            )
            for r in rows
        ]  # fmt: skip
        headers = ("order_book_id", "type", "exch", "board", "lot", "first bar", "last bar", "bars")
        for i, col in enumerate(headers):
            width = max(len(col), *(len(c[i]) for c in cells))
            table.add_column(col, no_wrap=True, min_width=width)
        table.add_column("name", overflow="ellipsis", no_wrap=True, max_width=36)
        for r, c in zip(rows, cells, strict=True):
            table.add_row(*c, f"{r['name']} ({r['currency']})")
        stdout.print(table)


def _board(row: Mapping[str, Any]) -> str:
    """The board cell of ``data list``: A-shares only, ``+ST`` while an ST period lasts."""
    if row["market"] != str(Market.CN):
        return "-"
    ongoing = any(p["end"] is None for p in row["st_periods"])
    return f"{row['board_type']}{' +ST' if ongoing else ''}"


#: A-share ``order_book_id`` suffixes (RQAlpha's) that are also the exchange's MIC.
_CN_EXCHANGES = ("XSHG", "XSHE", "BJSE")


@data_app.command("import")
def import_cmd(
    file: Annotated[Path, typer.Argument(help=(
        "CSV or Parquet of daily bars: date, open, high, low, close, volume [, adj_close, "
        "limit_up, limit_down]; an order_book_id column for several instruments."))],
    order_book_id: Annotated[str | None, typer.Option("--id", help=(
        "order_book_id of a single-instrument file (one without an id column)."))] = None,
    market: Annotated[str | None, typer.Option(help=(
        "us or cn for new instruments (default: cn for .XSHG/.XSHE/.BJSE ids, else us)."))] = None,
    type_: Annotated[str | None, typer.Option("--type", help="CS, INDX or ETF.")] = None,
    name: Annotated[str | None, typer.Option(help="Full name.")] = None,
    exchange: Annotated[str | None, typer.Option(help=(
        "Exchange MIC (default: from a cn id's suffix, else XSHG / XNYS)."))] = None,
    lot_size: Annotated[int | None, typer.Option(help="Round lot in shares.")] = None,
    board_type: Annotated[BoardType | None, typer.Option(help=(
        "A-share board (default for cn stocks: from the code, 688/689.XSHG KSH, "
        "300/301.XSHE GEM, .BJSE BJS, else MainBoard)."))] = None,
    st_period: Annotated[list[str] | None, typer.Option(metavar="START:END", help=(
        "An ST period of a cn stock, YYYY-MM-DD:YYYY-MM-DD (END empty while it lasts); "
        "repeat for several."))] = None,
    map_: Annotated[list[str] | None, typer.Option("--map", metavar="OURS=THEIRS", help=(
        "Read catalog column OURS from the file's column THEIRS, e.g. --map date=Day; "
        "repeat for several."))] = None,
    strict: Annotated[bool, typer.Option(help=(
        "Refuse the whole file if any row is invalid (default: import the valid rows)."))] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and report only.")] = False,
    data_dir: DataDirOption = None,
) -> None:  # fmt: skip
    """Validate and import daily bars from a CSV or Parquet file (the upload's checks).

    The reference data given here (board, ST periods...) replaces what the catalog had.
    """
    with reported_errors():
        if not file.is_file():
            raise InvalidArgument(f"{file} does not exist")
        mapping = parse_mapping(map_)
        spec = upload_spec(
            order_book_id=order_book_id, market=market, type_=type_, lot_size=lot_size,
            board=str(board_type) if board_type else None, name=name,
            mapping=json.dumps(mapping), strict=strict, dry_run=dry_run,
        )  # fmt: skip
        periods = tuple(parse_st_period(text) for text in st_period or ())
        spec = dataclasses.replace(spec, exchange=exchange, st_periods=periods or None)
        report = import_file(catalog_at(data_dir), file.name, file.read_bytes(), spec)
        for outcome in report.instruments:
            stdout.print(outcome.report.describe())
            for line in ([outcome.error] if outcome.error else []) + outcome.warnings:
                stdout.print(f"  {line}")
        if report.refused:
            raise DataValidationError(report.refused)
        if dry_run:
            stdout.print("dry run: nothing was imported")
            return
        if not report.committed:
            raise DataValidationError(f"nothing in {file.name} could be imported")
        _record([o.report for o in report.instruments if o.usable], f"file {file.name}")


@data_app.command("bars")
def bars_cmd(
    order_book_id: Annotated[str, typer.Argument(help="Instrument id, e.g. AAPL.")],
    start: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    end: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    adjust: Annotated[str, typer.Option(help="none or pre.")] = "none",
    limit: Annotated[int, typer.Option(help="Rows to show (last N).")] = 20,
    data_dir: DataDirOption = None,
) -> None:
    """Show an instrument's daily bars."""
    with reported_errors():
        try:
            mode = Adjust(adjust)
            lo = pd.Timestamp(start).date() if start else None
            hi = pd.Timestamp(end).date() if end else None
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from None
        frame = catalog_at(data_dir).bars_frame(order_book_id, lo, hi, mode)
        stdout.print(frame.tail(limit).to_string())
