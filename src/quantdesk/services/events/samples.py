"""What the hub publishes besides the workers' messages: events, system samples, log records.

Pure conversions (an ``events`` row to its stream messages, a ``psutil`` sample to a
``system.status`` payload) and the logging handler that feeds the ``logs`` channel; the hub
(``hub.py``) numbers, buffers and delivers them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from typing import Protocol, cast

import psutil

from quantdesk.core.events import JOB_STATUS_EVENTS, Channel, StreamMessage, job_channel
from quantdesk.core.jobs import JobStatus
from quantdesk.services.events.frames import (
    EventData,
    JobStatusData,
    LogRecordData,
    SystemStatusData,
)
from quantdesk.storage.models import EventRow

#: The hub's logger: its records are never published (no feedback loop).
HUB_LOGGER = "quantdesk.services.events.hub"


class Publisher(Protocol):
    """What ``HubLogHandler`` hands records to (the ``Hub``)."""

    def publish(self, message: StreamMessage, seq: int | None = None) -> object:
        """Number, buffer and deliver ``message``."""
        ...


def event_message(row: EventRow, channel: str) -> StreamMessage | None:
    """The message an event makes on ``channel`` (``job`` = the job's own channel)."""
    ts = row.created_at.timestamp() if row.created_at else time.time()
    if channel == Channel.EVENTS:
        created = row.created_at.isoformat() if row.created_at else None
        view = EventData(id=row.id, kind=row.kind, subject=row.subject, user_id=row.user_id,
                         data=dict(row.data or {}), created_at=created)  # fmt: skip
        return StreamMessage(Channel.EVENTS, "event", dict(view), ts, row.user_id)
    if row.kind not in JOB_STATUS_EVENTS:
        return None
    # a status event's data is what ``storage.jobs.status_event`` recorded
    status = cast(JobStatusData, {"job_id": row.subject, "task_id": row.subject,
                                  "kind": row.kind, **dict(row.data or {})})  # fmt: skip
    target = Channel.JOBS if channel == Channel.JOBS else job_channel(row.subject)
    return StreamMessage(target, "status", dict(status), ts, row.user_id)


def system_status(
    started_at: float, subscribers: int, job_counts: Callable[[], dict[str, int]] | None
) -> SystemStatusData:
    """CPU, memory, disk, load, uptimes (the API's since ``started_at``) and the queue."""
    memory = psutil.virtual_memory()
    disk = psutil.disk_usage(os.getcwd())
    status = SystemStatusData(
        cpu_percent=psutil.cpu_percent(None),
        cpu_count=psutil.cpu_count(),
        memory_percent=memory.percent,
        memory_used_mb=round((memory.total - memory.available) / 2**20, 1),
        memory_total_mb=round(memory.total / 2**20, 1),
        disk_percent=disk.percent,
        disk_free_gb=round(disk.free / 2**30, 2),
        load=list(os.getloadavg()),
        uptime_seconds=round(time.time() - psutil.boot_time(), 1),
        api_uptime_seconds=round(time.time() - started_at, 1),
        subscribers=subscribers,
    )
    if job_counts is not None:
        counts = job_counts()
        status["jobs"] = counts
        status["queue_depth"] = counts.get(JobStatus.QUEUED, 0)
        status["running"] = counts.get(JobStatus.RUNNING, 0)
    return status


class HubLogHandler(logging.Handler):
    """Publishes this process's log records (INFO+) on the admins' ``logs`` channel.

    Safe from any thread: records are handed to the hub's event loop, never published inline;
    records of the hub's own module are skipped (no feedback loop).
    """

    def __init__(self, hub: Publisher, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(logging.INFO)
        self._hub = hub
        self._loop = loop

    def emit(self, record: logging.LogRecord) -> None:
        """Queue ``record`` for the ``logs`` channel."""
        if record.name == HUB_LOGGER or self._loop.is_closed():
            return
        try:
            text = record.getMessage()[:4000]
            data = LogRecordData(level=record.levelname, logger=record.name, message=text,
                                 pid=record.process)  # fmt: skip
            message = StreamMessage(Channel.LOGS, "log", dict(data), record.created)
            self._loop.call_soon_threadsafe(self._hub.publish, message)
        except Exception:  # a log line must never break its caller
            self.handleError(record)
