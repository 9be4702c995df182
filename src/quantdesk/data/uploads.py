"""Files of daily bars into the catalog: CSV or Parquet, one instrument or many, previewed.

``import_file`` reads a file's bytes (``read_table``), maps its columns onto the catalog's
(``normalize_columns``: a caller's mapping first, then the usual names of Yahoo, Tushare,
akshare and RQAlpha exports), splits it per instrument (an ``order_book_id`` column, or one
id for the whole file), validates every instrument with the import rules
(``validation.validate_bars``) and only then writes, so a refused file (``strict``) or a
preview (``dry_run``) changes nothing. The report says, per instrument, what was accepted,
which rows were rejected and why, and which sessions have no bar.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from quantdesk.core.errors import DataValidationError, InvalidArgument, NotFound
from quantdesk.core.instruments import BoardType, Instrument, InstrumentType, Market
from quantdesk.data.catalog import Catalog
from quantdesk.data.ids import CN_SUFFIXES, market_of_id
from quantdesk.data.instruments_table import checked_instrument, infer_board_type
from quantdesk.data.validation import LIMIT_COLUMNS, REQUIRED, ImportReport, validate_bars

#: Column names the catalog reads, with the names other tools export them under (compared
#: after lower-casing and turning spaces and dashes into ``_``).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "order_book_id": ("order_book_id", "symbol", "ticker", "code", "ts_code", "代码", "股票代码"),
    "date": ("date", "datetime", "trade_date", "time", "timestamp", "日期", "交易日期"),
    "open": ("open", "开盘", "开盘价"),
    "high": ("high", "最高", "最高价"),
    "low": ("low", "最低", "最低价"),
    "close": ("close", "收盘", "收盘价"),
    "volume": ("volume", "vol", "成交量"),
    "adj_close": ("adj_close", "adjclose", "adjusted_close"),
    "limit_up": ("limit_up", "high_limit", "up_limit", "涨停价"),
    "limit_down": ("limit_down", "low_limit", "down_limit", "跌停价"),
}
#: Rejected rows listed per instrument in a report (the count is always complete).
REPORT_ROWS = 200


@dataclass(frozen=True)
class UploadSpec:
    """How to read an uploaded file.

    Attributes:
        order_book_id: The id of a single-instrument file (one without an id column).
        market: ``us`` or ``cn`` for new instruments (default: from an A-share suffix, else
            ``us``); an instrument already in the catalog keeps its reference data unless a
            field is given here.
        type: ``CS``, ``INDX`` or ``ETF`` for new instruments (default ``CS``).
        lot_size: Round lot (default 100 for A-share stocks, else 1).
        board: A-share board (default: read off the code).
        name: Full name (single-instrument files).
        mapping: ``{catalog column: file column}``, applied before the usual names.
        strict: Refuse the whole file (nothing changes) if any row of any instrument is
            invalid or its dates are out of order.
        dry_run: Validate and report only.
        exchange: Exchange MIC of new instruments (default: an A-share suffix, else XNYS).
        st_periods: ST periods (single-instrument files): replace the catalog's.
        listed_date: Listing date (default: the catalog's, else the first bar).
        delisted_date: Delisting date (default: the catalog's, else none).
    """

    order_book_id: str | None = None
    market: Market | None = None
    type: InstrumentType | None = None
    lot_size: int | None = None
    board: BoardType | None = None
    name: str | None = None
    mapping: Mapping[str, str] = field(default_factory=dict)
    strict: bool = True
    dry_run: bool = False
    exchange: str | None = None
    st_periods: tuple[tuple[dt.date, dt.date | None], ...] | None = None
    listed_date: dt.date | None = None
    delisted_date: dt.date | None = None


@dataclass
class InstrumentOutcome:
    """One instrument of an upload: its report, and an error when none of it can be used."""

    report: ImportReport
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        """True when there are valid rows to write."""
        return self.error is None and self.report.rows_accepted > 0


@dataclass
class UploadReport:
    """What an upload holds and what happened to it.

    ``committed`` is True once the accepted rows were written (never for a dry run or a
    refused file); ``refused`` says why a strict upload was not written.
    """

    file_format: str
    columns: list[str]
    instruments: list[InstrumentOutcome]
    dry_run: bool
    committed: bool = False
    refused: str | None = None
    mapping: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of the report (dates as ``YYYY-MM-DD``)."""
        return {
            "format": self.file_format,
            "columns": self.columns,
            "mapping": self.mapping,
            "dry_run": self.dry_run,
            "committed": self.committed,
            "refused": self.refused,
            "rows_in": sum(o.report.rows_in for o in self.instruments),
            "rows_accepted": sum(o.report.rows_accepted for o in self.instruments),
            "instruments": [_outcome_dict(o) for o in self.instruments],
        }


def _outcome_dict(outcome: InstrumentOutcome) -> dict[str, Any]:
    r = outcome.report
    return {
        "order_book_id": r.order_book_id,
        "rows_in": r.rows_in,
        "rows_accepted": r.rows_accepted,
        "rejected_total": len(r.rejected),
        "rejected": [{"date": d, "reason": why} for d, why in r.rejected[:REPORT_ROWS]],
        "missing_sessions_total": len(r.missing_sessions),
        "missing_sessions": [d.isoformat() for d in r.missing_sessions[:REPORT_ROWS]],
        "first": r.first.isoformat() if r.first else None,
        "last": r.last.isoformat() if r.last else None,
        "error": outcome.error,
        "warnings": outcome.warnings,
    }


def read_table(filename: str, data: bytes, min_columns: int = 2) -> tuple[pd.DataFrame, str]:
    """The rows of a CSV or Parquet file (Parquet by its magic bytes), and the format's name.

    CSV cells are read as text (codes keep their leading zeros).

    Raises:
        DataValidationError: empty, neither a readable Parquet nor a CSV file, or a CSV file
            of fewer than ``min_columns`` columns (daily bars need date and prices).
    """
    if not data.strip():
        raise DataValidationError(f"{filename} is empty")
    if data[:4] == b"PAR1":
        try:
            return pq.read_table(pa.BufferReader(data)).to_pandas(), "parquet"
        except (pa.ArrowException, ValueError, OSError) as exc:
            raise DataValidationError(f"{filename} is not a readable Parquet file: {exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataValidationError(
            f"{filename} is neither Parquet nor UTF-8 text (CSV); nothing imported"
        ) from None
    # the delimiter is sniffed (comma, tab, semicolon...); a one-column file has none to find
    one_column = "\n" in text and not any(c in text.split("\n", 1)[0] for c in ",;\t|")
    try:
        frame = pd.read_csv(
            io.StringIO(text), sep="," if one_column else None, engine="python", dtype=str
        )
    except (ValueError, pd.errors.ParserError, csv.Error) as exc:
        raise DataValidationError(f"{filename} is not a readable CSV file: {exc}") from None
    if frame.shape[1] < min_columns:
        raise DataValidationError(
            f"{filename} has {frame.shape[1]} column(s); expected date, open, high, low, close, "
            "volume"
        )
    return frame, "csv"


def _key(name: Any) -> str:
    return str(name).strip().lower().replace(" ", "_").replace("-", "_")


class MissingColumns(DataValidationError):
    """A file lacks required columns: ``data`` has the file's ``columns`` and the ``missing``."""

    def __init__(self, message: str, columns: list[str], missing: list[str]) -> None:
        super().__init__(message)
        self.data = {"columns": columns, "missing": missing}


def applied_mapping(frame: pd.DataFrame) -> dict[str, str]:
    """``{catalog column: file column}`` of a frame ``normalize_columns`` made."""
    return dict(frame.attrs.get("mapping", {}))


def normalize_columns(
    frame: pd.DataFrame,
    mapping: Mapping[str, str],
    aliases: Mapping[str, tuple[str, ...]] = COLUMN_ALIASES,
) -> pd.DataFrame:
    """``frame`` with the catalog's column names (see the module docstring).

    ``aliases`` are the columns to look for with their other names (default: daily bars').

    The mapping applied (``{catalog column: file column}``) is kept in the result's
    ``attrs["mapping"]`` (``applied_mapping``).

    Raises:
        InvalidArgument: the mapping names a catalog column that does not exist, or a file
            column the file lacks.
    """
    unknown = sorted(set(mapping) - set(aliases))
    if unknown:
        raise InvalidArgument(
            f"mapping names unknown column(s) {', '.join(unknown)}; known: {', '.join(aliases)}"
        )
    by_key = {_key(c): c for c in frame.columns}
    renames: dict[str, str] = {}
    for ours, theirs in mapping.items():
        source = theirs if theirs in frame.columns else by_key.get(_key(theirs))
        if source is None:
            raise InvalidArgument(
                f"mapping: the file has no column {theirs!r} (it has "
                f"{', '.join(map(str, frame.columns))})"
            )
        renames[source] = ours
    for ours, names in aliases.items():
        if ours in renames.values():
            continue
        source = next((by_key[a] for a in names if a in by_key and by_key[a] not in renames), None)
        if source is not None:
            renames[source] = ours
    out = frame[list(renames)].rename(columns=renames)
    out.attrs["mapping"] = {ours: str(theirs) for theirs, ours in renames.items()}
    return out


def _order_warning(dates: pd.Series) -> str | None:
    parsed = pd.to_datetime(dates, errors="coerce").dropna()
    if parsed.is_monotonic_increasing or parsed.is_monotonic_decreasing:
        return None
    return "dates are not in order (neither ascending nor descending); they were sorted"


def instrument_for(
    catalog: Catalog, oid: str, spec: UploadSpec, first: dt.date | None, single: bool
) -> Instrument:
    """The reference data of ``oid``: the catalog's, with what ``spec`` gives, or new.

    Raises:
        InvalidArgument: the result breaks a reference-data rule (``checked_instrument``).
    """
    try:
        known: Instrument | None = catalog.instrument(oid)
    except NotFound:
        known = None
    suffix = oid.rpartition(".")[2].upper() if "." in oid else ""
    market = spec.market or (known.market if known else None) or market_of_id(oid)
    kind = InstrumentType(spec.type or (known.type if known else InstrumentType.STOCK))
    cn = market is Market.CN
    lot = spec.lot_size or (known.lot_size if known else None)
    if lot is None:
        lot = 100 if cn and kind is not InstrumentType.INDEX else 1
    board = spec.board or (known.board_type if known else None)
    if board is None:
        board = infer_board_type(oid, kind) if cn else BoardType.MAIN
    name = (spec.name if single else None) or (known.name if known else oid)
    mic = spec.exchange or (known.exchange if known else None)
    if mic is None:
        mic = (suffix if suffix in CN_SUFFIXES else "XSHG") if cn else "XNYS"
    listed = spec.listed_date or (known.listed_date if known else (first or dt.date(1990, 1, 1)))
    symbol = known.symbol if known else oid.split(".", maxsplit=1)[0]
    delisted = spec.delisted_date or (known.delisted_date if known else None)
    periods = (spec.st_periods if single else None) or (known.st_periods if known else ())
    currency = "CNY" if cn else "USD"
    return checked_instrument(
        Instrument(
            oid, symbol, name, market, kind, mic, lot, listed, delisted, currency, board, periods
        )
    )


def split_instruments(frame: pd.DataFrame, order_book_id: str | None) -> dict[str, pd.DataFrame]:
    """The rows of each instrument: by the ``order_book_id`` column, or all as one id.

    Raises:
        InvalidArgument: neither an id column nor ``order_book_id``, or both disagree.
    """
    if "order_book_id" in frame.columns:
        ids = frame["order_book_id"].astype(str).str.strip()
        if order_book_id and set(ids) - {order_book_id}:
            raise InvalidArgument(
                "order_book_id is for single-instrument files; this one names several "
                "instruments in its id column"
            )
        groups = {str(k): g.drop(columns="order_book_id") for k, g in frame.groupby(ids, sort=True)}
        blank = {k for k in groups if k in ("", "nan", "None")}
        if blank:
            raise InvalidArgument("some rows have no order_book_id")
        return groups
    if not order_book_id:
        raise InvalidArgument(
            "the file has no order_book_id column: give order_book_id for a single-instrument "
            "file (or map the file's id column)"
        )
    return {order_book_id: frame}


def import_file(catalog: Catalog, filename: str, data: bytes, spec: UploadSpec) -> UploadReport:
    """Validate a file of daily bars and, unless refused or a dry run, write it.

    Every instrument is validated before anything is written. With ``strict`` a single
    invalid row (or dates out of order) anywhere refuses the whole file; without it the
    valid rows of each instrument are written and the rest reported.

    Raises:
        DataValidationError: the file is unreadable or lacks a required column.
        InvalidArgument: a bad mapping, id or reference field.
    """
    raw, fmt = read_table(filename, data)
    frame = normalize_columns(raw, spec.mapping)
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise MissingColumns(
            f"{filename}: missing column(s) {', '.join(missing)} (the file has "
            f"{', '.join(map(str, raw.columns))}); map them with the column mapping",
            [str(c) for c in raw.columns],
            missing,
        )
    mapping = applied_mapping(frame)
    groups = split_instruments(frame, spec.order_book_id)
    single = len(groups) == 1
    outcomes: list[InstrumentOutcome] = []
    ready: list[tuple[Instrument, pd.DataFrame]] = []
    for oid, rows in groups.items():
        report = ImportReport(oid, rows_in=len(rows))
        outcome = InstrumentOutcome(report)
        outcomes.append(outcome)
        try:
            first = pd.to_datetime(rows["date"], errors="coerce").min()
            instrument = instrument_for(
                catalog, oid, spec, first.date() if isinstance(first, pd.Timestamp) else None,
                single,
            )  # fmt: skip
            catalog.check_id(oid)
            _, outcome.report = validate_bars(rows, oid, instrument.calendar)
        except (DataValidationError, InvalidArgument) as exc:
            outcome.error = exc.message
            continue
        if (warning := _order_warning(rows["date"])) is not None:
            outcome.warnings.append(warning)
        ready.append((instrument, rows))
    problems = [o for o in outcomes if o.error or o.report.rejected or o.warnings]
    result = UploadReport(
        fmt, [str(c) for c in raw.columns], outcomes, spec.dry_run, mapping=mapping
    )
    if spec.strict and problems:
        worst = problems[0]
        why = worst.error or (
            f"{len(worst.report.rejected)} invalid rows (first: {worst.report.rejected[0][0]}: "
            f"{worst.report.rejected[0][1]})"
            if worst.report.rejected
            else worst.warnings[0]
        )
        result.refused = (
            f"strict: {len(problems)} of {len(outcomes)} instrument(s) cannot be imported as "
            f"they are ({worst.report.order_book_id}: {why}); nothing was imported"
        )
        return result
    if spec.dry_run:
        return result
    usable = {o.report.order_book_id for o in outcomes if o.usable}
    catalog.import_many([(ins, rows) for ins, rows in ready if ins.order_book_id in usable])
    result.committed = bool(usable)
    return result


#: Columns a file may carry besides ``REQUIRED`` (for the UI's mapping form).
OPTIONAL_COLUMNS = ("order_book_id", "adj_close", *LIMIT_COLUMNS)
