"""Queries and bulk changes across jobs: listings, counts, dedup, renames, bucket purges.

``storage.jobs`` owns one job's lifecycle (insert, claim, lease, fenced commit, cancel);
this module reads and changes many jobs at once.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.elements import ColumnElement

from quantdesk.core.jobs import JobStatus
from quantdesk.storage.models import JobRow


def newest_per_strategy(session: Session, owner_id: int) -> list[JobRow]:
    """The newest job of each of ``owner_id``'s strategies."""
    newest = (
        select(JobRow.strategy_id, func.max(JobRow.created_at).label("latest"))
        .where(JobRow.owner_id == owner_id)
        .group_by(JobRow.strategy_id)
        .subquery()
    )
    query = (
        select(JobRow)
        .join(
            newest,
            (JobRow.strategy_id == newest.c.strategy_id) & (JobRow.created_at == newest.c.latest),
        )
        .where(JobRow.owner_id == owner_id)
    )
    return list(session.scalars(query))


def recent_duplicate(
    session: Session, owner_id: int, request_hash: str, since: dt.datetime
) -> JobRow | None:
    """The newest reusable job (not FAILED/CANCELLED) with the same request since ``since``."""
    return session.scalars(
        select(JobRow)
        .where(
            JobRow.owner_id == owner_id,
            JobRow.request_hash == request_hash,
            JobRow.created_at >= since,
            JobRow.status.not_in([JobStatus.FAILED, JobStatus.CANCELLED]),
        )
        .order_by(JobRow.created_at.desc())
        .limit(1)
    ).first()


def count_by_status(session: Session) -> dict[str, int]:
    """Number of jobs per status."""
    rows = session.execute(select(JobRow.status, func.count()).group_by(JobRow.status)).all()
    return {str(status): int(n) for status, n in rows}


SORTABLE: dict[str, InstrumentedAttribute[Any]] = {
    "id": JobRow.id,
    "strategy_id": JobRow.strategy_id,
    "status": JobRow.status,
    "created_at": JobRow.created_at,
    "updated_at": JobRow.updated_at,
    "total_returns": JobRow.total_returns,
    "sharpe": JobRow.sharpe,
    "max_drawdown": JobRow.max_drawdown,
    "duration": JobRow.run_seconds,
}


def list_jobs(
    session: Session,
    owner_id: int | None,
    *,
    status: str | None = None,
    strategy_ids: list[str] | None = None,
    strategy_like: str | None = None,
    kind: str = "backtest",
    created_from: dt.datetime | None = None,
    created_to: dt.datetime | None = None,
    order_by: str = "created_at",
    descending: bool = True,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[JobRow], int]:
    """A page of the owner's jobs (everyone's for ``owner_id`` None) and the total count.

    ``order_by`` is a ``SORTABLE`` column (the headline metrics and ``duration`` put blanks
    last) or ``name`` (the strategy's name when the job was created, else its id; then the
    id); anything else falls back to ``created_at`` descending. ``strategy_like``: a
    case-insensitive substring of the strategy id, its name or the job's title. ``kind``:
    backtests (the default) or ``data_update`` jobs.
    """
    where = [JobRow.kind == kind]
    if owner_id is not None:  # None: everyone's (data updates, shared by the admins)
        where.append(JobRow.owner_id == owner_id)
    if status:
        where.append(JobRow.status == status)
    if strategy_ids is not None:
        where.append(JobRow.strategy_id.in_(strategy_ids))
    if strategy_like:
        where.append(
            JobRow.strategy_id.icontains(strategy_like, autoescape=True)
            | JobRow.strategy_name.icontains(strategy_like, autoescape=True)
            | JobRow.title.icontains(strategy_like, autoescape=True)
        )
    if created_from is not None:
        where.append(JobRow.created_at >= created_from)
    if created_to is not None:
        where.append(JobRow.created_at < created_to)
    if order_by not in SORTABLE and order_by != "name":
        order_by, descending = "created_at", True
    keys: list[ColumnElement[Any] | InstrumentedAttribute[Any]] = (
        [func.coalesce(func.nullif(JobRow.strategy_name, ""), JobRow.strategy_id),
         JobRow.strategy_id]
        if order_by == "name"
        else [SORTABLE[order_by]]
    )  # fmt: skip
    order: list[ColumnElement[Any]] = []
    for key in keys:  # blanks (a metric of an unfinished job) go last either way
        order += [key.is_(None), key.desc() if descending else key.asc()]
    order.append(JobRow.id.desc())
    total = session.scalar(select(func.count()).select_from(JobRow).where(*where)) or 0
    rows = session.scalars(
        select(JobRow).where(*where).order_by(*order).limit(limit).offset(offset)
    ).all()
    return list(rows), int(total)


def running_leases(session: Session) -> list[tuple[str, str | None, dt.datetime | None]]:
    """``(job id, lease owner, lease expiry)`` of every RUNNING job, across users."""
    rows = session.execute(
        select(JobRow.id, JobRow.lease_owner, JobRow.lease_expires_at).where(
            JobRow.status == JobStatus.RUNNING
        )
    ).all()
    return [(r[0], r[1], r[2]) for r in rows]


def rename_strategy(session: Session, owner_id: int, from_id: str, to_id: str) -> int:
    """Move every job of strategy ``from_id`` to ``to_id``; returns how many moved."""
    result = session.execute(
        update(JobRow)
        .where(JobRow.owner_id == owner_id, JobRow.strategy_id == from_id)
        .values(strategy_id=to_id)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def purge_bucket(session: Session, bucket: str) -> bool:
    """Delete the jobs whose folder is in ``runs/<bucket>/``, unless one of them is live.

    Returns:
        False (nothing deleted) when a job there is QUEUED or RUNNING: the bucket is kept
        whole; True when its rows are gone and its folder may be removed.
    """
    rows = session.scalars(
        select(JobRow).where(JobRow.run_dir.like(f"runs/{bucket}/%")).with_for_update()
    ).all()
    if any(not JobStatus(row.status).is_final for row in rows):
        return False
    for row in rows:
        session.delete(row)
    return True
