"""Job rows: insert, read, and the lease protocol (claim, heartbeat, finish, sweep).

Every change of a job's status appends its platform event (``core.events.EventKind``:
``job.submitted``, ``job.claimed``, ``job.finished``...) in the same transaction.

Claiming is atomic on both backends: ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL
(concurrent workers skip each other's rows) and a ``BEGIN IMMEDIATE`` write transaction on
SQLite (one writer at a time). Each claim increments ``fence``; heartbeats and the final
commit only apply while the row is still RUNNING with the claimer's fence.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session, object_session
from sqlalchemy.sql.elements import ColumnElement

from quantdesk.core.clock import utcnow
from quantdesk.core.errors import NotFound
from quantdesk.core.events import EventKind
from quantdesk.core.jobs import JobErrorCode, JobStatus
from quantdesk.storage import events as event_store
from quantdesk.storage.db import Database
from quantdesk.storage.models import JobRow
from quantdesk.storage.owned import get_owned


@dataclass(frozen=True)
class ClaimedJob:
    """What a worker needs to run a job it claimed."""

    id: str
    fence: int
    attempts: int
    run_dir: str
    request: dict[str, Any]
    sandbox_level: str | None = None


def get(session: Session, job_id: str, owner_id: int | None = None) -> JobRow | None:
    """The job ``job_id`` (only if owned by ``owner_id`` when given)."""
    return get_owned(session, JobRow, job_id, owner_id)


def keyed(session: Session, owner_id: int, idempotency_key: str) -> JobRow | None:
    """The newest job of ``owner_id`` created with ``idempotency_key``, or ``None``."""
    query = select(JobRow).where(
        JobRow.owner_id == owner_id, JobRow.idempotency_key == idempotency_key
    )
    return session.scalars(query.order_by(JobRow.created_at.desc()).limit(1)).first()


def owned(session: Session, job_id: str, owner_id: int) -> JobRow:
    """The job ``job_id`` of ``owner_id``.

    Raises:
        NotFound: no such job, or another user's (the same answer: ids are not revealed).
    """
    row = get_owned(session, JobRow, job_id, owner_id)
    if row is None:
        raise NotFound(f"job {job_id!r} not found")
    return row


#: The event of each status a job can move to (RUNNING is ``job.claimed``).
_STATUS_EVENT = {
    JobStatus.QUEUED: EventKind.JOB_REQUEUED,
    JobStatus.RUNNING: EventKind.JOB_CLAIMED,
    JobStatus.FINISHED: EventKind.JOB_FINISHED,
    JobStatus.FAILED: EventKind.JOB_FAILED,
    JobStatus.CANCELLED: EventKind.JOB_CANCELLED,
}


def status_event(session: Session, row: JobRow, kind: str | None = None, **extra: Any) -> None:
    """Append the event of ``row``'s current status (or ``kind``) to the transaction.

    Its data: ``status``, ``strategy_id``, ``attempts``, ``error`` (``{code, message}`` or
    null) and ``extra``.
    """
    error = {"code": row.error_code, "message": row.error_message} if row.error_code else None
    event_store.append(
        session, kind or _STATUS_EVENT[JobStatus(row.status)], row.id, user_id=row.owner_id,
        data={"status": str(row.status), "strategy_id": row.strategy_id,
              "attempts": row.attempts or 0, "error": error, **extra},
        now=row.updated_at,
    )  # fmt: skip


def insert(session: Session, **fields: Any) -> JobRow:
    """A new job row with ``fields`` (the ``JobRow`` columns), flushed.

    Its ``job.submitted`` (or ``job.retried``) event joins the transaction.
    """
    row = JobRow(**fields)
    session.add(row)
    session.flush()
    kind = EventKind.JOB_RETRIED if row.retry_of else EventKind.JOB_SUBMITTED
    status_event(session, row, kind, retry_of=row.retry_of)
    return row


def delete_row(session: Session, row: JobRow) -> None:
    """Delete the job ``row`` (its folder is the caller's), with its ``job.deleted`` event."""
    status_event(session, row, EventKind.JOB_DELETED)
    session.delete(row)


def claim(
    db: Database, worker_id: str, lease_seconds: float, sandbox_level: str | None = None
) -> ClaimedJob | None:
    """Atomically take the oldest QUEUED job for ``worker_id``; ``None`` when none is queued.

    Records the sandbox level it will run under when given.
    """
    with db.write() as session:
        row = session.scalars(
            select(JobRow)
            .where(JobRow.status == JobStatus.QUEUED)
            .order_by(JobRow.created_at, JobRow.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        if row is None:
            return None
        now = utcnow()
        row.status = JobStatus.RUNNING
        row.attempts += 1
        row.fence += 1
        row.lease_owner = worker_id
        row.lease_expires_at = now + dt.timedelta(seconds=lease_seconds)
        row.started_at = row.started_at or now
        row.updated_at = now
        if sandbox_level is not None:
            row.sandbox_level = sandbox_level
        status_event(session, row, worker=worker_id)
        return ClaimedJob(
            row.id, row.fence, row.attempts, row.run_dir, dict(row.request), sandbox_level
        )


#: Progress (percent) at which a running job records a ``job.progress`` event.
MILESTONES = (25, 50, 75)


def heartbeat(
    db: Database,
    job_id: str,
    fence: int,
    lease_seconds: float,
    progress: dict[str, Any] | None = None,
) -> bool:
    """Extend the lease (and record progress); False when the fence no longer holds.

    Progress that crosses a ``MILESTONES`` percent appends a ``job.progress`` event.
    """
    now = utcnow()
    with db.write() as session:
        row = session.get(JobRow, job_id, with_for_update=True)
        if row is None or row.fence != fence or row.status != JobStatus.RUNNING:
            return False
        before = row.progress or 0.0
        row.lease_expires_at = now + dt.timedelta(seconds=lease_seconds)
        row.updated_at = now
        for key in ("progress", "current_bar", "total_bars"):
            if progress and key in progress:
                setattr(row, key, progress[key])
        crossed = [m for m in MILESTONES if before < m <= (row.progress or 0.0)]
        if crossed:
            status_event(session, row, EventKind.JOB_PROGRESS, milestone=crossed[-1],
                         current_bar=row.current_bar, total_bars=row.total_bars)  # fmt: skip
        return True


def _fenced_update(
    db: Database, job_id: str, fence: int, values: dict[str, Any], *, event: bool = False
) -> bool:
    """Apply ``values`` only while the job is RUNNING under ``fence``; True if it was.

    With ``event``, the new status's event is appended in the same transaction.
    """
    with db.write() as session:
        result = session.execute(
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.fence == fence, JobRow.status == JobStatus.RUNNING)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        changed = bool(result.rowcount)  # type: ignore[attr-defined]
        if changed and event:
            row = session.get(JobRow, job_id, populate_existing=True)
            if row is not None:
                if row.finished_at is not None and row.started_at is not None:
                    row.run_seconds = (row.finished_at - row.started_at).total_seconds()
                status_event(session, row)
        return changed


#: The job columns a FINISHED job's headline metrics go to.
HEADLINE_COLUMNS = ("total_returns", "sharpe", "max_drawdown")


def finish(
    db: Database,
    job_id: str,
    fence: int,
    status: JobStatus,
    error_code: str | None = None,
    error_message: str | None = None,
    progress: dict[str, Any] | None = None,
    metrics: dict[str, float | None] | None = None,
) -> bool:
    """Commit a final state if the fence still holds; False otherwise (nothing changes).

    ``metrics``: the headline metrics of a FINISHED job (``job_meta.headline_metrics``).

    Raises:
        ValueError: ``status`` is not final (FINISHED, FAILED, CANCELLED).
    """
    if not JobStatus(status).is_final:
        raise ValueError(f"finish() needs a final status, got {status}")
    now = utcnow()
    values: dict[str, Any] = {
        "status": status,
        "error_code": error_code,
        "error_message": error_message,
        "finished_at": now,
        "updated_at": now,
        "lease_owner": None,
        "lease_expires_at": None,
    }
    if progress:
        values.update(
            {k: progress[k] for k in ("progress", "current_bar", "total_bars") if k in progress}
        )
    if metrics:
        values.update({k: v for k, v in metrics.items() if k in HEADLINE_COLUMNS})
    return _fenced_update(db, job_id, fence, values, event=True)


def record_sandbox(db: Database, job_id: str, fence: int, level: str) -> bool:
    """Record the sandbox level the job runs under (while the fence holds)."""
    return _fenced_update(db, job_id, fence, {"sandbox_level": level})


def requeue_lost(db: Database, job_id: str, fence: int) -> JobStatus | None:
    """The job's process died from inside (not a limit): requeue it, or fail it.

    Back to QUEUED for another attempt, or FAILED ``WORKER_LOST`` once it used
    ``max_attempts``. ``None`` when the fence no longer holds (nothing changes).
    """
    with db.write() as session:
        row = session.get(JobRow, job_id)
        if row is None or row.fence != fence or row.status != JobStatus.RUNNING:
            return None
        _requeue_or_fail(row, utcnow(), "the job's process was killed")
        return JobStatus(row.status)


def release(db: Database, job_id: str, fence: int) -> bool:
    """Give a RUNNING job back to the queue (its worker is shutting down)."""
    values = {
        "status": JobStatus.QUEUED,
        "lease_owner": None,
        "lease_expires_at": None,
        "attempts": JobRow.attempts - 1,
        "updated_at": utcnow(),
    }
    return _fenced_update(db, job_id, fence, values, event=True)


def sweep_expired(db: Database, now: dt.datetime | None = None) -> list[tuple[str, JobStatus]]:
    """Requeue RUNNING jobs whose lease expired (their worker died).

    A job that has used all its attempts fails with ``WORKER_LOST`` instead.

    Returns:
        ``(job_id, new_status)`` for each job changed.
    """
    now = now or utcnow()
    expired = JobRow.lease_expires_at < now
    return _requeue(db, expired, lambda _row: True, now, "the worker running it stopped responding")


def reclaim_orphans(
    db: Database, host: str, alive: Callable[[str], bool], now: dt.datetime | None = None
) -> list[tuple[str, JobStatus]]:
    """Requeue at once the RUNNING jobs leased by a dead worker of this host.

    A dead worker is a lease owner ``"{host}:..."`` for which ``alive(owner)`` is False; its
    jobs do not wait for their lease to expire. As ``sweep_expired``, a job out of attempts
    fails with ``WORKER_LOST``.

    Returns:
        ``(job_id, new_status)`` for each job changed.
    """
    mine = and_(JobRow.status == JobStatus.RUNNING, JobRow.lease_owner.like(f"{host}:%"))
    with db.read() as session:  # the usual answer is "none", without taking the write lock
        owners = set(session.scalars(select(JobRow.lease_owner).where(mine)).all())
    dead_owners = {o for o in owners if o is not None and not alive(o)}
    if not dead_owners:
        return []

    def dead(row: JobRow) -> bool:
        return row.lease_owner in dead_owners

    return _requeue(db, mine, dead, now or utcnow(), "its worker died")


def _requeue(
    db: Database,
    where: ColumnElement[bool],
    keep: Callable[[JobRow], bool],
    now: dt.datetime,
    why: str,
) -> list[tuple[str, JobStatus]]:
    """``_requeue_or_fail`` every RUNNING job matching ``where`` and ``keep``.

    Rows locked by another transaction are skipped: their owner is busy with them.
    """
    changed: list[tuple[str, JobStatus]] = []
    with db.write() as session:
        rows = session.scalars(
            select(JobRow)
            .where(JobRow.status == JobStatus.RUNNING, where)
            .with_for_update(skip_locked=True)
        ).all()
        for row in rows:
            if keep(row):
                _requeue_or_fail(row, now, why)
                changed.append((row.id, JobStatus(row.status)))
    return changed


def _requeue_or_fail(row: JobRow, now: dt.datetime, why: str) -> None:
    row.lease_owner = None
    row.lease_expires_at = None
    row.updated_at = now
    if row.cancel_requested:
        row.status = JobStatus.CANCELLED
        row.finished_at = now
    elif row.attempts >= row.max_attempts:
        row.status = JobStatus.FAILED
        row.error_code = JobErrorCode.WORKER_LOST
        row.error_message = f"{why} on all {row.attempts} attempts"
        row.finished_at = now
    else:
        row.status = JobStatus.QUEUED
    session = object_session(row)
    if session is not None:
        status_event(session, row, reason=why)


def request_cancel(db: Database, job_id: str, owner_id: int) -> JobStatus | None:
    """Cancel a job: a QUEUED one at once, a RUNNING one by flagging it for its worker.

    Returns:
        The job's status after the call (final states are left as they are), ``None`` when
        the job does not exist for ``owner_id``.
    """
    with db.write() as session:
        row = get(session, job_id, owner_id)
        if row is None:
            return None
        now = utcnow()
        if row.status == JobStatus.QUEUED:
            row.status = JobStatus.CANCELLED
            row.finished_at = now
            row.updated_at = now
            status_event(session, row)
        elif row.status == JobStatus.RUNNING and not row.cancel_requested:
            row.cancel_requested = True
            row.updated_at = now
        return JobStatus(row.status)


def cancel_requested(db: Database, job_id: str) -> bool:
    """Whether a cancel was requested for ``job_id``."""
    with db.read() as session:
        return bool(
            session.scalar(select(JobRow.cancel_requested).where(JobRow.id == job_id)) or False
        )


#: Columns ``list_jobs`` can sort by.
