"""Updating the catalog from a library source: fetch, validate, then write all or nothing.

``run_update`` fetches index membership (``index_sources``) and each instrument
(``sources.adapter``), merges the new bars over the stored ones (new bars win on the dates
they cover), validates every instrument with the import rules, and writes only after
everything was fetched and validated: a source failure (network, rate limit, changed
schema) or a cancel leaves the catalog as it was.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from quantdesk.core.errors import DataValidationError, InvalidArgument, QuantdeskError
from quantdesk.core.instruments import Instrument, InstrumentType, Market
from quantdesk.data.catalog import Catalog
from quantdesk.data.index_members import Composition, check_composition
from quantdesk.data.index_sources import fetch_compositions
from quantdesk.data.instruments_table import checked_instrument
from quantdesk.data.sources import Adapter, SourceError, adapter, market_of
from quantdesk.data.uploads import UploadSpec, instrument_for
from quantdesk.data.validation import ImportReport, validate_bars

#: Most instruments one update may name.
MAX_IDS = 5000


class UpdateCancelled(QuantdeskError):
    """The update was cancelled before it wrote anything."""

    code = "CANCELLED"


@dataclass
class UpdateReport:
    """What an update wrote.

    Per instrument its ``ImportReport``, in the order asked; per index the compositions
    merged (``MergeReport``: added, replaced, first, last).
    """

    source: str
    start: dt.date
    end: dt.date
    reports: list[ImportReport] = field(default_factory=list)
    indexes: list[dict[str, Any]] = field(default_factory=list)

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
            "indexes": self.indexes,
        }  # fmt: skip


def _stage(
    catalog: Catalog, source_adapter: Adapter, market: Market, oid: str, start: dt.date,
    end: dt.date,
) -> tuple[Instrument, pd.DataFrame, ImportReport]:  # fmt: skip
    """Fetch one instrument and validate it merged over its stored bars (nothing written).

    Returns its reference data, the fetched bars (laid over the stored ones again when
    written, under the write lock: ``Catalog.import_many(merge_stored=True)``) and the
    report of the merge as it stands now.

    Raises:
        SourceError: the source failed, or gave bars the import rules refuse entirely.
    """
    catalog.check_id(oid)
    fetched = source_adapter.fetch(oid, start, end)
    ref = fetched.reference
    spec = UploadSpec(
        order_book_id=oid, market=market, name=ref.get("name"),
        listed_date=ref.get("listed_date"), delisted_date=ref.get("delisted_date"),
        st_periods=ref.get("st_periods") or None,
    )  # fmt: skip
    if ref.get("type"):
        spec = dataclasses.replace(spec, type=InstrumentType(ref["type"]))
    first = pd.to_datetime(fetched.bars["date"], errors="coerce").min()
    instrument = checked_instrument(
        instrument_for(catalog, oid, spec, first.date() if pd.notna(first) else None, True)
    )
    frame = catalog.merged_with_stored(oid, fetched.bars)
    try:  # checked here so a bad source fails before anything is written; written merged again
        _, report = validate_bars(frame, oid, instrument.calendar)
    except DataValidationError as exc:
        raise SourceError(
            f"{source_adapter.info.name} gave unusable bars for {oid}: {exc.message}"
        ) from None
    return instrument, fetched.bars, report


def run_update(
    catalog: Catalog,
    source: str,
    order_book_ids: list[str],
    start: dt.date,
    end: dt.date,
    *,
    index_ids: list[str] | None = None,
    with_members: bool = False,
    client: Any = None,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    log: Callable[[str], None] | None = None,
) -> UpdateReport:
    """Fetch ``index_ids``' membership and ``order_book_ids``' bars in ``[start, end]``.

    Index membership comes first (``index_sources``); ``with_members`` adds every member of
    those compositions to the instruments whose bars are fetched. Nothing is written until
    everything was fetched and validated; then the bars, then the membership.

    Raises:
        SourceError: the source failed for an instrument or index (nothing written).
        UpdateCancelled: ``cancelled()`` became true before the writes (nothing written).
        InvalidArgument: an unknown source, a bad id or window, an index the source lacks.
    """
    source_adapter = adapter(source, client)
    market = market_of(source)
    indexes = list(index_ids or [])
    ids = list(order_book_ids)
    done = 0

    def step(total: int) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    def stop_if_cancelled(what: str) -> None:
        if cancelled is not None and cancelled():
            raise UpdateCancelled(f"cancelled {what}; nothing written")

    compositions: list[Composition] = []
    for index_id in indexes:
        stop_if_cancelled(f"before the membership of {index_id}")
        fetched = fetch_compositions(source, client, index_id, start, end, cancelled)
        stop_if_cancelled(f"while fetching the membership of {index_id}")
        if not fetched:
            raise SourceError(f"{source} has no composition of {index_id} in {start}..{end}")
        checked = [check_composition(c, catalog.check_id) for c in fetched]
        compositions.extend(checked)
        if with_members:
            ids = list(dict.fromkeys([*ids, *(oid for c in checked for oid in c.order_book_ids)]))
        if log is not None:
            log(
                f"{index_id}: {len(checked)} composition(s) {checked[0].date}.."
                f"{checked[-1].date}, {len(checked[-1].order_book_ids)} members in the latest"
            )
        step(len(indexes) + len(ids))
    ids = list(dict.fromkeys(ids))
    if len(ids) > MAX_IDS:
        raise InvalidArgument(f"{len(ids)} instruments to update; at most {MAX_IDS} at once")
    total = len(indexes) + len(ids)
    staged = []
    for i, oid in enumerate(ids):
        stop_if_cancelled(f"after {i} of {len(ids)} instruments")
        instrument, frame, report = _stage(catalog, source_adapter, market, oid, start, end)
        staged.append((instrument, frame, report))
        if log is not None:
            log(f"{oid}: {report.rows_accepted} bars ({report.first}..{report.last}), "
                f"{len(report.rejected)} rejected")  # fmt: skip
        step(total)
    stop_if_cancelled(f"after fetching {len(ids)} instruments and {len(indexes)} indexes")
    result = UpdateReport(source, start, end)
    # everything fetched and valid: now write, the instruments table once
    if staged:
        result.reports = catalog.import_many(
            [(ins, bars) for ins, bars, _ in staged], merge_stored=True
        )
    if compositions:
        with catalog.write_lock():
            merged = catalog.memberships.merge(compositions)
        result.indexes = [{"index_id": k, **v} for k, v in merged.as_dict().items()]
    catalog.make_readable()
    return result
