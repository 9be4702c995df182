"""Market-data files uploaded through the API (``POST /api/data/import``).

The catalog is shared by every user, so only admins write to it; the checks and the report
are ``quantdesk.data.uploads``'s, the same as ``quantdesk data import``.
"""

from __future__ import annotations

import json
from typing import Any

from quantdesk.core.errors import DataValidationError, Forbidden, InvalidArgument
from quantdesk.core.events import EventKind
from quantdesk.core.instruments import BoardType, InstrumentType, Market
from quantdesk.data import Catalog
from quantdesk.data.uploads import UploadSpec, import_file
from quantdesk.services.auth import Principal
from quantdesk.services.events import EventLog
from quantdesk.services.views_data import UploadResult


class RefusedUpload(DataValidationError):
    """An upload that changed nothing: its report travels as the error's ``data``."""

    def __init__(self, message: str, data: dict[str, Any]) -> None:
        super().__init__(message)
        self.data = data


def _enum(kind: type[Any], value: str | None, name: str) -> Any:
    if value is None or not value.strip():
        return None
    try:
        return kind(value.strip())
    except ValueError:
        allowed = ", ".join(str(v) for v in kind)
        raise InvalidArgument(f"{name} must be one of {allowed}") from None


def mapping_of(mapping: str | None) -> dict[str, str]:
    """A column mapping form field: a JSON object ``{column: file column}`` (empty: none).

    Raises:
        InvalidArgument: not such an object.
    """
    columns: Any = {}
    if mapping is not None and mapping.strip():
        try:
            columns = json.loads(mapping)
        except ValueError:
            raise InvalidArgument('mapping must be a JSON object, e.g. {"date": "Day"}') from None
    if not isinstance(columns, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in columns.items()
    ):
        raise InvalidArgument("mapping must be a JSON object of column names to column names")
    return columns


def upload_spec(
    *,
    order_book_id: str | None,
    market: str | None,
    type_: str | None,
    lot_size: int | None,
    board: str | None,
    name: str | None,
    mapping: str | None,
    strict: bool,
    dry_run: bool,
) -> UploadSpec:
    """The upload's form fields as an ``UploadSpec``.

    ``mapping`` is a JSON object ``{catalog column: file column}``.

    Raises:
        InvalidArgument: a field out of its values (the message names it).
    """
    columns = mapping_of(mapping)
    if lot_size is not None and not 1 <= lot_size <= 1_000_000:
        raise InvalidArgument("lot_size must be between 1 and 1000000")
    oid = order_book_id.strip() if order_book_id and order_book_id.strip() else None
    if oid is not None:
        Catalog.check_id(oid)
    return UploadSpec(
        order_book_id=oid,
        market=_enum(Market, market, "market"),
        type=_enum(InstrumentType, type_, "type"),
        lot_size=lot_size,
        board=_enum(BoardType, board, "board"),
        name=name.strip()[:200] if name and name.strip() else None,
        mapping=columns,
        strict=strict,
        dry_run=dry_run,
    )


class DataImportService:
    """Validate uploaded files of daily bars and write them to the catalog."""

    def __init__(self, catalog: Catalog, events: EventLog) -> None:
        self._catalog = catalog
        self._events = events

    def upload(
        self, principal: Principal, filename: str, data: bytes, spec: UploadSpec
    ) -> UploadResult:
        """Validate ``data`` and, unless a dry run or refused, write it; returns the report.

        Raises:
            Forbidden: not an admin (the catalog is shared).
            RefusedUpload: strict and something is invalid, or nothing in the file is usable
                (the report is the error's ``data``); nothing changed.
            DataValidationError: an unreadable file or a missing column.
            InvalidArgument: a bad field, mapping or id.
        """
        if not principal.is_admin:
            raise Forbidden("only admins import market data (the catalog is shared)")
        report = import_file(self._catalog, filename, data, spec)  # the catalog locks writes
        body = report.as_dict()
        if report.refused:
            raise RefusedUpload(report.refused, body)
        if not spec.dry_run and not report.committed:
            errors = "; ".join(
                f"{o.report.order_book_id}: {o.error or 'no valid row'}" for o in report.instruments
            )
            raise RefusedUpload(f"nothing in {filename} could be imported ({errors})", body)
        if report.committed:
            for item in body["instruments"]:
                if item["rows_accepted"] and item["error"] is None:
                    self._events.record(
                        EventKind.DATA_IMPORTED, item["order_book_id"], user_id=principal.user_id,
                        data={"source": f"upload {filename[:100]}", "rows_in": item["rows_in"],
                              "rows_accepted": item["rows_accepted"],
                              "rejected": item["rejected_total"]},
                    )  # fmt: skip
        return UploadResult.model_validate(body)
