"""``quantdesk data import-index / indexes / index-members``: index membership over time."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from quantdesk.cli.data import DataDirOption, catalog_at, parse_mapping, stdout
from quantdesk.cli.errors import reported_errors
from quantdesk.core.errors import DataValidationError, InvalidArgument
from quantdesk.data.ids import market_today, normalize_id
from quantdesk.data.index_files import IndexUploadSpec, import_index_file


def _date(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(f"{text!r} is not a date as YYYY-MM-DD") from None


def import_index_cmd(
    file: Annotated[Path, typer.Argument(help=(
        "CSV or Parquet of index compositions (index_id, date, order_book_id[, weight]) or "
        "spells (index_id, order_book_id, start_date[, end_date])."))],
    index_id: Annotated[str | None, typer.Option("--index", help=(
        "The index of a file without an index_id column, e.g. 000300.XSHG."))] = None,
    date: Annotated[str | None, typer.Option(help=(
        "YYYY-MM-DD: the date of a one-composition file without a date column."))] = None,
    map_: Annotated[list[str] | None, typer.Option("--map", metavar="OURS=THEIRS", help=(
        "Read column OURS from the file's column THEIRS; repeat for several."))] = None,
    strict: Annotated[bool, typer.Option(help=(
        "Refuse the whole file if any row is invalid."))] = True,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and report only.")] = False,
    data_dir: DataDirOption = None,
) -> None:  # fmt: skip
    """Validate and import index membership (the upload's checks and report)."""
    with reported_errors():
        if not file.is_file():
            raise InvalidArgument(f"{file} does not exist")
        spec = IndexUploadSpec(index_id=index_id, date=_date(date), mapping=parse_mapping(map_),
                               strict=strict, dry_run=dry_run)  # fmt: skip
        report = import_index_file(catalog_at(data_dir), file.name, file.read_bytes(), spec)
        body = report.as_dict()
        stdout.print(f"{body['layout']}: {body['rows_in']} rows, {body['rows_accepted']} "
                     f"accepted, {body['rejected_total']} rejected")  # fmt: skip
        for row in body["rejected"][:20]:
            stdout.print(f"  line {row['line']}: {row['reason']}")
        for item in body["indexes"]:
            stdout.print(f"{item['index_id']}: {item['compositions']} composition(s) "
                         f"{item['first']}..{item['last']} ({item['added']} new, "
                         f"{item['replaced']} replaced), {item['members_latest']} members "
                         "in the latest")  # fmt: skip
        if report.refused:
            raise DataValidationError(report.refused)
        if dry_run:
            stdout.print("dry run: nothing was imported")


def indexes_cmd(data_dir: DataDirOption = None) -> None:
    """List the indexes with stored membership."""
    with reported_errors():
        table = Table(box=box.SIMPLE_HEAD)
        for column in ("index_id", "from", "latest", "compositions", "members", "weights",
                       "sources"):  # fmt: skip
            table.add_column(column, no_wrap=True)
        for s in catalog_at(data_dir).memberships.indexes():
            table.add_row(s.index_id, s.first_date.isoformat(), s.last_date.isoformat(),
                          str(s.compositions), str(s.members), "yes" if s.weights else "no",
                          ", ".join(s.sources))  # fmt: skip
        stdout.print(table)


def index_members_cmd(
    index_id: Annotated[str, typer.Argument(help="The index, e.g. 000300.XSHG.")],
    date: Annotated[
        str | None, typer.Option(help=("YYYY-MM-DD (default: today where the index trades)."))
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Show the members of an index on a day (the composition in effect then)."""
    with reported_errors():
        index_id = normalize_id(index_id, index=True)
        day = _date(date) or market_today(index_id)
        comp = catalog_at(data_dir).memberships.composition_on(index_id, day)
        stdout.print(f"{comp.index_id} on {day}: {len(comp.order_book_ids)} members "
                     f"(composition of {comp.date}, from {comp.source})")  # fmt: skip
        weights = comp.weights or (None,) * len(comp.order_book_ids)
        for oid, weight in zip(comp.order_book_ids, weights, strict=True):
            stdout.print(oid if weight is None else f"{oid}  {weight:g}%")


def register(app: typer.Typer) -> None:
    """Add the index commands to ``quantdesk data``."""
    app.command("import-index")(import_index_cmd)
    app.command("indexes")(indexes_cmd)
    app.command("index-members")(index_members_cmd)
