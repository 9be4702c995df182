"""The catalog's instruments table: its Arrow schema, row conversion, and metadata checks.

``DATA_DIR/instruments.parquet`` holds one row per instrument with the columns of
``INSTRUMENT_SCHEMA``: ``Instrument``'s fields plus the bar statistics ``first_bar``,
``last_bar``, ``bar_count``. Two columns came later and may be missing from older files:

- ``board_type`` (string, a ``BoardType`` value); missing or null reads as ``MainBoard``.
- ``st_periods`` (``list<struct<start: date32, end: date32>>``, ``end`` null while the
  period lasts); missing or null reads as no ST period. A list of typed structs keeps the
  ``StPeriod`` pairs together with their date type: Parquet stores it natively and DuckDB
  reads it as ``STRUCT(start DATE, "end" DATE)[]``, where a JSON string would need parsing
  and two parallel date lists could disagree in length.

The catalog rewrites the whole table on every import, so an older file gains both columns
(with their defaults) on the first import into it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa

from quantdesk.core.errors import InvalidArgument
from quantdesk.core.instruments import BoardType, Instrument, InstrumentType, Market, StPeriod

_ST_PERIOD = pa.struct([("start", pa.date32()), ("end", pa.date32())])

INSTRUMENT_SCHEMA = pa.schema(
    [  # type: ignore[arg-type]  # pyarrow-stubs: DataType factories are typed as object
        ("order_book_id", pa.string()),
        ("symbol", pa.string()),
        ("name", pa.string()),
        ("market", pa.string()),
        ("type", pa.string()),
        ("exchange", pa.string()),
        ("lot_size", pa.int64()),
        ("listed_date", pa.date32()),
        ("delisted_date", pa.date32()),
        ("currency", pa.string()),
        ("board_type", pa.string()),
        ("st_periods", pa.list_(_ST_PERIOD)),
        ("first_bar", pa.date32()),
        ("last_bar", pa.date32()),
        ("bar_count", pa.int64()),
    ]
)


def rows_from_table(table: pa.Table) -> dict[str, dict[str, Any]]:
    """The rows of an instruments table by ``order_book_id``, each with every schema column.

    Columns an older file lacks get their defaults (``board_type`` ``"MainBoard"``,
    ``st_periods`` ``[]``). ``st_periods`` is a list of ``{"start": date, "end": date|None}``.
    """
    rows: dict[str, dict[str, Any]] = {}
    for raw in table.to_pylist():
        row = {name: raw.get(name) for name in INSTRUMENT_SCHEMA.names}
        row["board_type"] = row["board_type"] or str(BoardType.MAIN)
        row["st_periods"] = list(row["st_periods"] or [])
        rows[str(row["order_book_id"])] = row
    return rows


def table_from_rows(rows: Mapping[str, Mapping[str, Any]]) -> pa.Table:
    """The instruments table of ``rows`` (as ``rows_from_table`` gives), sorted by id."""
    return pa.Table.from_pylist([dict(rows[k]) for k in sorted(rows)], schema=INSTRUMENT_SCHEMA)


def row_from_instrument(ins: Instrument) -> dict[str, Any]:
    """The reference-data columns of ``ins`` (the bar statistics are the caller's)."""
    return {
        "order_book_id": ins.order_book_id,
        "symbol": ins.symbol,
        "name": ins.name,
        "market": str(ins.market),
        "type": str(ins.type),
        "exchange": ins.exchange,
        "lot_size": ins.lot_size,
        "listed_date": ins.listed_date,
        "delisted_date": ins.delisted_date,
        "currency": ins.currency,
        "board_type": str(ins.board_type),
        "st_periods": [{"start": start, "end": end} for start, end in ins.st_periods],
    }


def instrument_from_row(row: Mapping[str, Any]) -> Instrument:
    """The ``Instrument`` of a row of ``rows_from_table``."""
    return Instrument(
        order_book_id=row["order_book_id"],
        symbol=row["symbol"],
        name=row["name"],
        market=Market(row["market"]),
        type=InstrumentType(row["type"]),
        exchange=row["exchange"],
        lot_size=int(row["lot_size"]),
        listed_date=row["listed_date"],
        delisted_date=row["delisted_date"],
        currency=row["currency"],
        board_type=BoardType(row["board_type"]),
        st_periods=tuple((p["start"], p["end"]) for p in row["st_periods"]),
    )


def checked_instrument(ins: Instrument) -> Instrument:
    """``ins`` checked before it is stored, with its ST periods sorted by start.

    Rules: lot size >= 1; a board other than ``MainBoard`` only for market ``cn``; ST
    periods only for ``cn`` stocks (``CS``), each ending on or after its start, no two
    sharing a day (an ongoing period, ``end`` None, must be the last).

    Raises:
        InvalidArgument: a rule is broken (the message names the offending value).
    """
    if ins.lot_size < 1:
        raise InvalidArgument(f"lot size must be >= 1, got {ins.lot_size}")
    board = BoardType(ins.board_type)
    if board is not BoardType.MAIN and ins.market is not Market.CN:
        raise InvalidArgument(
            f"{ins.order_book_id}: board_type {board} is an A-share board; market"
            f" {ins.market} instruments are {BoardType.MAIN}"
        )
    if ins.st_periods and (ins.market is not Market.CN or ins.type is not InstrumentType.STOCK):
        raise InvalidArgument(
            f"{ins.order_book_id}: ST periods apply to A-share stocks (market cn, type CS),"
            f" not to market {ins.market} type {ins.type}"
        )
    periods = check_st_periods(ins.st_periods)
    return dataclasses.replace(ins, board_type=board, st_periods=periods)


def check_st_periods(periods: Iterable[StPeriod]) -> tuple[StPeriod, ...]:
    """``periods`` sorted by start, after checking them.

    Raises:
        InvalidArgument: a period ends before it starts, or two periods share a day.
    """
    ordered = sorted(periods, key=lambda p: p[0])
    for start, end in ordered:
        if end is not None and end < start:
            raise InvalidArgument(
                f"ST period {format_st_period((start, end))}: END {end} is before START {start}"
            )
    for before, after in itertools.pairwise(ordered):
        if before[1] is None or before[1] >= after[0]:
            raise InvalidArgument(
                f"ST periods {format_st_period(before)} and {format_st_period(after)} overlap"
            )
    return tuple(ordered)


def format_st_period(period: StPeriod) -> str:
    """``START:END`` in ISO dates, ``END`` empty for an ongoing period (``parse_st_period``)."""
    start, end = period
    return f"{start.isoformat()}:{'' if end is None else end.isoformat()}"


def parse_st_period(text: str) -> StPeriod:
    """An ST period from ``START:END`` (``YYYY-MM-DD:YYYY-MM-DD``; ``END`` empty: ongoing).

    Only the format is checked here; ``check_st_periods`` checks the periods' order.

    Raises:
        InvalidArgument: no ``:`` separator, or a part that is not a ``YYYY-MM-DD`` date.
    """
    start_text, sep, end_text = text.strip().partition(":")
    if not sep:
        raise InvalidArgument(
            f"ST period {text!r} must be START:END as YYYY-MM-DD:YYYY-MM-DD"
            " (END empty while it lasts)"
        )

    def day(part: str, what: str) -> dt.date:
        try:
            return dt.date.fromisoformat(part.strip())
        except ValueError:
            raise InvalidArgument(
                f"ST period {text!r}: {what} {part.strip()!r} is not a date as YYYY-MM-DD"
            ) from None

    start = day(start_text, "START")
    return start, (day(end_text, "END") if end_text.strip() else None)


def infer_board_type(order_book_id: str, kind: InstrumentType) -> BoardType:
    """The board of an A-share stock read off its code; ``MainBoard`` when it says nothing.

    The exchanges' public code allocation: on the SSE (``.XSHG``) 688xxx are STAR Market
    shares and 689xxx its depositary receipts (``KSH``), 600/601/603/605 the main board; on
    the SZSE (``.XSHE``) 300xxx/301xxx are ChiNext (``GEM``), 000-003 the main board (002 the
    former SME board, merged into it in 2021); every stock of the Beijing Stock Exchange
    (RQAlpha's ``.BJSE`` suffix: 4xxxxx/8xxxxx, 920xxx since 2024) is ``BJS``. Only stocks
    (``CS``) are inferred: ETFs and indices stay ``MainBoard``.
    """
    if kind is not InstrumentType.STOCK:
        return BoardType.MAIN
    code, _, suffix = order_book_id.upper().partition(".")
    if suffix == "XSHG" and code.startswith(("688", "689")):
        return BoardType.KSH
    if suffix == "XSHE" and code.startswith(("300", "301")):
        return BoardType.GEM
    if suffix == "BJSE":
        return BoardType.BJS
    return BoardType.MAIN


__all__ = [
    "INSTRUMENT_SCHEMA",
    "check_st_periods",
    "checked_instrument",
    "format_st_period",
    "infer_board_type",
    "instrument_from_row",
    "parse_st_period",
    "row_from_instrument",
    "rows_from_table",
    "table_from_rows",
]
