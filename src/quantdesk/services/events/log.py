"""The event log as a service: record platform events, list them for a caller, purge old ones."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from quantdesk.core.clock import iso_utc, utcnow
from quantdesk.core.errors import InvalidArgument
from quantdesk.core.settings import Settings
from quantdesk.services.auth import Principal
from quantdesk.storage import Database
from quantdesk.storage import events as event_store
from quantdesk.storage.models import EventRow


class EventView(BaseModel):
    """One platform event (``GET /api/events``, and the ``events`` channel's data)."""

    id: int = Field(description="sequence number on the events channel")
    created_at: str | None = Field(description="ISO 8601 UTC")
    kind: str = Field(examples=["job.finished"])
    subject: str = Field(description="what it is about: a job id, a strategy id, a mobile...")
    user_id: int | None = Field(description="whose it is; null: the platform's (admins only)")
    data: dict[str, Any]

    @classmethod
    def of(cls, row: EventRow) -> EventView:
        """The view of a row."""
        return cls(id=row.id, created_at=iso_utc(row.created_at), kind=row.kind,
                   subject=row.subject, user_id=row.user_id, data=dict(row.data or {}))  # fmt: skip


class EventPage(BaseModel):
    """``data`` of ``GET /api/events``: newest first."""

    events: list[EventView]
    total: int
    last_id: int = Field(description="the newest event id the caller may see (resume point)")


def _moment(value: str | None, name: str) -> dt.datetime | None:
    if value is None or not value.strip():
        return None
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidArgument(
            f"{name} must be an ISO 8601 date or time (2026-11-30 or 2026-11-30T08:00:00Z)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


class EventLog:
    """Platform events: record (own transaction), list (what the caller may see), purge."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._settings = settings

    def record(
        self, kind: str, subject: str, *, user_id: int | None = None,
        data: dict[str, Any] | None = None,
    ) -> int:  # fmt: skip
        """Record one event in its own transaction; returns its id.

        Producers that change state record in their own transaction instead
        (``storage.events.append``), so the event commits with the change.
        """
        with self._db.write() as session:
            return event_store.append(session, kind, subject, user_id=user_id, data=data).id

    def record_event(
        self, kind: str, subject: str, data: dict[str, Any] | None = None, *,
        user_id: int | None = None,
    ) -> int:  # fmt: skip
        """``record_event(kind, subject, data)``: the services' way to record a platform event.

        An ``EventRecorder``: hand it to what reports events without a database of its own
        (the supervisor of ``quantdesk serve``, a worker's fork server).

        Args:
            kind: An ``EventKind`` (``job.finished``, ``worker.crashed``...).
            subject: What it is about (a job id, a worker id, a mobile...).
            data: Details (JSON-serializable).
            user_id: Whose event it is; ``None``: the platform's (admins only).

        Returns:
            The event's id (its sequence number on the ``events`` channel).
        """
        return self.record(kind, subject, user_id=user_id, data=data)

    def list(
        self,
        principal: Principal,
        *,
        kind: str | None = None,
        subject: str | None = None,
        user: int | None = None,
        since: str | None = None,
        until: str | None = None,
        after_id: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> EventPage:
        """Events the caller may see, newest first.

        A user sees their own events; an admin sees all (and may filter by ``user``).
        ``kind`` is a comma-separated list; ``job.`` (ending in a dot) matches every job event.

        Raises:
            InvalidArgument: a malformed ``since``/``until``.
        """
        kinds = tuple(k.strip() for k in (kind or "").split(",") if k.strip())
        flt = event_store.EventFilter(
            kinds=kinds, subject=subject or None,
            user_id=user if principal.is_admin else None,
            visible_to=None if principal.is_admin else principal.user_id,
            since=_moment(since, "since"), until=_moment(until, "until"), after_id=after_id,
        )  # fmt: skip
        with self._db.read() as session:
            rows, total = event_store.list_events(session, flt, limit=limit, offset=offset)
            newest, _ = event_store.list_events(
                session,
                event_store.EventFilter(
                    visible_to=None if principal.is_admin else principal.user_id
                ),
                limit=1,
            )
            return EventPage(
                events=[EventView.of(r) for r in rows],
                total=total,
                last_id=newest[0].id if newest else 0,
            )

    def purge(self, now: dt.datetime | None = None) -> int:
        """Delete events older than ``EVENTS_KEEP_DAYS``; returns how many."""
        before = (now or utcnow()) - dt.timedelta(days=self._settings.events_keep_days)
        with self._db.write() as session:
            return event_store.purge(session, before)
