"""Files of index membership into the catalog: CSV or Parquet, previewed, all or nothing.

Two layouts are read (after the column mapping and the usual names, ``INDEX_ALIASES``):

* **compositions**: ``index_id, date, order_book_id[, weight]``, one row per member of
  each composition, ``date`` the day it took effect (Tushare's ``index_weight`` export:
  ``index_code, con_code, trade_date, weight``; akshare's ``index_stock_cons_weight_csindex``:
  ``指数代码, 成分券代码, 日期, 权重``). A file of one composition may leave out ``index_id``
  and ``date`` and give them as fields.
* **spells**: ``index_id, order_book_id, start_date[, end_date]``, one row per stay of a
  member in the index, ``end_date`` its last day (empty, or a far-future marker such as
  9999-12-31, while it stays); turned into a
  composition on every day membership changes (``compositions_from_spells``).

Codes are normalised (``ids.normalize_id``: ``600000.SH``, ``sh.600000`` and ``600000``
all become ``600000.XSHG``; index codes the same way, ``399xxx`` in Shenzhen). Every row is
checked; the report lists rejected rows with their line and reason. ``strict`` (the default)
refuses the whole file if any row is rejected; nothing is written for a dry run or a
refusal. The write replaces stored compositions of the same index and date
(``IndexMembership.merge``).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from quantdesk.core.errors import InvalidArgument
from quantdesk.data.catalog import Catalog
from quantdesk.data.ids import normalize_id
from quantdesk.data.index_members import (
    Composition,
    check_composition,
    compositions_from_spells,
)
from quantdesk.data.uploads import REPORT_ROWS, MissingColumns, normalize_columns, read_table

#: Columns a membership file may have, with the names other tools export them under.
INDEX_ALIASES: dict[str, tuple[str, ...]] = {
    "index_id": ("index_id", "index_code", "index", "index_order_book_id", "指数代码"),
    "order_book_id": ("order_book_id", "con_code", "constituent", "code", "ts_code", "symbol",
                      "stock_code", "成分券代码", "品种代码", "证券代码", "股票代码"),
    "date": ("date", "trade_date", "effective_date", "update_date", "updatedate", "日期"),
    "weight": ("weight", "i_weight", "权重"),
    "start_date": ("start_date", "in_date", "included", "纳入日期"),
    "end_date": ("end_date", "out_date", "excluded", "剔除日期"),
}  # fmt: skip


@dataclass(frozen=True)
class IndexUploadSpec:
    """How to read a membership file.

    Attributes:
        index_id: The index of a file without an ``index_id`` column.
        date: The composition date of a one-composition file without a ``date`` column.
        mapping: ``{column: file column}`` for ``INDEX_ALIASES``' columns.
        strict: Refuse the whole file if any row is rejected.
        dry_run: Validate and report only.
    """

    index_id: str | None = None
    date: dt.date | None = None
    mapping: Mapping[str, str] = field(default_factory=dict)
    strict: bool = True
    dry_run: bool = False


@dataclass
class IndexUploadReport:
    """What a membership file holds and what happened to it."""

    file_format: str
    columns: list[str]
    mapping: dict[str, str]
    layout: str
    rows_in: int
    dry_run: bool
    rejected: list[tuple[int, str]] = field(default_factory=list)
    indexes: list[dict[str, Any]] = field(default_factory=list)
    committed: bool = False
    refused: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape (``rejected`` rows as ``{line, reason}``, the first 200)."""
        return {
            "format": self.file_format,
            "columns": self.columns,
            "mapping": self.mapping,
            "layout": self.layout,
            "dry_run": self.dry_run,
            "committed": self.committed,
            "refused": self.refused,
            "rows_in": self.rows_in,
            "rows_accepted": self.rows_in - len(self.rejected),
            "rejected_total": len(self.rejected),
            "rejected": [{"line": n, "reason": why} for n, why in self.rejected[:REPORT_ROWS]],
            "indexes": self.indexes,
        }


#: An end date on or after this is a "still a member" marker (9999-12-31, 2999-12-31).
OPEN_END = dt.date(2900, 1, 1)


def _missing(value: Any) -> bool:
    """True for an empty cell: None, NaN, NaT (pandas' empty timestamp) or blank text."""
    if value is None or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip().lower() in ("", "nan", "nat", "none")


def _day(value: Any) -> dt.date | None:
    """A date from ``YYYY-MM-DD``, ``YYYYMMDD`` or a timestamp; ``None`` when empty.

    Raises:
        ValueError: not a date.
    """
    if _missing(value):
        return None
    if isinstance(value, dt.datetime | pd.Timestamp):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = _text(value)
    try:
        if text.isdigit() and len(text) == 8:
            return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD or YYYYMMDD)") from None


def _text(value: Any) -> str:
    """A cell as text; a whole float (a code column read as numbers) without ``.0``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _weight(value: Any) -> float | None:
    if _missing(value):
        return None
    text = str(value).strip().rstrip("%")
    try:
        weight = float(text)
    except ValueError:
        raise ValueError(f"weight {value!r} is not a number") from None
    if not math.isfinite(weight) or weight < 0:
        raise ValueError(f"weight {value!r} is not a percentage >= 0")
    return weight


def _rows(frame: pd.DataFrame, spec: IndexUploadSpec, layout: str) -> tuple[
    list[tuple[int, str, str, dt.date, dt.date | None, float | None]], list[tuple[int, str]]
]:  # fmt: skip
    """Each row as ``(line, index_id, member, date_or_start, end, weight)``, and rejections.

    ``line`` is the row's line in a CSV file (the header is line 1).
    """
    good: list[tuple[int, str, str, dt.date, dt.date | None, float | None]] = []
    bad: list[tuple[int, str]] = []
    given_index = normalize_id(spec.index_id, index=True) if spec.index_id else None
    first_key = "date" if layout == "compositions" else "start_date"
    for i, row in enumerate(frame.to_dict("records")):
        line = i + 2
        try:
            raw_index = row.get("index_id")
            index_id = (
                given_index if _missing(raw_index) else normalize_id(_text(raw_index), index=True)
            )
            if index_id is None:
                raise ValueError("no index_id (give it as a field, or map the file's column)")
            Catalog.check_id(index_id)
            raw_member = row.get("order_book_id")
            if _missing(raw_member):
                raise ValueError("no order_book_id")
            member = normalize_id(_text(raw_member))
            Catalog.check_id(member)
            day = _day(row.get(first_key)) if first_key in row else spec.date
            if day is None:
                raise ValueError(f"no {first_key}")
            end = _day(row.get("end_date")) if layout == "spells" else None
            if end is not None and end >= OPEN_END:
                end = None  # a far-future end: still a member
            if end is not None and end < day:
                raise ValueError(f"end_date {end} is before start_date {day}")
            weight = _weight(row.get("weight")) if layout == "compositions" else None
        except (ValueError, TypeError) as exc:
            bad.append((line, str(exc)))
            continue
        except InvalidArgument as exc:
            bad.append((line, exc.message))
            continue
        good.append((line, index_id, member, day, end, weight))
    return good, bad


def _compositions(
    rows: list[tuple[int, str, str, dt.date, dt.date | None, float | None]],
    layout: str,
    rejected: list[tuple[int, str]],
) -> list[Composition]:
    """The checked compositions of ``rows``; rows that break a rule join ``rejected``."""
    out: list[Composition] = []
    if layout == "spells":
        by_index: dict[str, list[tuple[str, dt.date, dt.date | None]]] = {}
        for _, index_id, member, start, end, _w in rows:
            by_index.setdefault(index_id, []).append((member, start, end))
        for index_id, spells in sorted(by_index.items()):
            try:
                out.extend(compositions_from_spells(index_id, spells))
            except InvalidArgument as exc:
                rejected.append((0, exc.message))
        return out
    groups: dict[tuple[str, dt.date], list[tuple[int, str, float | None]]] = {}
    for line, index_id, member, day, _, weight in rows:
        groups.setdefault((index_id, day), []).append((line, member, weight))
    for (index_id, day), members in sorted(groups.items()):
        seen: set[str] = set()
        ids: list[str] = []
        weights: list[float | None] = []
        for line, member, weight in members:
            if member in seen:
                rejected.append((line, f"{member} is listed twice in {index_id} on {day}"))
                continue
            seen.add(member)
            ids.append(member)
            weights.append(weight)
        out.append(check_composition(
            Composition(index_id, day, tuple(ids), tuple(weights)), Catalog.check_id
        ))  # fmt: skip
    return out


def import_index_file(
    catalog: Catalog, filename: str, data: bytes, spec: IndexUploadSpec
) -> IndexUploadReport:
    """Validate a membership file and, unless refused or a dry run, merge it.

    Raises:
        DataValidationError: unreadable, or neither layout's columns are there
            (``MissingColumns``).
        InvalidArgument: a bad mapping.
    """
    raw, fmt = read_table(filename, data, min_columns=1)
    frame = normalize_columns(raw, spec.mapping, INDEX_ALIASES)
    layout = "spells" if "start_date" in frame.columns else "compositions"
    needed = ["order_book_id"] + (["date"] if layout == "compositions" and spec.date is None
                                  else ["start_date"] if layout == "spells" else [])  # fmt: skip
    if "index_id" not in frame.columns and not spec.index_id:
        needed.append("index_id")
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise MissingColumns(
            f"{filename}: missing column(s) {', '.join(missing)} (the file has "
            f"{', '.join(map(str, raw.columns))}); a membership file has index_id, date, "
            "order_book_id[, weight] or index_id, order_book_id, start_date[, end_date]",
            [str(c) for c in raw.columns],
            missing,
        )
    mapping = dict(frame.attrs.get("mapping", {}))
    rows, rejected = _rows(frame, spec, layout)
    compositions = _compositions(rows, layout, rejected) if rows else []
    report = IndexUploadReport(
        fmt, [str(c) for c in raw.columns], mapping, layout, len(frame), spec.dry_run, rejected
    )
    if spec.strict and rejected:
        line, why = rejected[0]
        where = f"line {line}: " if line else ""
        report.refused = (
            f"strict: {len(rejected)} row(s) rejected ({where}{why}); nothing was imported"
        )
    if not compositions and report.refused is None:
        report.refused = f"nothing in {filename} could be imported: no valid row"
    with catalog.write_lock():
        dry = spec.dry_run or report.refused is not None
        merged = catalog.memberships.merge(compositions, dry_run=dry)
    latest = {c.index_id: c for c in compositions}  # sorted by date: the last one wins
    report.indexes = [
        {"index_id": index_id, **counts, "compositions": counts["added"] + counts["replaced"],
         "members_latest": len(latest[index_id].order_book_ids)}
        for index_id, counts in merged.as_dict().items()
    ]  # fmt: skip
    report.committed = not dry and bool(compositions)
    return report


__all__ = ["INDEX_ALIASES", "IndexUploadReport", "IndexUploadSpec", "import_index_file"]
