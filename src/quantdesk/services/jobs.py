"""Task management: job listing and history, cancel, retry, delete; strategy deletion."""

from __future__ import annotations

import datetime as dt

from pydantic import ValidationError

from quantdesk.core.errors import Conflict, InvalidArgument, NotFound, describe_validation_errors
from quantdesk.core.events import EventKind
from quantdesk.core.jobs import JobStatus
from quantdesk.core.settings import Settings
from quantdesk.jobs.artifacts import RunFolder
from quantdesk.services.auth import Principal
from quantdesk.services.backtests import BacktestService, RunRequest
from quantdesk.services.strategies import StrategyService, check_strategy_id
from quantdesk.services.views_jobs import (
    HistoryItem,
    JobDeleted,
    JobList,
    JobStatusView,
    StrategyDeleted,
    StrategyJobs,
)
from quantdesk.storage import Database, job_meta, job_queries
from quantdesk.storage import events as event_store
from quantdesk.storage import jobs as job_store
from quantdesk.storage import renames as rename_store
from quantdesk.storage import strategies as strategy_store
from quantdesk.storage.models import JobRow

#: The contract's history fields of a job's request (``params`` in the history listing).
HISTORY_PARAMS = ("start_date", "end_date", "cash", "benchmark", "frequency")
MAX_LIMIT = 1000


def _date(value: str | None, name: str) -> dt.datetime | None:
    if value is None or value == "":
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidArgument(f"{name} must be a date as YYYY-MM-DD") from None
    return dt.datetime.combine(day, dt.time(), dt.UTC)


def _status(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    try:
        return str(JobStatus(value))
    except ValueError:
        allowed = " | ".join(s.value for s in JobStatus)
        raise InvalidArgument(f"status must be one of {allowed}") from None


class JobService:
    """Job management for the calling user."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        strategies: StrategyService,
        backtests: BacktestService,
    ) -> None:
        self._db = db
        self._settings = settings
        self._strategies = strategies
        self._backtests = backtests
        self._base = settings.backtest_base_dir.resolve()

    def list(
        self,
        principal: Principal,
        *,
        status: str | None,
        strategy_id: str | None,
        date_from: str | None,
        date_to: str | None,
        order_by: str,
        order: str,
        limit: int,
        offset: int,
        strategy: str | None = None,
    ) -> JobList:
        """Jobs across strategies, filtered, sorted (unknown ``order_by`` → created_at desc).

        ``strategy``: a case-insensitive substring of the strategy id, its name or the title.
        """
        start, end = _date(date_from, "date_from"), _date(date_to, "date_to")
        with self._db.read() as session:
            rows, total = job_queries.list_jobs(
                session,
                principal.user_id,
                status=_status(status),
                strategy_ids=[strategy_id] if strategy_id else None,
                strategy_like=strategy[:200] if strategy else None,
                created_from=start,
                created_to=end + dt.timedelta(days=1) if end else None,
                order_by=order_by,
                descending=order.lower() != "asc",
                limit=min(limit, MAX_LIMIT),
                offset=offset,
            )
        return JobList(jobs=[JobStatusView.of(r) for r in rows], total=total)

    def history(
        self, principal: Principal, strategy_id: str, status: str | None, limit: int, offset: int
    ) -> StrategyJobs:
        """The contract's strategy job history (§4).

        Raises:
            NotFound: the caller has no such strategy.
        """
        check_strategy_id(strategy_id)
        strategy_id = self._strategies.resolve(principal, strategy_id)
        with self._db.read() as session:
            if strategy_store.get(session, principal.user_id, strategy_id) is None:
                raise NotFound(f"strategy {strategy_id!r} not found")
            rows, total = job_queries.list_jobs(
                session,
                principal.user_id,
                status=_status(status),
                strategy_ids=[strategy_id],
                limit=min(limit, MAX_LIMIT),
                offset=offset,
            )
        jobs = []
        for row in rows:
            view = JobStatusView.of(row)
            jobs.append(
                HistoryItem(
                    job_id=view.job_id,
                    strategy_id=row.strategy_id,
                    status=view.status,
                    error=view.error,
                    created_at=view.created_at,
                    updated_at=view.updated_at,
                    params={k: row.request.get(k) for k in HISTORY_PARAMS},
                )
            )
        return StrategyJobs(strategy_id=strategy_id, jobs=jobs, total=total)

    def cancel(self, principal: Principal, job_id: str) -> JobStatusView:
        """Cancel a job (idempotent): QUEUED at once, RUNNING within ~1 s by its worker.

        Raises:
            NotFound: no such job of the caller.
        """
        if job_store.request_cancel(self._db, job_id, principal.user_id) is None:
            raise NotFound(f"job {job_id!r} not found")
        return self._backtests.status(principal, job_id)

    def retry(self, principal: Principal, job_id: str) -> str:
        """A new job with the same inputs (the same code snapshot and request).

        Raises:
            NotFound: no such job. Conflict: it is still QUEUED or RUNNING.
        """
        row = self._row(principal, job_id)
        if not JobStatus(row.status).is_final:
            raise Conflict(f"job {job_id} is {row.status}; retry it once it has ended")
        folder = RunFolder(self._base, row.run_dir)
        try:
            code = folder.file("strategy.py").read_text(encoding="utf-8")
        except FileNotFoundError:
            raise Conflict(f"job {job_id} has no code snapshot left to retry") from None
        try:
            request = RunRequest.model_validate(
                {**row.request, "strategy_id": row.strategy_id or None}  # None: an inline run
            )
        except ValidationError as exc:
            raise Conflict(
                f"job {job_id}'s request is no longer valid: "
                f"{describe_validation_errors(exc.errors())}"
            ) from None
        return self._backtests.enqueue(
            principal, request, code, row.request_hash, retry_of=job_id,
            code_version=row.strategy_version,
        )  # fmt: skip

    def rerun(self, principal: Principal, job_id: str) -> str:
        """A new job with the same inputs and the strategy's *current* code (latest version).

        Unlike ``retry`` (the same code snapshot), this runs what the strategy is now: after a
        fix, "run again with the current code". The request is validated again (as a new
        submission: the catalog, the engine, the frequency).

        Raises:
            NotFound: no such job, or its strategy is gone. Conflict: an inline run (it has no
            saved strategy) or a job still QUEUED/RUNNING. InvalidArgument / DataUnavailable:
            the inputs no longer validate.
        """
        row = self._row(principal, job_id)
        if not JobStatus(row.status).is_final:
            raise Conflict(f"job {job_id} is {row.status}; run it again once it has ended")
        if not row.strategy_id:
            raise Conflict(f"job {job_id} is an inline run: it has no saved strategy to rerun")
        fields = {k: v for k, v in row.request.items() if k not in ("version", "strategy_name")}
        try:
            request = RunRequest.model_validate({**fields, "strategy_id": row.strategy_id})
        except ValidationError as exc:
            raise Conflict(
                f"job {job_id}'s request is no longer valid: "
                f"{describe_validation_errors(exc.errors())}"
            ) from None
        return self._backtests.submit(principal, request)

    def annotate(
        self, principal: Principal, job_id: str, title: str | None, notes: str | None
    ) -> JobStatusView:
        """Set the run's title and/or notes (``None`` keeps one); returns the job status.

        Raises:
            NotFound: no such job of the caller.
        """
        with self._db.write() as session:
            row = job_meta.annotate(session, job_id, principal.user_id, title=title, notes=notes)
            return JobStatusView.of(row)

    def delete(self, principal: Principal, job_id: str) -> JobDeleted:
        """Delete a job and its folder.

        Raises:
            NotFound: no such job. Conflict: it is RUNNING (cancel it first).
        """
        with self._db.write() as session:
            row = job_store.owned(session, job_id, principal.user_id)
            if row.status == JobStatus.RUNNING:
                raise Conflict(f"job {job_id} is RUNNING; cancel it before deleting it")
            run_dir = row.run_dir
            job_store.delete_row(session, row)
        RunFolder(self._base, run_dir).remove()
        return JobDeleted(job_id=job_id, deleted=True)

    def delete_strategy(
        self, principal: Principal, strategy_id: str, cascade: bool
    ) -> StrategyDeleted:
        """Delete a strategy; with jobs, 409 listing them unless ``cascade``.

        Raises:
            NotFound: no such strategy. Conflict: jobs exist (``data.job_ids``) or one runs.
        """
        check_strategy_id(strategy_id)
        ids = [strategy_id]
        with self._db.write() as session:
            if strategy_store.get(session, principal.user_id, strategy_id) is None:
                raise NotFound(f"strategy {strategy_id!r} not found")
            rows, _ = job_queries.list_jobs(
                session, principal.user_id, strategy_ids=ids, limit=1_000_000, order_by="id"
            )
            if rows and not cascade:
                raise Conflict(
                    f"strategy {strategy_id!r} has {len(rows)} jobs; delete them or use "
                    "?cascade=true",
                    data={"job_ids": [r.id for r in rows]},
                )
            running = [r.id for r in rows if r.status == JobStatus.RUNNING]
            if running:
                raise Conflict(
                    f"jobs of {strategy_id!r} are running; cancel them first",
                    data={"job_ids": running},
                )
            folders = [r.run_dir for r in rows]
            for row in rows:
                job_store.delete_row(session, row)
            meta = strategy_store.get(session, principal.user_id, strategy_id)
            if meta is not None:
                strategy_store.delete_row(session, meta)
            rename_store.forget(session, principal.user_id, strategy_id)
            strategy_store.delete_versions(session, principal.user_id, strategy_id)
            gone = {"deleted_jobs": len(folders)}
            event_store.append(session, EventKind.STRATEGY_DELETED, strategy_id,
                               user_id=principal.user_id, data=gone)  # fmt: skip
        for run_dir in folders:
            RunFolder(self._base, run_dir).remove()
        self._strategies.code_path(principal.user_id, strategy_id).unlink(missing_ok=True)
        return StrategyDeleted(strategy_id=strategy_id, deleted_jobs=len(folders))

    def _row(self, principal: Principal, job_id: str) -> JobRow:
        with self._db.read() as session:
            return job_store.owned(session, job_id, principal.user_id)
