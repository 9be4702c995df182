"""Research items and notebook sessions (rows; the service owns the rules).

Rows are built here only (``add_item``, ``add_session``) and looked up through ``get_owned``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from quantdesk.core.errors import NotFound
from quantdesk.storage.models import JobRow, ResearchItemRow, ResearchSessionRow
from quantdesk.storage.owned import get_owned

#: Session states that hold a running server (or one being started).
LIVE = ("STARTING", "RUNNING")


def get_item(session: Session, owner_id: int, item_id: str) -> ResearchItemRow | None:
    """One item of ``owner_id``."""
    return get_owned(session, ResearchItemRow, (owner_id, item_id), owner_id)


def owned_item(session: Session, owner_id: int, item_id: str) -> ResearchItemRow:
    """The item ``item_id`` of ``owner_id``.

    Raises:
        NotFound: no such item of ``owner_id``'s (another user's ids are not revealed).
    """
    row = get_item(session, owner_id, item_id)
    if row is None:
        raise NotFound(f"research item {item_id!r} not found")
    return row


def list_items(session: Session, owner_id: int) -> list[ResearchItemRow]:
    """Every item of ``owner_id``, most recently updated first."""
    rows = session.scalars(
        select(ResearchItemRow)
        .where(ResearchItemRow.owner_id == owner_id)
        .order_by(ResearchItemRow.updated_at.desc(), ResearchItemRow.id)
    )
    return list(rows)


def add_item(
    session: Session,
    *,
    owner_id: int,
    item_id: str,
    title: str,
    description: str,
    notebook_path: str,
    kernel: str,
    status: str,
    tags: list[str],
    now: dt.datetime,
) -> ResearchItemRow:
    """Insert an item of ``owner_id`` created and updated at ``now``.

    The caller checked the fields and that the id is free.
    """
    row = ResearchItemRow(
        owner_id=owner_id, id=item_id, title=title, description=description,
        notebook_path=notebook_path, kernel=kernel, status=status, tags=list(tags),
        created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row


def delete_item(session: Session, owner_id: int, item_id: str) -> None:
    """Delete an item and its session rows."""
    session.execute(
        delete(ResearchSessionRow).where(
            ResearchSessionRow.owner_id == owner_id, ResearchSessionRow.item_id == item_id
        )
    )
    session.execute(
        delete(ResearchItemRow).where(
            ResearchItemRow.owner_id == owner_id, ResearchItemRow.id == item_id
        )
    )


def latest_session(session: Session, owner_id: int, item_id: str) -> ResearchSessionRow | None:
    """The item's most recent session (live or ended), if any."""
    return session.scalars(
        select(ResearchSessionRow)
        .where(ResearchSessionRow.owner_id == owner_id, ResearchSessionRow.item_id == item_id)
        .order_by(ResearchSessionRow.started_at.desc())
        .limit(1)
    ).first()


def latest_sessions(session: Session, owner_id: int) -> dict[str, ResearchSessionRow]:
    """Per item id of ``owner_id``: its most recent session."""
    rows = session.scalars(
        select(ResearchSessionRow)
        .where(ResearchSessionRow.owner_id == owner_id)
        .order_by(ResearchSessionRow.started_at)
    )
    return {row.item_id: row for row in rows}


def get_session(
    session: Session, session_id: str, owner_id: int | None = None
) -> ResearchSessionRow | None:
    """A session by id (only if owned by ``owner_id`` when given)."""
    return get_owned(session, ResearchSessionRow, session_id, owner_id)


def add_session(
    session: Session,
    *,
    session_id: str,
    owner_id: int,
    item_id: str,
    notebook_path: str,
    host: str,
    now: dt.datetime,
    expires_at: dt.datetime,
) -> ResearchSessionRow:
    """Insert a ``STARTING`` session of ``owner_id``'s item, started and active at ``now``.

    Args:
        session: An open write session.
        session_id: The new session's id.
        owner_id: The item's owner.
        item_id: The item.
        notebook_path: The item's notebook, relative to the owner's folder.
        host: The host supervising its server (``"external"`` for an external Jupyter).
        now: The start time.
        expires_at: When it expires unless refreshed.

    Returns:
        The new row (``mark_running`` once its server answers).
    """
    row = ResearchSessionRow(
        id=session_id, owner_id=owner_id, item_id=item_id, status="STARTING",
        notebook_path=notebook_path, started_at=now, last_active_at=now, expires_at=expires_at,
        host=host, socket="", message="",
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row


def live_sessions(
    session: Session, *, owner_id: int | None = None, host: str | None = None
) -> Sequence[ResearchSessionRow]:
    """Sessions that are starting or running (of one owner / supervised on one host)."""
    query = select(ResearchSessionRow).where(ResearchSessionRow.status.in_(LIVE))
    if owner_id is not None:
        query = query.where(ResearchSessionRow.owner_id == owner_id)
    if host is not None:
        query = query.where(ResearchSessionRow.host == host)
    return list(session.scalars(query))


def end_session(row: ResearchSessionRow, status: str, now: dt.datetime, message: str = "") -> None:
    """Mark ``row`` ended (``STOPPED``, ``EXPIRED`` or ``FAILED``) at ``now``."""
    row.status = status
    row.ended_at = now
    if message:
        row.message = message


def finished_runs(session: Session, owner_id: int) -> list[tuple[str, str]]:
    """``(job_id, run_dir)`` of every FINISHED job of ``owner_id`` (``load_job`` reads them)."""
    rows = session.execute(
        select(JobRow.id, JobRow.run_dir).where(
            JobRow.owner_id == owner_id, JobRow.status == "FINISHED"
        )
    )
    return [(job_id, run_dir) for job_id, run_dir in rows]


def update_item(row: ResearchItemRow, changes: dict[str, object], now: dt.datetime) -> None:
    """Set the given fields of ``row`` (the service checked them) and its ``updated_at``."""
    for key, value in changes.items():
        setattr(row, key, value)
    row.updated_at = now


def mark_running(
    row: ResearchSessionRow, pid: int | None, socket_path: str, external_id: str | None = None
) -> None:
    """Mark the session ``RUNNING``: its server answers.

    Under launcher ``pid`` at ``socket_path``, or as ``external_id`` in an external Jupyter.
    """
    row.status = "RUNNING"
    row.pid = pid
    row.socket = socket_path
    row.external_id = external_id


def extend(row: ResearchSessionRow, now: dt.datetime, expires_at: dt.datetime) -> None:
    """A refresh: active now, ending at ``expires_at``."""
    row.last_active_at = now
    row.expires_at = expires_at


def touch(row: ResearchSessionRow, now: dt.datetime) -> None:
    """Record activity through the proxy (``last_active_at``)."""
    row.last_active_at = now
