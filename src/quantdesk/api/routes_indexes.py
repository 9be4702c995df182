"""Index membership over time: ``/api/data/indexes``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from starlette.concurrency import run_in_threadpool

from quantdesk.api.boundary import CheckedRoute
from quantdesk.api.deps import AdminDep, PlatformDep, PrincipalDep, app_service
from quantdesk.api.schemas import ERROR_RESPONSES, Envelope
from quantdesk.core.errors import InvalidArgument
from quantdesk.data import Catalog
from quantdesk.data.ids import normalize_id
from quantdesk.data.index_files import IndexUploadSpec
from quantdesk.services.data_import import mapping_of
from quantdesk.services.data_indexes import IndexService
from quantdesk.services.platform import Platform
from quantdesk.services.views_indexes import (
    IndexChanges,
    IndexComponents,
    IndexList,
    IndexSpells,
    IndexUploadResult,
)

router = APIRouter(
    prefix="/api/data/indexes", tags=["data"], route_class=CheckedRoute,
    responses=ERROR_RESPONSES,
)  # fmt: skip
#: The import route, whose body may reach ``DATA_UPLOAD_MB`` (``api.middleware``).
IMPORT_PATH = "/api/data/indexes/import"

IndexId = Annotated[str, Query(max_length=32)]
Day = Annotated[dt.date | None, Query(description="YYYY-MM-DD")]


def index_service(request: Request, platform: Platform) -> IndexService:
    """The app's ``IndexService`` (made on first use)."""
    return app_service(
        request, "index_service", lambda: IndexService(platform.catalog, platform.events)
    )


@router.get("", response_model=Envelope[IndexList])
def list_indexes(
    request: Request,
    platform: PlatformDep,
    principal: PrincipalDep,  # noqa: ARG001 -- signed in
) -> Envelope[IndexList]:
    """Every index with stored membership: its first and latest composition, members."""
    return Envelope(data=index_service(request, platform).indexes())


@router.get("/{index_id}/components", response_model=Envelope[IndexComponents])
def components(
    index_id: str,
    request: Request,
    platform: PlatformDep,
    principal: PrincipalDep,  # noqa: ARG001 -- signed in
    date: Day = None,
) -> Envelope[IndexComponents]:
    """The members of ``index_id`` on ``date`` (default today).

    The latest composition dated on or before it. 404 for an index without membership, 400
    (``DATA_UNAVAILABLE``) for a date before its first composition.
    """
    index_id = Catalog.check_id(normalize_id(index_id, index=True))
    return Envelope(data=index_service(request, platform).components(index_id, date))


@router.get("/{index_id}/changes", response_model=Envelope[IndexChanges])
def changes(
    index_id: str,
    request: Request,
    platform: PlatformDep,
    principal: PrincipalDep,  # noqa: ARG001 -- signed in
    start: Day = None,
    end: Day = None,
) -> Envelope[IndexChanges]:
    """Each composition in ``[start, end]`` with who joined and who left."""
    index_id = Catalog.check_id(normalize_id(index_id, index=True))
    if start is not None and end is not None and end < start:
        raise InvalidArgument("end must be on or after start")
    return Envelope(data=index_service(request, platform).changes(index_id, start, end))


@router.get("/{index_id}/spells", response_model=Envelope[IndexSpells])
def spells(
    index_id: str,
    request: Request,
    platform: PlatformDep,
    principal: PrincipalDep,  # noqa: ARG001 -- signed in
) -> Envelope[IndexSpells]:
    """Membership over time: each member's stays (first and last day) in the index."""
    index_id = Catalog.check_id(normalize_id(index_id, index=True))
    return Envelope(data=index_service(request, platform).spells(index_id))


@router.post(
    "/import",
    response_model=Envelope[IndexUploadResult],
    responses={400: {"description": "unreadable file, bad field, or refused (the report is "
                                    "the error's ``data``); nothing changed"}},
)  # fmt: skip
async def import_index(
    request: Request,
    platform: PlatformDep,
    principal: AdminDep,
    file: Annotated[UploadFile, File(description="CSV or Parquet of compositions or spells")],
    index_id: Annotated[
        str | None,
        Form(description="the index of a file without an index_id column", max_length=32),
    ] = None,
    date: Annotated[
        dt.date | None, Form(description="the date of a one-composition file without dates")
    ] = None,
    mapping: Annotated[
        str | None,
        Form(
            description='JSON {column: file column}, e.g. {"order_book_id": "con"}', max_length=4000
        ),
    ] = None,
    strict: Annotated[bool, Form(description="refuse the file if any row is invalid")] = True,
    dry_run: Annotated[bool, Form(description="validate and report only")] = False,
) -> Envelope[IndexUploadResult]:
    """Import index membership (admins): a file of compositions or of spells.

    Compositions: ``index_id, date, order_book_id[, weight]``; spells: ``index_id,
    order_book_id, start_date[, end_date]``. Compositions replace stored ones of the same
    index and date. ``dry_run`` previews; ``strict`` (the default) refuses the file if any
    row is rejected. At most ``DATA_UPLOAD_MB``.
    """
    spec = IndexUploadSpec(
        index_id=index_id.strip() if index_id and index_id.strip() else None,
        date=date, mapping=mapping_of(mapping), strict=strict, dry_run=dry_run,
    )  # fmt: skip
    data = await file.read()
    service = index_service(request, platform)
    result = await run_in_threadpool(
        service.upload, principal, file.filename or "upload", data, spec
    )
    return Envelope(data=result)
