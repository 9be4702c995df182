"""The hub: one API process's fan-out of live messages to its WebSocket subscribers.

Inputs: the stream bus (``storage.bus``: job progress and log lines from the workers), the
``events`` table (tailed every ``TAIL_SECONDS``: platform events, among them every job status
change) and a ``system.status`` sampler (every ``STATUS_SECONDS``).

Frames (what a subscriber receives, as JSON; typed in ``frames``)::

    {"channel": "job.<id>", "seq": 12, "event": "progress", "data": {...}, "ts": 1.7e9}

``seq`` is per channel. On ``events`` and ``jobs`` it is the event's id (the same in every API
process; a client that resumes past the hub's buffer is served from the database). On the
other channels the hub numbers the messages itself: ``epoch`` (this hub's id, sent with
``subscribed``) tells a resuming client whether its ``seq`` is from this hub; if not, or if
it fell out of the buffer (``BUFFER`` messages per channel), it gets ``reset``: reload over
HTTP and continue from the new ``seq``.

A job channel's buffer is dropped ``JOB_BUFFER_SECONDS`` after the job's final status once
nobody subscribes to it, and at most ``JOB_CHANNELS_KEPT`` job channels are buffered (the least
recently active one without subscribers goes first). The hub remembers a dropped channel's
last ``seq`` (``DROPPED_KEPT`` of them), so its numbering goes on where it stopped: a client
that saw everything resumes with nothing to replay, one that missed frames gets ``reset``.

Subscribers never slow the hub: each has a bounded queue (``QUEUE`` frames); one that is full
is dropped (its socket closed with 1013, "try again later") instead of being waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import psutil

from quantdesk.core.events import (
    Channel,
    EventKind,
    StreamMessage,
)
from quantdesk.services.events.frames import (
    ChannelFrame,
    JobProgressData,
    Outgoing,
    ResetData,
    SystemStatusData,
)
from quantdesk.services.events.processes import ProcessMonitor
from quantdesk.services.events.samples import event_message, system_status
from quantdesk.storage import Database
from quantdesk.storage import events as event_store
from quantdesk.storage.bus import BusReceiver
from quantdesk.storage.models import EventRow

log = logging.getLogger(__name__)

#: Messages kept per channel for subscribers that resume.
BUFFER = 1000
#: Frames queued per subscriber before it counts as too slow and is dropped (room for a
#: whole buffer replayed on each of two channels at once).
QUEUE = 2 * BUFFER + 100
#: Seconds between two reads of new platform events.
TAIL_SECONDS = 0.2
#: Seconds between two ``system.status`` ticks.
STATUS_SECONDS = 2.0
#: Live progress remembered for the HTTP status of running jobs.
PROGRESS_KEPT = 10_000
#: Channels only admins may subscribe to.
ADMIN_CHANNELS = frozenset({Channel.SYSTEM_PROCESSES, Channel.LOGS})
#: Channels numbered by event id (resumable from the database).
EVENT_CHANNELS = frozenset({Channel.EVENTS, Channel.JOBS})
#: Seconds a job channel's buffer is kept after the job's final status (for resuming clients).
JOB_BUFFER_SECONDS = 120.0
#: Job channels buffered at most (least recently active without subscribers dropped first).
JOB_CHANNELS_KEPT = 1000
#: Last sequence numbers of dropped job channels remembered (numbering goes on after a drop).
DROPPED_KEPT = 20_000
#: Job events after which a job's channel falls silent.
FINAL_JOB_EVENTS = frozenset(
    {EventKind.JOB_FINISHED, EventKind.JOB_FAILED, EventKind.JOB_CANCELLED, EventKind.JOB_DELETED}
)


@dataclass(eq=False)
class Subscriber:
    """One WebSocket connection's side of the hub.

    Attributes:
        user_id: The authenticated user. is_admin: Whether they are an admin.
        queue: Frames to send, in order (bounded; see ``QUEUE``).
        channels: What it subscribed to.
        dropped: Set when the hub dropped it for being too slow.
    """

    user_id: int
    is_admin: bool
    queue: asyncio.Queue[Outgoing] = field(default_factory=lambda: asyncio.Queue(QUEUE))
    channels: set[str] = field(default_factory=set)
    dropped: asyncio.Event = field(default_factory=asyncio.Event)

    def may_see(self, channel: str, owner_id: int | None) -> bool:
        """Whether a message of ``owner_id`` on ``channel`` is for this subscriber."""
        if channel == Channel.JOBS:
            return owner_id == self.user_id
        if channel == Channel.EVENTS:
            return self.is_admin or owner_id == self.user_id
        return True  # job.{id}: ownership was checked when it subscribed

    def offer(self, frame: Outgoing) -> None:
        """Queue ``frame``; a full queue drops the subscriber (never waits)."""
        if self.dropped.is_set():
            return
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.dropped.set()


@dataclass
class _Buffer:
    seq: int = 0
    frames: deque[tuple[ChannelFrame, int | None]] = field(
        default_factory=lambda: deque(maxlen=BUFFER)
    )


class Hub:
    """Fan-out of live messages (see the module docstring).

    Args:
        db: The platform database (the ``events`` table is tailed).
        bus: Where live messages from workers arrive (``None``: none).
        processes: Samples the platform's processes for ``system.processes`` (``None``: the
            channel stays silent).
        job_counts: Jobs per status, for ``system.status`` (``None``: it has no job figures).
    """

    def __init__(
        self, db: Database, bus: BusReceiver | None = None,
        processes: ProcessMonitor | None = None,
        job_counts: Callable[[], dict[str, int]] | None = None,
    ) -> None:  # fmt: skip
        self._db = db
        self._bus = bus
        self.processes = processes
        self.job_counts = job_counts
        self.epoch = uuid.uuid4().hex[:12]
        self._buffers: OrderedDict[str, _Buffer] = OrderedDict()  # least recently active first
        self._final_at: dict[str, float] = {}  # job channels whose job ended: when (monotonic)
        self._dropped: OrderedDict[str, int] = OrderedDict()  # dropped job channels: last seq
        self._subscribers: dict[str, set[Subscriber]] = {}
        self._progress: OrderedDict[str, JobProgressData] = OrderedDict()
        self._tasks: list[asyncio.Task[None]] = []
        self._replays: set[asyncio.Future[list[ChannelFrame]]] = set()  # reads in threads
        self._floor = 0  # every event id <= floor was delivered or given up on
        self._pending: dict[int, float] = {}  # missing ids above the floor: first seen at
        self._seen: set[int] = set()  # delivered ids above the floor
        self.started_at = time.time()
        self._stopping = asyncio.Event()

    # -- life ----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start tailing events, reading the bus and ticking ``system.status``."""
        self._floor = await asyncio.to_thread(self._last_event_id)
        self._tasks = [asyncio.create_task(self._tail_events(), name="hub-events"),
                       asyncio.create_task(self._tick_status(), name="hub-status")]  # fmt: skip
        if self._bus is not None:
            self._tasks.append(asyncio.create_task(self._read_bus(), name="hub-bus"))
        psutil.cpu_percent(None)  # the first reading is meaningless

    async def stop(self) -> None:
        """Stop the background tasks and the bus.

        The tasks and the subscribers' replays finish the database read they may be in (a
        thread cannot be cancelled, and its connection must be back in the pool before the
        platform disposes of it).
        """
        self._stopping.set()
        readers = [t for t in self._tasks if t.get_name() == "hub-bus"]
        for task in readers:  # it holds no thread: cancel it out of its socket read
            task.cancel()
        if self._bus is not None:
            await self._bus.close()
        running: list[asyncio.Future[Any]] = [*self._tasks, *self._replays]
        done, pending = await asyncio.wait(running, timeout=5) if running else ((), ())
        for future in pending:
            future.cancel()
        for future in [*done, *pending]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await future

    async def _pause(self, seconds: float) -> bool:
        """Sleep ``seconds``; False (at once) when the hub is stopping."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
        return not self._stopping.is_set()

    # -- publishing ----------------------------------------------------------------------------

    def publish(self, message: StreamMessage, seq: int | None = None) -> ChannelFrame:
        """Number ``message`` on its channel, buffer it and offer it to its subscribers.

        ``seq``: the event id on event channels (must grow), else the hub's next number.
        """
        buffer = self._buffer_for(message.channel)
        buffer.seq = buffer.seq + 1 if seq is None else max(buffer.seq, seq)
        frame = ChannelFrame(channel=message.channel, seq=buffer.seq, event=message.event,
                             data=message.data, ts=message.ts)  # fmt: skip
        buffer.frames.append((frame, message.owner_id))
        if message.channel.startswith("job."):
            if message.event == "progress":  # from a worker: a JobProgressData
                self._remember_progress(message.channel[4:], cast(JobProgressData, message.data))
            elif message.event == "status":
                if message.data.get("kind") in FINAL_JOB_EVENTS:
                    self._final_at.setdefault(message.channel, time.monotonic())
                else:
                    self._final_at.pop(message.channel, None)
        for sub in self._subscribers.get(message.channel, ()):
            if sub.may_see(message.channel, message.owner_id):
                sub.offer(frame)
        return frame

    def _buffer_for(self, channel: str) -> _Buffer:
        """``channel``'s buffer, created (and the job channels capped) when it has none."""
        buffer = self._buffers.get(channel)
        if buffer is not None:
            self._buffers.move_to_end(channel)
            return buffer
        buffer = self._buffers[channel] = _Buffer(seq=self._dropped.pop(channel, 0))
        if channel.startswith("job."):
            self._cap_job_channels(channel)
        return buffer

    def _cap_job_channels(self, new: str) -> None:
        """Drop the least recently active job channels without subscribers beyond the cap.

        Never ``new`` (the channel being published on).
        """
        fixed = sum(1 for c in Channel if c in self._buffers)
        excess = len(self._buffers) - fixed - JOB_CHANNELS_KEPT
        if excess <= 0:
            return
        idle = []
        for channel in self._buffers:  # least recently active first
            if channel.startswith("job.") and channel != new and channel not in self._subscribers:
                idle.append(channel)
                if len(idle) == excess:
                    break
        for channel in idle:
            self._drop(channel)

    def _drop(self, channel: str) -> None:
        """Forget a job channel's buffer, remembering its last ``seq``."""
        buffer = self._buffers.pop(channel, None)
        self._final_at.pop(channel, None)
        if buffer is None:
            return
        self._dropped[channel] = buffer.seq
        self._dropped.move_to_end(channel)
        while len(self._dropped) > DROPPED_KEPT:
            self._dropped.popitem(last=False)

    def sweep_buffers(self, now: float | None = None) -> int:
        """Drop the buffers of ended jobs nobody subscribes to (``JOB_BUFFER_SECONDS`` after).

        Args:
            now: ``time.monotonic()`` by default.

        Returns:
            How many were dropped.
        """
        now = time.monotonic() if now is None else now
        due = [c for c, at in self._final_at.items()
               if now - at >= JOB_BUFFER_SECONDS and c not in self._subscribers]  # fmt: skip
        for channel in due:
            self._drop(channel)
        return len(due)

    def buffered_channels(self) -> list[str]:
        """The channels with a buffer, least recently active first."""
        return list(self._buffers)

    def progress_of(self, job_id: str) -> JobProgressData | None:
        """The latest live progress of ``job_id`` seen by this hub (``None``: none)."""
        return self._progress.get(job_id)

    def _remember_progress(self, job_id: str, data: JobProgressData) -> None:
        self._progress[job_id] = data
        self._progress.move_to_end(job_id)
        while len(self._progress) > PROGRESS_KEPT:
            self._progress.popitem(last=False)

    # -- subscriptions -------------------------------------------------------------------------

    def seq_of(self, channel: str) -> int:
        """The channel's latest sequence number (0 before its first message)."""
        buffer = self._buffers.get(channel)
        if buffer is not None:
            return buffer.seq
        if channel in EVENT_CHANNELS:
            return self._floor
        return self._dropped.get(channel, 0)

    async def subscribe(
        self, sub: Subscriber, channel: str, after: int | None = None, epoch: str | None = None
    ) -> list[ChannelFrame]:
        """Add ``sub`` to ``channel``; returns the frames it missed after ``after``.

        Without ``after``: nothing to replay. When what it missed cannot be replayed (another
        hub's numbering, or older than the buffer): a single ``reset`` frame.
        """
        self._subscribers.setdefault(channel, set()).add(sub)
        sub.channels.add(channel)
        if after is None:
            return []
        buffer = self._buffers.get(channel)
        if buffer is None:  # nothing since this hub started, or dropped: only its last seq
            buffer = _Buffer(seq=self._dropped.get(channel, 0))
        if channel in EVENT_CHANNELS:
            kept = [f for f, owner in buffer.frames if f["seq"] > after
                    and sub.may_see(channel, owner)]  # fmt: skip
            oldest = buffer.frames[0][0]["seq"] if buffer.frames else self._floor + 1
            if after + 1 >= oldest:
                return kept
            # A subscriber that goes away mid-replay cancels its wait, not the read (a thread
            # cannot be cancelled): ``stop`` waits for it to give back its connection.
            replay = asyncio.ensure_future(
                asyncio.to_thread(self._replay_events, sub, channel, after)
            )
            self._replays.add(replay)
            replay.add_done_callback(self._replays.discard)
            return await asyncio.shield(replay)
        if epoch not in (None, self.epoch) or after > buffer.seq:
            return [self._reset(channel)]
        oldest = buffer.frames[0][0]["seq"] if buffer.frames else buffer.seq + 1
        if after + 1 < oldest:
            return [self._reset(channel)]
        return [f for f, _owner in buffer.frames if f["seq"] > after]

    def unsubscribe(self, sub: Subscriber, channel: str | None = None) -> None:
        """Remove ``sub`` from ``channel`` (every channel when ``None``)."""
        for name in [channel] if channel else list(sub.channels):
            subs = self._subscribers.get(name)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subscribers[name]
            sub.channels.discard(name)

    def subscriber_count(self) -> int:
        """Distinct subscribers connected."""
        return len({s for subs in self._subscribers.values() for s in subs})

    def _reset(self, channel: str) -> ChannelFrame:
        data = ResetData(epoch=self.epoch, reason="reload over HTTP")
        return ChannelFrame(channel=channel, seq=self.seq_of(channel), event="reset",
                            data=dict(data), ts=time.time())  # fmt: skip

    def _replay_events(self, sub: Subscriber, channel: str, after: int) -> list[ChannelFrame]:
        """Frames of ``events``/``jobs`` after ``after`` from the database (up to ``BUFFER``)."""
        with self._db.read() as session:
            rows = event_store.tail(session, after, BUFFER + 1)
        frames = []
        for row in rows:
            if row.id > self._floor:
                break  # the live tail delivers these
            message = event_message(row, channel)
            if message is not None and sub.may_see(channel, message.owner_id):
                frames.append(ChannelFrame(channel=channel, seq=row.id, event=message.event,
                                           data=message.data, ts=message.ts))  # fmt: skip
        if len(rows) > BUFFER:
            return [self._reset(channel)]
        return frames

    # -- background tasks ----------------------------------------------------------------------

    def _last_event_id(self) -> int:
        with self._db.read() as session:
            return event_store.last_id(session)

    async def _tail_events(self) -> None:
        while await self._pause(TAIL_SECONDS):
            try:
                rows = await asyncio.to_thread(self._new_events)
                for row in rows:
                    self._deliver_event(row)
            except Exception:
                log.exception("the hub could not read new events; retrying")

    def _new_events(self) -> list[EventRow]:
        """Events above the floor not delivered yet, oldest first; advances the floor."""
        with self._db.read() as session:
            rows = list(event_store.tail(session, self._floor, 500))
        now = time.monotonic()
        fresh = [r for r in rows if r.id not in self._seen]
        self._seen.update(r.id for r in fresh)
        present = {r.id for r in rows}
        top = max(present, default=self._floor)
        for missing in range(self._floor + 1, top):
            if missing not in present:
                self._pending.setdefault(missing, now)
        while True:  # move the floor over delivered ids and gaps that never filled
            nxt = self._floor + 1
            if nxt in self._seen:
                self._seen.discard(nxt)
            elif now - self._pending.get(nxt, now) >= event_store.SETTLE_SECONDS:
                pass
            else:
                break
            self._pending.pop(nxt, None)
            self._floor = nxt
        return fresh

    def _deliver_event(self, row: EventRow) -> None:
        for channel in (Channel.EVENTS, Channel.JOBS, "job"):
            message = event_message(row, channel)
            if message is not None:
                self.publish(message, seq=row.id if channel in EVENT_CHANNELS else None)

    async def _read_bus(self) -> None:
        assert self._bus is not None
        while not self._stopping.is_set():
            try:
                async for message in self._bus.messages():
                    if message.channel.startswith("job."):
                        self.publish(message)
                return
            except Exception:
                if self._stopping.is_set():
                    return
                log.exception("the stream bus failed; restarting it in 1 s")
                await self._pause(1.0)

    async def _tick_status(self) -> None:
        while await self._pause(STATUS_SECONDS):
            try:
                self.sweep_buffers()
                status = await asyncio.to_thread(self.system_status)
                self.publish(StreamMessage(Channel.SYSTEM_STATUS, "tick", dict(status)))
                if self.processes is not None and self._subscribers.get(Channel.SYSTEM_PROCESSES):
                    sample = await asyncio.to_thread(self.processes.sample)
                    self.publish(StreamMessage(Channel.SYSTEM_PROCESSES, "processes",
                                               sample.model_dump()))  # fmt: skip
            except Exception:
                log.exception("system.status could not be sampled")

    def system_status(self) -> SystemStatusData:
        """CPU, memory, disk, load, uptime and (with ``job_counts``) the queue."""
        return system_status(self.started_at, self.subscriber_count(), self.job_counts)
