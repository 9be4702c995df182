"""Updating the catalog from a library source: fetch, validate, then write all or nothing.

``run_update`` fetches each instrument (``sources.adapter``), merges the new bars over the
stored ones (new bars win on the dates they cover), validates every instrument with the
import rules, and writes only after every instrument was fetched and validated: a source
failure (network, rate limit, changed schema) or a cancel leaves the catalog as it was.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from quantdesk.core.errors import DataValidationError, QuantdeskError
from quantdesk.data.catalog import Catalog
from quantdesk.data.instruments_table import checked_instrument
from quantdesk.data.sources import SourceError, adapter, market_of
from quantdesk.data.uploads import UploadSpec, instrument_for
from quantdesk.data.validation import ImportReport, validate_bars

#: Most instruments one update may name.
MAX_IDS = 5000


class UpdateCancelled(QuantdeskError):
    """The update was cancelled before it wrote anything."""

    code = "CANCELLED"


@dataclass
class UpdateReport:
    """Per instrument, what the update wrote (``ImportReport``), in the order asked."""

    source: str
    start: dt.date
    end: dt.date
    reports: list[ImportReport] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of the report."""
        return {
            "source": self.source,
            "start_date": self.start.isoformat(),
            "end_date": self.end.isoformat(),
            "instruments": [
                {"order_book_id": r.order_book_id, "rows_in": r.rows_in,
                 "rows_accepted": r.rows_accepted, "rejected": len(r.rejected),
                 "missing_sessions": len(r.missing_sessions),
                 "first": r.first.isoformat() if r.first else None,
                 "last": r.last.isoformat() if r.last else None}
                for r in self.reports
            ],
        }  # fmt: skip


def _merged(catalog: Catalog, oid: str, new: pd.DataFrame) -> pd.DataFrame:
    """The stored bars of ``oid`` outside the new bars' dates, plus the new bars."""
    stored = catalog.stored_bars(oid)
    if stored is None or stored.empty:
        return new
    dates = set(pd.to_datetime(new["date"], errors="coerce").dt.date)
    keep = stored[~pd.to_datetime(stored["date"]).dt.date.isin(dates)].copy()
    keep["date"] = pd.to_datetime(keep["date"]).dt.date.astype(str)
    return pd.concat([keep, new], ignore_index=True)


def run_update(
    catalog: Catalog,
    source: str,
    order_book_ids: list[str],
    start: dt.date,
    end: dt.date,
    *,
    client: Any = None,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    log: Callable[[str], None] | None = None,
) -> UpdateReport:
    """Fetch ``order_book_ids`` in ``[start, end]`` from ``source`` and write them.

    Raises:
        SourceError: the source failed for an instrument (nothing written).
        UpdateCancelled: ``cancelled()`` became true before the writes (nothing written).
        InvalidArgument: an unknown source, a bad id or window.
    """
    source_adapter = adapter(source, client)
    market = market_of(source)
    staged = []
    total = len(order_book_ids)
    for i, oid in enumerate(order_book_ids, start=1):
        if cancelled is not None and cancelled():
            raise UpdateCancelled(
                f"cancelled after {i - 1} of {total} instruments; nothing written"
            )
        catalog.check_id(oid)
        fetched = source_adapter.fetch(oid, start, end)
        ref = fetched.reference
        spec = UploadSpec(
            order_book_id=oid, market=market, name=ref.get("name"),
            listed_date=ref.get("listed_date"), delisted_date=ref.get("delisted_date"),
            st_periods=ref.get("st_periods") or None,
        )  # fmt: skip
        if ref.get("type"):
            spec = dataclasses.replace(spec, type=ref["type"])
        first = pd.to_datetime(fetched.bars["date"], errors="coerce").min()
        instrument = checked_instrument(
            instrument_for(catalog, oid, spec, first.date() if pd.notna(first) else None, True)
        )
        frame = _merged(catalog, oid, fetched.bars)
        try:
            _, report = validate_bars(frame, oid, instrument.calendar)
        except DataValidationError as exc:
            raise SourceError(f"{source} gave unusable bars for {oid}: {exc.message}") from None
        staged.append((instrument, frame, report))
        if log is not None:
            log(f"{oid}: {report.rows_accepted} bars ({report.first}..{report.last}), "
                f"{len(report.rejected)} rejected")  # fmt: skip
        if progress is not None:
            progress(i, total)
    if cancelled is not None and cancelled():
        raise UpdateCancelled(f"cancelled after fetching {total} instruments; nothing written")
    result = UpdateReport(source, start, end)
    # every instrument fetched and valid: now write them, the instruments table once
    result.reports = catalog.import_many([(ins, frame) for ins, frame, _ in staged])
    catalog.make_readable()
    return result
