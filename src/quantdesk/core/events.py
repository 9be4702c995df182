"""What the platform pushes: channel names, stream messages and platform event kinds.

Two kinds of traffic reach a WebSocket subscriber (``api/ws.py``):

* **platform events** (``EventKind``): persisted rows of the ``events`` table (who did what to
  which subject, when), recorded in the same transaction as the state change they describe;
  their sequence number is the row id, so a client can always resume from the database;
* **stream messages** (``StreamMessage``): live and ephemeral (job progress at most every
  250 ms, log lines, ``system.status`` ticks), fanned out by the hub from a bounded buffer per
  channel; a client that falls behind the buffer is told to ``reset`` (reload over HTTP).

Channels: ``job.{job_id}``, ``jobs`` (the caller's job status changes), ``events`` (platform
events the caller may see), ``system.status``, ``system.processes``, ``logs`` (admins).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

#: ``job.<id>``: one job's channel (ids are 32 hex digits, but any safe id is accepted).
JOB_CHANNEL = re.compile(r"job\.([A-Za-z0-9_-]{1,64})")


class Channel(StrEnum):
    """The fixed channels (plus ``job.{id}``, see ``job_channel``)."""

    JOBS = "jobs"
    EVENTS = "events"
    SYSTEM_STATUS = "system.status"
    SYSTEM_PROCESSES = "system.processes"
    LOGS = "logs"


def job_channel(job_id: str) -> str:
    """The channel of one job: ``job.{job_id}``."""
    return f"job.{job_id}"


class EventKind(StrEnum):
    """Platform events (rows of the ``events`` table), ``subject`` in brackets."""

    JOB_SUBMITTED = "job.submitted"  # [job id] strategy, engine, window
    JOB_CLAIMED = "job.claimed"  # [job id] worker, attempt
    JOB_PROGRESS = "job.progress"  # [job id] 25/50/75 % milestones
    JOB_FINISHED = "job.finished"  # [job id]
    JOB_FAILED = "job.failed"  # [job id] error code and message
    JOB_CANCELLED = "job.cancelled"  # [job id]
    JOB_REQUEUED = "job.requeued"  # [job id] after a lost worker or a released lease
    JOB_RETRIED = "job.retried"  # [new job id] retry_of
    JOB_DELETED = "job.deleted"  # [job id]
    WORKER_STARTED = "worker.started"  # [worker id] sandbox level
    WORKER_STOPPED = "worker.stopped"  # [worker id]
    WORKER_CRASHED = "worker.crashed"  # [worker id] slot, pid, exit, ran seconds, restart in
    FORKSERVER_STARTED = "forkserver.started"  # [worker id] pid, starts (1: first, 2+: restart)
    FORKSERVER_STOPPED = "forkserver.stopped"  # [worker id] pid, exit
    FORKSERVER_CRASHED = "forkserver.crashed"  # [worker id] pid, exit (it died on its own)
    LOGIN_SUCCEEDED = "auth.login"  # [mobile] client address
    LOGIN_FAILED = "auth.login_failed"  # [mobile] client address, reason
    USER_CHANGED = "user.changed"  # [user id] what changed
    KEY_CHANGED = "key.changed"  # [key id] created / deleted
    STRATEGY_SAVED = "strategy.saved"  # [strategy id] version
    STRATEGY_RENAMED = "strategy.renamed"  # [new id] from
    STRATEGY_DELETED = "strategy.deleted"  # [strategy id]
    DATA_IMPORTED = "data.imported"  # [order_book_id] rows


class EventRecorder(Protocol):
    """Something that records a platform event: ``record_event(kind, subject, data)``.

    ``EventLog.record_event`` and ``Platform.record_event`` (the services layer) are ones;
    a supervisor and a fork server take one to report their processes' lives.
    """

    def __call__(self, kind: str, subject: str, data: dict[str, Any] | None = None, /) -> object:
        """Record ``kind`` about ``subject`` with ``data`` (a platform event: admins see it)."""
        ...


#: Job events that change a job's status (pushed on ``jobs`` and ``job.{id}`` too).
JOB_STATUS_EVENTS = frozenset(
    {
        EventKind.JOB_SUBMITTED,
        EventKind.JOB_CLAIMED,
        EventKind.JOB_FINISHED,
        EventKind.JOB_FAILED,
        EventKind.JOB_CANCELLED,
        EventKind.JOB_REQUEUED,
        EventKind.JOB_RETRIED,
        EventKind.JOB_DELETED,
    }
)


@dataclass(frozen=True)
class StreamMessage:
    """One live message on a channel.

    Attributes:
        channel: ``job.{id}``, ``system.status``...
        event: What it is: ``progress``, ``log``, ``status``, ``event``, ``tick``...
        data: The payload (JSON-serializable).
        ts: Epoch seconds when it was produced.
        owner_id: The user who may see it (``None``: every authenticated user, or admins
            only for admin channels); checked by the hub, never sent.
    """

    channel: str
    event: str
    data: dict[str, Any]
    ts: float = field(default_factory=time.time)
    owner_id: int | None = None

    def to_wire(self) -> dict[str, Any]:
        """The bus encoding (JSON object)."""
        return {"channel": self.channel, "event": self.event, "data": self.data,
                "ts": self.ts, "owner_id": self.owner_id}  # fmt: skip

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> StreamMessage:
        """Decode a bus message.

        Raises:
            ValueError: it is not one.
        """
        try:
            channel, event, data = raw["channel"], raw["event"], raw["data"]
            ts = float(raw.get("ts") or time.time())
            owner = raw.get("owner_id")
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a stream message: {exc}") from None
        if not (isinstance(channel, str) and isinstance(event, str) and isinstance(data, dict)):
            raise ValueError("not a stream message")
        if owner is not None and not isinstance(owner, int):
            raise ValueError("owner_id must be an integer")
        return cls(channel, event, data, ts, owner)
