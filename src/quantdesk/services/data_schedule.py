"""Scheduled catalog updates: ``DATA_UPDATE_CRON``.

When ``DATA_UPDATE_CRON`` is set, the API checks every ``TICK_SECONDS`` whether a scheduled
time has come (in ``DATA_UPDATE_TZ``, by default the source's market's zone) and queues a
data update for it, owned by the first admin, like one queued by hand. The update fetches
``DATA_UPDATE_IDS`` and ``DATA_UPDATE_INDEXES`` (their membership, and with
``DATA_UPDATE_WITH_MEMBERS`` their members' bars) from ``DATA_UPDATE_SOURCE`` over the last
``DATA_UPDATE_DAYS`` days, reaching back further for an instrument whose last stored bar is
older, so a missed day is filled by the next run.

Each scheduled time is queued once, even by several API processes: the job carries the key
``cron:<source>:<time>`` and the check and the insert share one transaction
(``DataUpdateService.enqueue_once``). A time is queued up to ``GRACE`` after it passed (an
API restarting at that moment still queues it); older ones are not caught up, as with cron.
The cron expression is parsed by ``croniter``.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from dataclasses import dataclass
from typing import Any

from croniter import croniter

from quantdesk.core.clock import utcnow
from quantdesk.core.errors import InvalidArgument, QuantdeskError
from quantdesk.core.instruments import MARKET_ZONE
from quantdesk.core.settings import Settings
from quantdesk.data import Catalog
from quantdesk.data.ids import normalize_id
from quantdesk.data.sources import SOURCES, has_index, market_of
from quantdesk.jobs.updates import DATA_UPDATE
from quantdesk.services.data_updates import DataUpdateService
from quantdesk.services.views_data import UpdateSchedule as ScheduleView
from quantdesk.storage import Database
from quantdesk.storage import users as user_store

#: Seconds between two checks of the schedule.
TICK_SECONDS = 30.0
#: How long after a scheduled time it is still queued.
GRACE = dt.timedelta(minutes=15)

log = logging.getLogger("quantdesk.data")


def _split(text: str) -> list[str]:
    return list(dict.fromkeys(p.strip() for p in text.replace(";", ",").split(",") if p.strip()))


@dataclass(frozen=True)
class Plan:
    """What a scheduled update fetches."""

    source: str
    order_book_ids: list[str]
    index_ids: list[str]
    with_members: bool


class UpdateScheduler:
    """Queue the data updates ``DATA_UPDATE_CRON`` asks for (see the module docstring)."""

    def __init__(self, db: Database, settings: Settings, catalog: Catalog) -> None:
        self._db = db
        self._settings = settings
        self._catalog = catalog
        self._updates = DataUpdateService(db, settings)
        #: The key of the last scheduled time queued here or found queued by another process:
        #: the ticks of its grace period skip it without reading the catalog.
        self._settled: str | None = None
        self.problem = self._check() if settings.data_update_cron else None
        if self.problem:
            log.error("scheduled data updates are off: %s", self.problem)

    @property
    def enabled(self) -> bool:
        """True when ``DATA_UPDATE_CRON`` is set and the rest of the settings are usable."""
        return bool(self._settings.data_update_cron) and self.problem is None

    def _check(self) -> str | None:
        """Why the settings cannot run (source, ids), or ``None``."""
        s = self._settings
        info = SOURCES.get(s.data_update_source)
        if info is None or not info.updatable:
            updatable = ", ".join(n for n, i in SOURCES.items() if i.updatable)
            return f"DATA_UPDATE_SOURCE {s.data_update_source!r} is not one of {updatable}"
        plan = self.plan()
        if not plan.order_book_ids and not plan.index_ids:
            return "set DATA_UPDATE_IDS or DATA_UPDATE_INDEXES (what to update)"
        try:
            for oid in [*plan.order_book_ids, *plan.index_ids]:
                Catalog.check_id(oid)
        except InvalidArgument as exc:
            return exc.message
        lacking = [i for i in plan.index_ids if not has_index(info, i)]
        if lacking:
            return f"{info.name} has no membership of {', '.join(lacking)}"
        return None

    def plan(self) -> Plan:
        """The settings' source, instruments and indexes."""
        s = self._settings
        indexes = [normalize_id(i, index=True) for i in _split(s.data_update_indexes)]
        return Plan(s.data_update_source, _split(s.data_update_ids), indexes,
                    s.data_update_with_members)  # fmt: skip

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """``DATA_UPDATE_TZ``, else the source's market's zone."""
        name = self._settings.data_update_tz
        if name is None:
            source = self._settings.data_update_source
            name = MARKET_ZONE[market_of(source)] if source in SOURCES else "UTC"
        return zoneinfo.ZoneInfo(name)

    def _cron(self, now: dt.datetime) -> croniter:
        return croniter(str(self._settings.data_update_cron), now.astimezone(self.zone))

    def due(self, now: dt.datetime) -> dt.datetime | None:
        """The latest scheduled time at or before ``now`` if at most ``GRACE`` ago (UTC)."""
        if not self.enabled:
            return None
        last: dt.datetime = self._cron(now + dt.timedelta(seconds=1)).get_prev(dt.datetime)
        return last.astimezone(dt.UTC) if now - last <= GRACE else None

    def next_run(self, now: dt.datetime) -> dt.datetime | None:
        """The next scheduled time after ``now`` (UTC), ``None`` when off."""
        if not self.enabled:
            return None
        nxt: dt.datetime = self._cron(now).get_next(dt.datetime)
        return nxt.astimezone(dt.UTC)

    def request(self, today: dt.date) -> dict[str, Any]:
        """The update request of a run on ``today`` (in the schedule's zone)."""
        plan = self.plan()
        start = today - dt.timedelta(days=self._settings.data_update_days)
        stats = {r["order_book_id"]: r for r in self._catalog.stats()}
        for oid in plan.order_book_ids:
            last = (stats.get(oid) or {}).get("last_bar")
            if last is not None and last < start:
                start = last  # fill the gap since this instrument's last stored bar
        return {
            "kind": DATA_UPDATE, "source": plan.source, "order_book_ids": plan.order_book_ids,
            "index_ids": plan.index_ids, "with_members": plan.with_members and bool(plan.index_ids),
            "start_date": start.isoformat(), "end_date": today.isoformat(), "scheduled": True,
        }  # fmt: skip

    def tick(self, now: dt.datetime | None = None) -> str | None:
        """Queue the update of the scheduled time that has come, once; its job id if queued.

        Nothing happens when off, when no time is due, when the due time was already queued,
        or when there is no admin to own the job (logged).
        """
        now = now or utcnow()
        due = self.due(now)
        if due is None:
            return None
        key = f"cron:{self._settings.data_update_source}:{due.isoformat()}"
        if key == self._settled:
            return None  # this process already queued it or saw it queued: no catalog scan
        with self._db.read() as session:
            admin = user_store.first_admin(session)
            owner = None if admin is None else admin.id
        if owner is None:
            log.warning("scheduled data update at %s skipped: no enabled admin to own it", due)
            return None
        request = self.request(due.astimezone(self.zone).date())
        job_id, queued = self._updates.enqueue_once(owner, request, key)
        self._settled = key
        if not queued:
            return None
        log.info("scheduled data update %s queued for %s (%s)", job_id, due, key)
        return job_id

    def view(self, now: dt.datetime | None = None) -> ScheduleView:
        """The schedule as ``GET /api/data/schedule`` shows it."""
        now = now or utcnow()
        plan = self.plan()
        nxt = self.next_run(now)
        return ScheduleView(
            enabled=self.enabled, cron=self._settings.data_update_cron,
            timezone=str(self.zone), source=plan.source, order_book_ids=plan.order_book_ids,
            index_ids=plan.index_ids, with_members=plan.with_members,
            days=self._settings.data_update_days,
            next_run=None if nxt is None else nxt.isoformat().replace("+00:00", "Z"),
            problem=self.problem,
        )  # fmt: skip


def safe_tick(scheduler: UpdateScheduler) -> str | None:
    """``scheduler.tick()`` with its failures logged (the loop goes on)."""
    try:
        return scheduler.tick()
    except QuantdeskError as exc:
        log.error("scheduled data update failed to queue: %s", exc.message)
    except Exception:
        log.exception("scheduled data update failed to queue")
    return None
