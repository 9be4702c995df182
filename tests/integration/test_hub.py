"""The hub and the stream bus without a server: numbering, resume and reset, slow subscribers,
the events table's tail (gaps included), and both bus transports."""

from __future__ import annotations

import asyncio
import logging
import os
import time
import types
from pathlib import Path
from typing import Any

import pytest

from quantdesk.core.events import Channel, EventKind, StreamMessage
from quantdesk.services.events import hub as hub_module
from quantdesk.services.events.frames import SERVER_FRAME
from quantdesk.services.events.hub import Hub, Subscriber
from quantdesk.services.events.samples import HubLogHandler
from quantdesk.storage import Database
from quantdesk.storage import events as event_store
from quantdesk.storage.bus import LocalReceiver, LocalSender, RedisReceiver, RedisSender
from quantdesk.storage.migrate import migrate
from quantdesk.storage.models import EventRow

REDIS_URL = os.environ.get("QUANTDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'hub.db'}")
    migrate(database)
    return database


def progress(job: str, bar: int) -> StreamMessage:
    return StreamMessage(f"job.{job}", "progress", {"current_bar": bar, "total_bars": 100})


def queued(sub: Subscriber) -> dict[str, Any]:
    """The next frame queued for ``sub``, as its socket would send it."""
    return dict(sub.queue.get_nowait())


def test_channels_are_numbered_and_resumed_within_the_buffer(db: Database) -> None:
    async def scenario() -> None:
        hub = Hub(db)
        for bar in range(1, 6):
            hub.publish(progress("a", bar))
        sub = Subscriber(1, False)
        missed = await hub.subscribe(sub, "job.a", after=2, epoch=hub.epoch)
        assert [f["seq"] for f in missed] == [3, 4, 5]
        assert [f["data"]["current_bar"] for f in missed] == [3, 4, 5]
        hub.publish(progress("a", 6))
        assert queued(sub)["seq"] == 6
        assert dict(hub.progress_of("a") or {}) == {"current_bar": 6, "total_bars": 100}
        # another hub's numbering, or a seq from the future: reload over HTTP
        for after, epoch in ((2, "other-hub"), (99, hub.epoch)):
            (reset,) = await hub.subscribe(Subscriber(1, False), "job.a", after, epoch)
            assert (reset["event"], reset["seq"]) == ("reset", 6)

    asyncio.run(scenario())


def test_a_client_behind_the_buffer_is_reset(db: Database, monkeypatch: Any) -> None:
    monkeypatch.setattr(hub_module, "BUFFER", 10)

    async def scenario() -> None:
        hub = Hub(db)
        for bar in range(25):
            hub.publish(progress("b", bar))
        (reset,) = await hub.subscribe(Subscriber(1, False), "job.b", after=3, epoch=hub.epoch)
        assert reset["event"] == "reset"
        kept = await hub.subscribe(Subscriber(1, False), "job.b", after=15, epoch=hub.epoch)
        assert [f["seq"] for f in kept] == list(range(16, 26))

    asyncio.run(scenario())


def test_a_slow_subscriber_is_dropped_and_never_blocks_the_others(db: Database) -> None:
    async def scenario() -> None:
        hub = Hub(db)
        slow = Subscriber(1, False, queue=asyncio.Queue(3))
        fast = Subscriber(1, False)
        await hub.subscribe(slow, "job.c")
        await hub.subscribe(fast, "job.c")
        started = time.perf_counter()
        for bar in range(50):
            hub.publish(progress("c", bar))
        assert time.perf_counter() - started < 0.5
        assert slow.dropped.is_set() and slow.queue.qsize() == 3
        assert not fast.dropped.is_set() and fast.queue.qsize() == 50

    asyncio.run(scenario())


def _append(db: Database, kind: str, subject: str, user_id: int | None) -> int:
    with db.write() as session:
        return event_store.append(session, kind, subject, user_id=user_id).id


def test_events_are_tailed_filtered_per_user_and_replayed_from_the_database(db: Database) -> None:
    async def scenario() -> None:
        first = Hub(db)
        first._floor = 0
        ids = [
            _append(db, EventKind.JOB_SUBMITTED, "j1", 1),
            _append(db, EventKind.LOGIN_FAILED, "138", None),
            _append(db, EventKind.JOB_FINISHED, "j1", 1),
            _append(db, EventKind.JOB_SUBMITTED, "j2", 2),
        ]
        user, admin = Subscriber(1, False), Subscriber(9, True)
        await first.subscribe(user, Channel.EVENTS)
        await first.subscribe(admin, Channel.EVENTS)
        await first.subscribe(user, Channel.JOBS)
        for row in first._new_events():
            first._deliver_event(row)
        got = [queued(user) for _ in range(user.queue.qsize())]
        assert [(f["channel"], f["seq"]) for f in got] == [
            ("events", ids[0]), ("jobs", ids[0]), ("events", ids[2]), ("jobs", ids[2]),
        ]  # fmt: skip
        assert admin.queue.qsize() == 4  # admins see every event, the platform's too
        assert (got[1]["event"], got[1]["data"]["kind"]) == ("status", "job.submitted")
        # a new hub (empty buffer) serves a resuming client from the table
        second = Hub(db)
        second._floor = ids[-1]
        replay = await second.subscribe(Subscriber(1, False), Channel.EVENTS, after=0)
        assert [f["seq"] for f in replay] == [ids[0], ids[2]]
        jobs = await second.subscribe(Subscriber(2, False), Channel.JOBS, after=0)
        assert [f["data"]["job_id"] for f in jobs] == ["j2"]

    asyncio.run(scenario())


def test_stop_waits_for_a_replay_whose_subscriber_went_away(db: Database) -> None:
    """Regression: a socket closed mid-replay cancelled the wait but not the read in its
    thread, so the platform could close the database under it (a leaked connection)."""
    order: list[str] = []

    async def scenario() -> None:
        hub = Hub(db)
        hub._floor = _append(db, EventKind.JOB_SUBMITTED, "j1", 1)
        read = hub._replay_events

        def slow_read(*args: Any) -> Any:
            order.append("read")
            time.sleep(0.3)
            order.append("read done")
            return read(*args)

        hub._replay_events = slow_read  # type: ignore[method-assign,assignment]
        waiting = asyncio.create_task(hub.subscribe(Subscriber(1, False), Channel.EVENTS, 0))
        while not order:
            await asyncio.sleep(0.01)
        waiting.cancel()  # the socket went away
        await hub.stop()
        order.append("stopped")

    asyncio.run(scenario())
    assert order == ["read", "read done", "stopped"]


def test_the_tail_waits_for_a_gap_in_ids_then_moves_past_it(db: Database, monkeypatch: Any) -> None:
    """PostgreSQL can commit id 3 after id 4: the hub delivers 4 at once, 3 when it lands,
    and gives up on an id that never does (a rolled-back transaction) after the settle time."""
    monkeypatch.setattr(event_store, "SETTLE_SECONDS", 0.2)
    hub = Hub(db)
    with db.write() as session:
        for event_id in (1, 2, 4):
            session.add(EventRow(id=event_id, created_at=_now(), kind="x", subject="s", data={}))
    assert [r.id for r in hub._new_events()] == [1, 2, 4]
    assert hub._floor == 2
    with db.write() as session:
        session.add(EventRow(id=3, created_at=_now(), kind="x", subject="s", data={}))
    assert [r.id for r in hub._new_events()] == [3]
    assert hub._floor == 4
    with db.write() as session:
        session.add(EventRow(id=6, created_at=_now(), kind="x", subject="s", data={}))
    assert [r.id for r in hub._new_events()] == [6]
    assert hub._floor == 4  # 5 may still commit
    later = time.monotonic() + 0.25  # past the settle time, without waiting for it
    clock = types.SimpleNamespace(monotonic=lambda: later, time=time.time)
    monkeypatch.setattr(hub_module, "time", clock)
    assert hub._new_events() == []
    assert hub._floor == 6  # 5 never came


def _now() -> Any:
    from quantdesk.core.clock import utcnow

    return utcnow()


def test_the_local_bus_delivers_and_drops_instead_of_blocking(tmp_path: Path) -> None:
    path = tmp_path / "run" / "hub.sock"
    nobody = LocalSender(path)
    nobody.send(progress("d", 1))
    assert nobody.dropped == 1  # no API listens: dropped, not an error

    async def scenario() -> list[StreamMessage]:
        receiver = LocalReceiver(path)
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        sender = LocalSender(path)
        for bar in range(3):
            sender.send(progress("d", bar))
        sender.send(StreamMessage("job.d", "log", {"lines": ["x" * 100_000]}))  # too big
        assert sender.dropped == 1
        got = []
        async for message in receiver.messages():
            got.append(message)
            if len(got) == 3:
                break
        await receiver.close()
        assert not path.exists()
        return got

    got = asyncio.run(scenario())
    assert [m.data["current_bar"] for m in got] == [0, 1, 2]


def _redis_up() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Redis is required in CI but unavailable: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} is unavailable: {exc}")


@pytest.mark.redis
def test_the_redis_bus_fans_out_and_a_dead_redis_never_blocks_a_sender() -> None:
    _redis_up()

    async def scenario() -> list[StreamMessage]:
        receiver = RedisReceiver(REDIS_URL)
        got: list[StreamMessage] = []

        async def read() -> None:
            async for message in receiver.messages():
                got.append(message)
                if len(got) == 2:
                    return

        reader = asyncio.create_task(read())
        while not receiver.connected:
            await asyncio.sleep(0.02)
        sender = RedisSender(REDIS_URL)
        await asyncio.to_thread(sender.send, progress("e", 1))
        await asyncio.to_thread(sender.send, progress("e", 2))
        await asyncio.wait_for(reader, 10)
        await receiver.close()
        sender.close()
        return got

    got = asyncio.run(scenario())
    assert [m.data["current_bar"] for m in got] == [1, 2]
    dead = RedisSender("redis://127.0.0.1:1/0")
    started = time.perf_counter()
    for bar in range(20):
        dead.send(progress("e", bar))
    assert dead.dropped == 20 and time.perf_counter() - started < 2.0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_job_changes_record_their_events_in_the_same_transaction(platform: Any) -> None:
    from quantdesk.core.jobs import JobStatus
    from quantdesk.services.auth import Principal
    from quantdesk.services.backtests import RunRequest
    from quantdesk.storage import jobs as job_store

    admin = Principal(1, True, "admin")
    platform.strategies.save(admin, "m", "def handle_bar(context, bar_dict):\n    pass\n")
    job_id = platform.backtests.submit(admin, RunRequest.model_validate(
        {"strategy_id": "m", "start_date": "2010-02-01", "end_date": "2010-03-31",
         "universe": ["IBM"]}
    ))  # fmt: skip
    claimed = job_store.claim(platform.db, "w", 30)
    assert claimed is not None
    for pct in (10.0, 30.0, 80.0, 90.0):
        update = {"progress": pct, "current_bar": int(pct), "total_bars": 100}
        assert job_store.heartbeat(platform.db, job_id, claimed.fence, 30, update)
    assert job_store.finish(platform.db, job_id, claimed.fence, JobStatus.FINISHED)
    assert not job_store.heartbeat(platform.db, job_id, claimed.fence, 30)  # fence gone
    page = platform.events.list(admin, subject=job_id, limit=100)
    events = list(reversed(page.events))
    assert [e.kind for e in events] == [
        "job.submitted", "job.claimed", "job.progress", "job.progress", "job.finished",
    ]  # fmt: skip
    assert [e.data["milestone"] for e in events if e.kind == "job.progress"] == [25, 75]
    assert events[-1].data["status"] == "FINISHED" and events[-1].user_id == 1
    other = platform.events.list(Principal(2, False, "researcher"), subject=job_id, limit=100)
    assert other.total == 0  # another user's events are not listed


def status(job: str, kind: str) -> StreamMessage:
    return StreamMessage(f"job.{job}", "status", {"job_id": job, "kind": kind})


def test_an_ended_jobs_buffer_is_dropped_once_nobody_listens(db: Database) -> None:
    """Kept ``JOB_BUFFER_SECONDS`` after the final status and while subscribed; after that a
    client that saw everything resumes with nothing to replay, one that missed some is reset,
    and the numbering goes on where it stopped."""

    async def scenario() -> None:
        hub = Hub(db)
        for bar in range(1, 4):
            hub.publish(progress("f", bar))
        hub.publish(status("f", EventKind.JOB_FINISHED))  # seq 4
        hub.publish(progress("g", 1))  # still running
        now = time.monotonic()
        assert hub.sweep_buffers(now + hub_module.JOB_BUFFER_SECONDS - 1) == 0
        listener = Subscriber(1, False)
        await hub.subscribe(listener, "job.f")
        later = now + hub_module.JOB_BUFFER_SECONDS + 1
        assert hub.sweep_buffers(later) == 0  # somebody listens
        hub.unsubscribe(listener)
        assert hub.sweep_buffers(later) == 1
        assert hub.buffered_channels() == ["job.g"]  # the running job's is kept
        assert hub.seq_of("job.f") == 4
        assert await hub.subscribe(Subscriber(1, False), "job.f", after=4, epoch=hub.epoch) == []
        (reset,) = await hub.subscribe(Subscriber(1, False), "job.f", after=2, epoch=hub.epoch)
        assert (reset["event"], reset["seq"]) == ("reset", 4)
        assert hub.publish(progress("f", 9))["seq"] == 5  # a late message: no seq reused

    asyncio.run(scenario())


def test_job_channels_are_capped_least_recently_active_first(
    db: Database, monkeypatch: Any
) -> None:
    monkeypatch.setattr(hub_module, "JOB_CHANNELS_KEPT", 3)

    async def scenario() -> None:
        hub = Hub(db)
        hub.publish(StreamMessage(Channel.SYSTEM_STATUS, "tick", {}))  # never counted nor dropped
        busy = Subscriber(1, False)
        await hub.subscribe(busy, "job.a")
        for job in ("a", "b", "c"):
            hub.publish(progress(job, 1))
            hub.publish(progress(job, 2))
        hub.publish(progress("b", 3))  # b is now the most recently active
        hub.publish(progress("d", 1))  # one too many: c goes (a has a subscriber)
        assert hub.buffered_channels() == [Channel.SYSTEM_STATUS, "job.a", "job.b", "job.d"]
        hub.publish(progress("e", 1))  # a still has its subscriber: b goes
        assert hub.buffered_channels() == [Channel.SYSTEM_STATUS, "job.a", "job.d", "job.e"]
        assert busy.queue.qsize() == 2
        (reset,) = await hub.subscribe(Subscriber(1, False), "job.c", after=1, epoch=hub.epoch)
        assert (reset["event"], reset["seq"]) == ("reset", 2)
        kept = await hub.subscribe(Subscriber(1, False), "job.a", after=0, epoch=hub.epoch)
        assert [f["seq"] for f in kept] == [1, 2]
        for job in ("d", "e"):  # every job channel is subscribed to now
            await hub.subscribe(Subscriber(1, False), f"job.{job}")
        assert hub.publish(progress("f", 1))["seq"] == 1  # one over the cap, but being used
        assert hub.publish(progress("f", 2))["seq"] == 2
        assert hub.buffered_channels()[-1] == "job.f"

    asyncio.run(scenario())


def test_the_frames_the_hub_builds_have_their_schemas(db: Database) -> None:
    """``reset``, ``tick`` and ``log`` frames (the workers' payloads are checked end to end)."""

    async def scenario() -> None:
        hub = Hub(db, job_counts=lambda: {"QUEUED": 2, "RUNNING": 1, "FINISHED": 5})
        status = hub.system_status()
        assert (status["queue_depth"], status["running"]) == (2, 1)
        assert "queue_depth" not in Hub(db).system_status()  # no counts, no queue figures
        listener = Subscriber(9, True)
        await hub.subscribe(listener, Channel.LOGS)
        handler = HubLogHandler(hub, asyncio.get_running_loop())
        record = logging.LogRecord("quantdesk.x", logging.INFO, "f.py", 1, "hi %s", ("x",), None)
        handler.emit(record)
        await asyncio.sleep(0)  # the record reaches the hub on the loop
        hub.publish(StreamMessage(Channel.SYSTEM_STATUS, "tick", dict(status)))
        hub.publish(progress("r", 1))
        (reset,) = await hub.subscribe(Subscriber(1, False), "job.r", after=7, epoch="other")
        (tick,) = await hub.subscribe(Subscriber(1, False), Channel.SYSTEM_STATUS, after=0)
        logged = queued(listener)
        for frame in (reset, tick, logged):
            SERVER_FRAME.validate_python(frame)
        assert (logged["event"], logged["data"]["message"]) == ("log", "hi x")

    asyncio.run(scenario())
