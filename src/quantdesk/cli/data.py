"""``quantdesk data ...``: inspect and fill the market-data catalog."""

from __future__ import annotations

import datetime as dt
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
from quantdesk.core.instruments import BoardType, Instrument, InstrumentType, Market
from quantdesk.core.settings import Settings
from quantdesk.data import Adjust, Catalog
from quantdesk.data.demo import import_demo
from quantdesk.data.instruments_table import infer_board_type, parse_st_period
from quantdesk.data.validation import ImportReport
from quantdesk.services.events import EventLog
from quantdesk.storage import Database

data_app = typer.Typer(help="Inspect and import market data.", no_args_is_help=True)
stdout = Console(highlight=False)

DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Catalog folder (default: $DATA_DIR or ./var/data)."),
]


def _catalog(data_dir: Path | None) -> Catalog:
    return Catalog(data_dir or Settings().data_dir)


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
        catalog = _catalog(data_dir)
        reports = import_demo(catalog)
        for report in reports:
            stdout.print(report.describe())
        stdout.print(f"catalog: {catalog.root}")
        _record(reports, "demo")


@data_app.command("list")
def list_cmd(data_dir: DataDirOption = None) -> None:
    """List the instruments in the catalog with their bar ranges."""
    with reported_errors():
        catalog = _catalog(data_dir)
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
        "CSV with date, open, high, low, close, volume [, adj_close, limit_up, limit_down]."))],
    order_book_id: Annotated[str, typer.Option("--id", help="order_book_id to store it as.")],
    market: Annotated[str, typer.Option(help="us or cn.")] = "us",
    type_: Annotated[str, typer.Option("--type", help="CS, INDX or ETF.")] = "CS",
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
    strict: Annotated[bool, typer.Option(help="Refuse the file if any row is invalid.")] = False,
    data_dir: DataDirOption = None,
) -> None:  # fmt: skip
    """Validate and import one instrument's daily bars from a CSV file.

    The instrument's reference data (board, ST periods...) replaces what the catalog had.
    """
    with reported_errors():
        try:
            mkt, kind = Market(market), InstrumentType(type_)
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from None
        periods = tuple(parse_st_period(text) for text in st_period or ())
        if not file.is_file():
            raise InvalidArgument(f"{file} does not exist")
        try:
            frame = pd.read_csv(file)
        except (ValueError, UnicodeDecodeError) as exc:  # pandas' EmptyDataError/ParserError
            raise DataValidationError(f"{file} is not a readable CSV file: {exc}") from None
        frame.columns = [str(c).strip().lower().replace(" ", "_") for c in frame.columns]
        if "date" not in frame.columns:
            raise DataValidationError(f"{file} has no 'date' column")
        first = pd.to_datetime(frame["date"], errors="coerce").min()
        listed = first.date() if isinstance(first, pd.Timestamp) else dt.datetime.now(dt.UTC).date()
        lot = lot_size or (100 if mkt is Market.CN and kind is not InstrumentType.INDEX else 1)
        cn = mkt is Market.CN
        suffix = order_book_id.rpartition(".")[2].upper()
        board = board_type or (infer_board_type(order_book_id, kind) if cn else BoardType.MAIN)
        mic = exchange or ((suffix if suffix in _CN_EXCHANGES else "XSHG") if cn else "XNYS")
        instrument = Instrument(
            order_book_id, order_book_id.split(".")[0], name or order_book_id, mkt, kind,
            mic, lot, listed, None, "CNY" if cn else "USD", board, periods,
        )  # fmt: skip
        report = _catalog(data_dir).import_bars(instrument, frame, strict=strict)
        stdout.print(report.describe())
        _record([report], f"file {file.name}")


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
        frame = _catalog(data_dir).bars_frame(order_book_id, lo, hi, mode)
        stdout.print(frame.tail(limit).to_string())
