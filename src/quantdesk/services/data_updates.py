"""Updates of the catalog from a library source, as jobs on the worker pool (admins).

An update is a job like a backtest (``kind`` ``data_update``): queued here, claimed by a
worker, run by ``jobs.updates`` with progress, cancel and a timeout, and listed with its
report. Its request is ``{"kind", "source", "order_book_ids", "index_ids", "with_members",
"start_date", "end_date"}``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from typing import Any

from pydantic import AliasChoices, BaseModel, Field, field_validator, model_validator

from quantdesk.core.clock import iso_utc, utcnow
from quantdesk.core.errors import Conflict, Forbidden, InvalidArgument, NotFound
from quantdesk.core.jobs import JobStatus
from quantdesk.core.settings import Settings
from quantdesk.data.catalog import Catalog
from quantdesk.data.ids import normalize_id
from quantdesk.data.sources import SOURCES, has_index
from quantdesk.data.update import MAX_IDS
from quantdesk.jobs.artifacts import (
    META,
    RUN_LOG,
    JobStatusFile,
    RunFolder,
    run_dir_for,
    write_json,
)
from quantdesk.jobs.updates import DATA_UPDATE, UPDATE_REPORT
from quantdesk.services.auth import Principal
from quantdesk.services.views_data import SourceList, SourceView
from quantdesk.services.views_jobs import JobStatusView
from quantdesk.storage import Database, job_queries
from quantdesk.storage import idempotency as key_store
from quantdesk.storage import jobs as job_store

#: The earliest ``start_date`` an update takes (older than any market the sources cover).
EARLIEST = dt.date(1900, 1, 1)


class UpdateRequest(BaseModel):
    """``POST /api/data/sources/{source}/update``: instruments, indexes, or both."""

    order_book_ids: list[str] = Field(
        default_factory=list, max_length=MAX_IDS, description="instruments whose bars to fetch",
        validation_alias=AliasChoices("order_book_ids", "ids", "symbols"),
    )  # fmt: skip
    index_ids: list[str] = Field(
        default_factory=list, max_length=50,
        description="indexes whose membership over the window to fetch (sources that provide "
        "index_constituents; GET /api/data/sources lists which)",
        validation_alias=AliasChoices("index_ids", "indexes"),
    )  # fmt: skip
    with_members: bool = Field(
        False, description="also fetch the bars of every member of those indexes' compositions"
    )
    start_date: dt.date | None = Field(
        None, validation_alias=AliasChoices("start_date", "start"), ge=EARLIEST,
        description="default: the oldest last stored bar of the instruments asked for (an "
        "incremental update), else a year before end_date",
    )  # fmt: skip
    end_date: dt.date | None = Field(
        None, description="default: today", validation_alias=AliasChoices("end_date", "end")
    )

    @field_validator("order_book_ids", mode="after")
    @classmethod
    def _ids(cls, ids: list[str]) -> list[str]:
        return list(dict.fromkeys(Catalog.check_id(i.strip()) for i in ids))

    @field_validator("index_ids", mode="after")
    @classmethod
    def _index_ids(cls, ids: list[str]) -> list[str]:
        """Other tools' spellings (``000300.SH``, ``000300``) as the catalog's ids."""
        return list(dict.fromkeys(Catalog.check_id(normalize_id(i, index=True)) for i in ids))

    @model_validator(mode="after")
    def _something(self) -> UpdateRequest:
        if not self.order_book_ids and not self.index_ids:
            raise ValueError("give order_book_ids, index_ids, or both")
        if self.with_members and not self.index_ids:
            raise ValueError("with_members needs index_ids")
        return self


class UpdateStatus(JobStatusView):
    """``GET /api/data/updates/{job_id}``: the job and what it fetches.

    ``report`` once FINISHED (always ``null`` in the list).
    """

    source: str | None = None
    order_book_ids: list[str] = Field(default_factory=list)
    index_ids: list[str] = Field(default_factory=list)
    with_members: bool = False
    scheduled: bool = Field(False, description="queued by DATA_UPDATE_CRON")
    report: dict[str, Any] | None = Field(
        None, description="per instrument: bars written; per index: compositions merged"
    )

    @classmethod
    def of_row(cls, row: Any, report: dict[str, Any] | None = None) -> UpdateStatus:
        """The view of an update job's row (its request says what it fetches)."""
        request = row.request
        return cls(
            **JobStatusView.of(row).model_dump(), source=request.get("source"),
            order_book_ids=list(request.get("order_book_ids") or []),
            index_ids=list(request.get("index_ids") or []),
            with_members=bool(request.get("with_members")),
            scheduled=bool(request.get("scheduled")), report=report,
        )  # fmt: skip


class UpdateList(BaseModel):
    """``GET /api/data/updates``: a page of update jobs, newest first."""

    jobs: list[UpdateStatus]
    total: int


def sources() -> SourceList:
    """Every data source with what it provides and whether its library is installed."""
    return SourceList(
        sources=[
            SourceView(
                name=s.name,
                title=s.title,
                markets=list(s.markets),
                provides=list(s.provides),
                package=s.package,
                extra=s.extra,
                available=s.available,
                updatable=s.updatable,
                indexes=list(s.indexes),
            )
            for s in SOURCES.values()
        ]
    )


class DataUpdateService:
    """Queue, read, cancel and retry catalog updates (admins only: the catalog is shared)."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._settings = settings
        self._base = settings.backtest_base_dir.resolve()

    @staticmethod
    def _admin(principal: Principal) -> None:
        if not principal.is_admin:
            raise Forbidden("only admins update market data (the catalog is shared)")

    def submit(self, principal: Principal, source: str, body: UpdateRequest) -> str:
        """Queue an update of ``body.order_book_ids`` from ``source``; returns the job id.

        Raises:
            Forbidden: not an admin. NotFound: no such source. InvalidArgument: a source
            that is not updated (``demo``, ``upload``), or ``end_date`` before ``start_date``.
        """
        self._admin(principal)
        info = SOURCES.get(source)
        if info is None:
            raise NotFound(f"data source {source!r} not found; sources: {', '.join(SOURCES)}")
        if not info.updatable:
            raise InvalidArgument(f"source {source!r} is not updated from a library")
        end = body.end_date or utcnow().date()
        start = body.start_date or self._default_start(body.order_book_ids, end)
        if end < start:
            raise InvalidArgument("end_date must be on or after start_date")
        lacking = [i for i in body.index_ids if not has_index(info, i)]
        if lacking:
            has = ", ".join(info.indexes) or "none"
            raise InvalidArgument(
                f"source {source!r} has no membership of {', '.join(lacking)} (it has: {has})"
            )
        request = {
            "kind": DATA_UPDATE,
            "source": source,
            "order_book_ids": body.order_book_ids,
            "index_ids": body.index_ids,
            "with_members": body.with_members,
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
        }
        return self._enqueue(principal.user_id, request)[0]

    def enqueue_once(self, owner_id: int, request: dict[str, Any], key: str) -> tuple[str, bool]:
        """Queue ``request`` for ``owner_id`` unless a job with ``key`` exists.

        Returns the job's id and whether it was queued now. The check and the insert share
        one transaction, serialized per key, so API processes racing on the same scheduled
        time queue one job (``services.data_schedule``).
        """
        return self._enqueue(owner_id, request, idempotency_key=key)

    def _default_start(self, order_book_ids: list[str], end: dt.date) -> dt.date:
        """The oldest last stored bar of ``order_book_ids``, else a year before ``end``.

        Each instrument then gets the gap since its last bar filled; a year is fetched when
        none of them is in the catalog yet.
        """
        stats = Catalog(self._settings.data_dir).stats()
        last = {r["order_book_id"]: r["last_bar"] for r in stats}
        known = [last[oid] for oid in order_book_ids if last.get(oid) is not None]
        return min(known) if known else end - dt.timedelta(days=365)

    def _enqueue(
        self,
        owner_id: int,
        request: dict[str, Any],
        retry_of: str | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[str, bool]:
        now = utcnow()
        job_id = uuid.uuid4().hex
        folder = RunFolder(self._base, run_dir_for(job_id, now))
        folder.path.mkdir(parents=True, exist_ok=True)
        write_json(folder.path / "update.json", request)
        write_json(folder.path / META, {"job_id": job_id, "owner_id": owner_id,
                                        "created_at": iso_utc(now), "request": request,
                                        "retry_of": retry_of})  # fmt: skip
        folder.write_status(JobStatusFile(job_id=job_id, status=JobStatus.QUEUED))
        (folder.path / RUN_LOG).touch()
        digest = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
        try:
            with self._db.write() as session:
                if idempotency_key is not None:
                    key_store.lock_request(session, owner_id, idempotency_key)
                    known = job_store.keyed(session, owner_id, idempotency_key)
                    if known is not None:
                        folder.remove()
                        return known.id, False
                job_store.insert(
                    session, id=job_id, owner_id=owner_id, kind=DATA_UPDATE,
                    idempotency_key=idempotency_key,
                    strategy_id="", strategy_name=f"data update: {request['source']}",
                    status=JobStatus.QUEUED, request=request, request_hash=digest,
                    run_dir=folder.relative, created_at=now, updated_at=now, attempts=0,
                    max_attempts=self._settings.job_max_attempts, fence=0, progress=0.0,
                    current_bar=0, retry_of=retry_of,
                    total_bars=len(request["order_book_ids"]) + len(request.get("index_ids") or []),
                )  # fmt: skip
        except BaseException:
            folder.remove()
            raise
        return job_id, True

    def _row(self, principal: Principal, job_id: str) -> Any:
        self._admin(principal)
        with self._db.read() as session:
            row = job_store.get(session, job_id)  # any admin's: the catalog is shared
        if row is None or row.kind != DATA_UPDATE:
            raise NotFound(f"data update {job_id!r} not found")
        return row

    def status(self, principal: Principal, job_id: str) -> UpdateStatus:
        """An update job's status, with its report once FINISHED.

        Raises:
            Forbidden: not an admin. NotFound: no such update (any admin's).
        """
        row = self._row(principal, job_id)
        report = None
        if row.status == JobStatus.FINISHED:
            folder = RunFolder(self._base, row.run_dir)
            try:
                with open(folder.file(UPDATE_REPORT), "rb") as fh:
                    report = json.load(fh)
            except (OSError, ValueError):
                report = None
        return UpdateStatus.of_row(row, report)

    def list(self, principal: Principal, limit: int, offset: int) -> UpdateList:
        """Every update job (any admin's, scheduled ones included), newest first."""
        self._admin(principal)
        with self._db.read() as session:
            rows, total = job_queries.list_jobs(
                session, None, kind=DATA_UPDATE, limit=limit, offset=offset
            )
        return UpdateList(jobs=[UpdateStatus.of_row(r) for r in rows], total=total)

    def cancel(self, principal: Principal, job_id: str) -> JobStatusView:
        """Cancel an update (idempotent): a queued one at once, a running one before it writes.

        Raises:
            Forbidden: not an admin. NotFound: no such update.
        """
        row = self._row(principal, job_id)
        job_store.request_cancel(self._db, job_id, row.owner_id)
        with self._db.read() as session:
            fresh = job_store.get(session, job_id)
        return JobStatusView.of(fresh if fresh is not None else row)

    def retry(self, principal: Principal, job_id: str) -> str:
        """A new update with the same request.

        Raises:
            NotFound: no such update. Conflict: it is still QUEUED or RUNNING.
        """
        row = self._row(principal, job_id)
        if not JobStatus(row.status).is_final:
            raise Conflict(f"update {job_id} is {row.status}; retry it once it has ended")
        return self._enqueue(principal.user_id, dict(row.request), retry_of=job_id)[0]
