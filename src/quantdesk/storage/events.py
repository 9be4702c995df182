"""The platform event log (table ``events``): append in the caller's transaction, read back.

Producers call ``append`` inside the same ``Database.write()`` as the state change the event
describes, so an event exists exactly when its change committed. The row id is the event's
sequence number: strictly increasing. On SQLite (one writer at a time) ids commit in order; on
PostgreSQL a transaction that took an id earlier may commit after a later one, so a reader that
tails by id (the hub) keeps a floor below such gaps and waits up to ``SETTLE_SECONDS`` for them
to fill (an id of a rolled-back transaction never does).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from quantdesk.core.clock import utcnow
from quantdesk.storage.models import EventRow

#: How long a tail waits for a gap in ids to fill (a transaction that took an id earlier and
#: has not committed yet) before it moves past it.
SETTLE_SECONDS = 2.0
#: Longest subject kept (ids, mobiles, order_book_ids are far shorter).
MAX_SUBJECT = 128


@dataclass(frozen=True)
class EventFilter:
    """What ``list_events`` returns.

    Attributes:
        kinds: Only these kinds (``job.finished``...); a kind ending in ``.`` is a prefix
            (``job.`` = every job event). Empty: all.
        subject: Only this subject (a job id, a strategy id...).
        user_id: Only events of this user.
        visible_to: The caller's user id; ``None`` for an admin (sees everything). A user sees
            their own events only.
        since: Created at or after. until: Created before.
        after_id: Only ids above (a client resuming).
    """

    kinds: Collection[str] = ()
    subject: str | None = None
    user_id: int | None = None
    visible_to: int | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    after_id: int | None = None


def append(
    session: Session,
    kind: str,
    subject: str,
    *,
    user_id: int | None = None,
    data: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> EventRow:
    """Add an event to the caller's transaction (its id is assigned at flush)."""
    row = EventRow(
        created_at=now or utcnow(),
        kind=kind,
        subject=subject[:MAX_SUBJECT],
        user_id=user_id,
        data=dict(data or {}),
    )
    session.add(row)
    session.flush()
    return row


def _where(flt: EventFilter) -> list[Any]:
    clauses: list[Any] = []
    if flt.kinds:
        exact = [k for k in flt.kinds if not k.endswith(".")]
        prefixes = [k for k in flt.kinds if k.endswith(".")]
        parts: list[ColumnElement[bool]] = [EventRow.kind.in_(exact)] if exact else []
        parts += [EventRow.kind.startswith(p, autoescape=True) for p in prefixes]
        clauses.append(or_(*parts))
    if flt.subject is not None:
        clauses.append(EventRow.subject == flt.subject)
    if flt.user_id is not None:
        clauses.append(EventRow.user_id == flt.user_id)
    if flt.visible_to is not None:
        clauses.append(EventRow.user_id == flt.visible_to)
    if flt.since is not None:
        clauses.append(EventRow.created_at >= flt.since)
    if flt.until is not None:
        clauses.append(EventRow.created_at < flt.until)
    if flt.after_id is not None:
        clauses.append(EventRow.id > flt.after_id)
    return clauses


def list_events(
    session: Session, flt: EventFilter, *, limit: int, offset: int = 0, oldest_first: bool = False
) -> tuple[Sequence[EventRow], int]:
    """A page of events matching ``flt`` (newest first unless ``oldest_first``) and the total."""
    where = _where(flt)
    order = EventRow.id.asc() if oldest_first else EventRow.id.desc()
    rows = session.scalars(
        select(EventRow).where(*where).order_by(order).limit(limit).offset(offset)
    ).all()
    total = session.scalar(select(func.count()).select_from(EventRow).where(*where)) or 0
    return rows, int(total)


def tail(session: Session, after_id: int, limit: int) -> Sequence[EventRow]:
    """Events with ids above ``after_id``, oldest first, at most ``limit`` (for the hub)."""
    return session.scalars(
        select(EventRow).where(EventRow.id > after_id).order_by(EventRow.id).limit(limit)
    ).all()


def last_id(session: Session) -> int:
    """The newest event's id (0 when there is none)."""
    return int(session.scalar(select(func.max(EventRow.id))) or 0)


def purge(session: Session, before: dt.datetime) -> int:
    """Delete events created before ``before``; returns how many."""
    result = session.execute(delete(EventRow).where(EventRow.created_at < before))
    return int(result.rowcount)  # type: ignore[attr-defined]
