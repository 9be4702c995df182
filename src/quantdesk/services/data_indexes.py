"""Index membership over time: read it (any user), import files of it (admins).

The data is the catalog's (``data.index_members``); files are read by
``data.index_files`` (the same code as ``quantdesk data import-index``).
"""

from __future__ import annotations

import datetime as dt

from quantdesk.core.errors import Forbidden, NotFound
from quantdesk.core.events import EventKind
from quantdesk.data import Catalog
from quantdesk.data.ids import market_today
from quantdesk.data.index_files import IndexUploadSpec, import_index_file
from quantdesk.services.auth import Principal
from quantdesk.services.data_import import RefusedUpload
from quantdesk.services.events import EventLog
from quantdesk.services.views_indexes import (
    IndexChange,
    IndexChanges,
    IndexComponents,
    IndexList,
    IndexSpell,
    IndexSpells,
    IndexSummaryView,
    IndexUploadResult,
)


class IndexService:
    """Index compositions of the catalog, and imports of membership files."""

    def __init__(self, catalog: Catalog, events: EventLog) -> None:
        self._catalog = catalog
        self._events = events

    def _name(self, index_id: str) -> str | None:
        try:
            return self._catalog.instrument(index_id).name
        except NotFound:
            return None

    def indexes(self) -> IndexList:
        """Every index with stored membership."""
        return IndexList(indexes=[
            IndexSummaryView(
                index_id=s.index_id, name=self._name(s.index_id),
                first_date=s.first_date.isoformat(), last_date=s.last_date.isoformat(),
                compositions=s.compositions, members=s.members, weights=s.weights,
                sources=list(s.sources),
            )
            for s in self._catalog.memberships.indexes()
        ])  # fmt: skip

    def components(self, index_id: str, day: dt.date | None) -> IndexComponents:
        """The members of ``index_id`` on ``day`` (default: today where it trades).

        Raises:
            NotFound: no membership stored for the index.
            DataUnavailable: ``day`` is before its first composition.
        """
        asked = day or market_today(index_id)
        comp = self._catalog.memberships.composition_on(index_id, asked)
        known = {s["order_book_id"] for s in self._catalog.stats()}
        return IndexComponents(
            index_id=index_id, date=asked.isoformat(), effective_date=comp.date.isoformat(),
            source=comp.source, order_book_ids=list(comp.order_book_ids),
            weights=None if comp.weights is None else list(comp.weights),
            not_in_catalog=[oid for oid in comp.order_book_ids if oid not in known],
        )  # fmt: skip

    def changes(self, index_id: str, start: dt.date | None, end: dt.date | None) -> IndexChanges:
        """Who joined and left at each composition in ``[start, end]``.

        Raises:
            NotFound: no membership stored for the index.
        """
        return IndexChanges(index_id=index_id, changes=[
            IndexChange(date=c.date.isoformat(), members=c.members, added=list(c.added),
                        removed=list(c.removed), source=c.source)
            for c in self._catalog.memberships.changes(index_id, start, end)
        ])  # fmt: skip

    def spells(self, index_id: str) -> IndexSpells:
        """Each member's stays in the index.

        Raises:
            NotFound: no membership stored for the index.
        """
        return IndexSpells(index_id=index_id, spells=[
            IndexSpell(order_book_id=oid, start=start.isoformat(),
                       end=None if end is None else end.isoformat())
            for oid, start, end in self._catalog.memberships.spells(index_id)
        ])  # fmt: skip

    def upload(
        self, principal: Principal, filename: str, data: bytes, spec: IndexUploadSpec
    ) -> IndexUploadResult:
        """Validate a membership file and, unless a dry run or refused, merge it.

        Raises:
            Forbidden: not an admin (the catalog is shared).
            RefusedUpload: strict and a row was rejected, or no valid row (the report is the
                error's ``data``); nothing changed.
            DataValidationError: an unreadable file or missing columns.
            InvalidArgument: a bad mapping.
        """
        if not principal.is_admin:
            raise Forbidden("only admins import index membership (the catalog is shared)")
        report = import_index_file(self._catalog, filename, data, spec)
        body = report.as_dict()
        if report.refused:
            raise RefusedUpload(report.refused, body)
        if report.committed:
            for item in body["indexes"]:
                self._events.record(
                    EventKind.DATA_IMPORTED, item["index_id"], user_id=principal.user_id,
                    data={"source": f"upload {filename[:100]}", "membership": True,
                          "compositions": item["compositions"], "first": item["first"],
                          "last": item["last"]},
                )  # fmt: skip
        return IndexUploadResult.model_validate(body)
