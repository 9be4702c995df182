"""The job store's lease protocol on SQLite and PostgreSQL, with real databases.

Every test runs twice through the ``database_url`` fixture. Jobs are inserted directly as
``JobRow``s; time moves through ``sweep_expired(now=...)`` or by writing
``lease_expires_at``, never by sleeping.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import queue
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import inspect, select, text, update

from quantdesk.core.clock import utcnow
from quantdesk.core.jobs import JobErrorCode, JobStatus
from quantdesk.storage import job_queries
from quantdesk.storage import jobs as job_store
from quantdesk.storage.db import Database
from quantdesk.storage.models import JobRow, UserRow

T0 = dt.datetime(2024, 3, 1, 9, 30, tzinfo=dt.UTC)
LEASE = 30.0
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def _migrate(database: Database) -> None:
    # Imported here, not at the top: the spawned claimer processes import this module and
    # Alembic would add a third of their start-up time.
    from quantdesk.storage.migrate import migrate

    migrate(database)


def _alembic_head() -> str | None:
    from alembic.script import ScriptDirectory

    from quantdesk.storage.migrate import alembic_config

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """A migrated database, disposed afterwards (before the PostgreSQL schema is dropped)."""
    database = Database(database_url)
    _migrate(database)
    yield database
    database.dispose()


@pytest.fixture
def owner(db: Database) -> int:
    """The id of a user that owns the test jobs."""
    return _add_user(db, "13800000001")


def _add_user(db: Database, mobile: str) -> int:
    with db.write() as session:
        user = UserRow(mobile=mobile, password_hash="x", created_at=utcnow())
        session.add(user)
        session.flush()
        return user.id


def _add_job(
    db: Database,
    owner_id: int,
    job_id: str,
    created_at: dt.datetime = T0,
    *,
    status: JobStatus = JobStatus.QUEUED,
    request_hash: str = "h" * 64,
) -> None:
    with db.write() as session:
        session.add(
            JobRow(
                id=job_id,
                owner_id=owner_id,
                strategy_id="sma",
                status=status,
                request={"job": job_id, "symbols": ["000001.XSHE"]},
                request_hash=request_hash,
                run_dir=f"/runs/{job_id}",
                created_at=created_at,
                updated_at=created_at,
            )
        )


def _job(db: Database, job_id: str) -> JobRow:
    with db.read() as session:
        row = job_store.get(session, job_id)
    assert row is not None
    return row


def _snapshot(db: Database, job_id: str) -> dict[str, Any]:
    row = _job(db, job_id)
    return {c.key: getattr(row, c.key) for c in inspect(JobRow).column_attrs}


def _set(db: Database, job_id: str, **values: Any) -> None:
    with db.write() as session:
        session.execute(update(JobRow).where(JobRow.id == job_id).values(**values))


# --- migrations ----------------------------------------------------------------------------


def test_migrate_is_idempotent_and_creates_the_tables(database_url: str) -> None:
    database = Database(database_url)
    try:
        _migrate(database)
        _migrate(database)
        tables = set(inspect(database.engine).get_table_names())
        assert {"users", "strategies", "jobs", "alembic_version"} <= tables
        with database.read() as session:
            assert session.scalars(select(JobRow)).all() == []
            versions = session.execute(text("SELECT version_num FROM alembic_version")).all()
        assert [v for (v,) in versions] == [_alembic_head()]
        job_columns = {c["name"] for c in inspect(database.engine).get_columns("jobs")}
        assert {"fence", "lease_owner", "lease_expires_at", "attempts"} <= job_columns
    finally:
        database.dispose()


# --- claim ---------------------------------------------------------------------------------


def test_claim_returns_none_when_nothing_is_queued(db: Database, owner: int) -> None:
    assert job_store.claim(db, "w1", LEASE) is None
    _add_job(db, owner, "done", status=JobStatus.FINISHED)
    _add_job(db, owner, "failed", status=JobStatus.FAILED)
    assert job_store.claim(db, "w1", LEASE) is None
    assert _job(db, "done").status == JobStatus.FINISHED


def test_claim_takes_the_oldest_queued_job_and_leases_it(db: Database, owner: int) -> None:
    # Ids sort the other way round from creation times: the order must come from created_at.
    _add_job(db, owner, "a-newest", T0 + dt.timedelta(minutes=2))
    _add_job(db, owner, "b-middle", T0 + dt.timedelta(minutes=1))
    _add_job(db, owner, "c-oldest", T0)
    _add_job(db, owner, "0-older-but-running", T0 - dt.timedelta(hours=1), status=JobStatus.RUNNING)

    before = utcnow()
    claimed = job_store.claim(db, "worker-1", LEASE)
    after = utcnow()

    assert claimed is not None
    assert claimed.id == "c-oldest"
    assert (claimed.fence, claimed.attempts) == (1, 1)
    assert claimed.run_dir == "/runs/c-oldest"
    assert claimed.request == {"job": "c-oldest", "symbols": ["000001.XSHE"]}

    row = _job(db, "c-oldest")
    assert row.status == JobStatus.RUNNING
    assert (row.attempts, row.fence) == (1, 1)
    assert row.lease_owner == "worker-1"
    assert row.lease_expires_at is not None
    lease = dt.timedelta(seconds=LEASE)
    assert before + lease <= row.lease_expires_at <= after + lease
    assert row.started_at is not None
    assert before <= row.started_at <= after
    # The others stay queued and come out oldest first.
    assert _job(db, "b-middle").status == JobStatus.QUEUED
    rest = [job_store.claim(db, "worker-2", LEASE) for _ in range(2)]
    assert [job.id if job else None for job in rest] == ["b-middle", "a-newest"]
    assert job_store.claim(db, "worker-2", LEASE) is None
    with db.read() as session:
        assert job_queries.count_by_status(session) == {"RUNNING": 4}


def test_claim_breaks_created_at_ties_by_id(db: Database, owner: int) -> None:
    _add_job(db, owner, "job-b", T0)
    _add_job(db, owner, "job-a", T0)
    first = job_store.claim(db, "w", LEASE)
    assert first is not None
    assert first.id == "job-a"


# --- concurrency ---------------------------------------------------------------------------


def _claim_until_empty(url: str, worker_id: str, barrier: Any) -> list[str]:
    """Claim with a private ``Database`` until nothing is left; the ids claimed, in order."""
    database = Database(url)
    try:
        barrier.wait(timeout=30)
        claimed: list[str] = []
        while (job := job_store.claim(database, worker_id, LEASE)) is not None:
            claimed.append(job.id)
        return claimed
    finally:
        database.dispose()


def _claim_in_process(url: str, worker_id: str, barrier: Any, results: Any) -> None:
    """Process target (module level so that 'spawn' can import it)."""
    try:
        results.put((worker_id, _claim_until_empty(url, worker_id, barrier)))
    except BaseException as exc:
        results.put((worker_id, f"error: {exc!r}"))
        raise


def _assert_each_claimed_once(
    db: Database, expected: set[str], per_worker: list[list[str]]
) -> None:
    everything = [job_id for ids in per_worker for job_id in ids]
    assert len(everything) == len(set(everything)), "a job was claimed twice"
    assert set(everything) == expected, "a job was never claimed"
    with db.read() as session:
        rows = session.scalars(select(JobRow)).all()
    assert {r.status for r in rows} == {JobStatus.RUNNING}
    assert {(r.attempts, r.fence) for r in rows} == {(1, 1)}
    owner_of = {job_id: f"w{i}" for i, ids in enumerate(per_worker) for job_id in ids}
    assert {r.id: r.lease_owner for r in rows} == owner_of


def test_concurrent_threads_claim_every_job_exactly_once(
    db: Database, owner: int, database_url: str
) -> None:
    expected = {f"job-{i:03d}" for i in range(30)}
    for i, job_id in enumerate(sorted(expected)):
        _add_job(db, owner, job_id, T0 + dt.timedelta(seconds=i))

    n_threads = 4
    barrier = threading.Barrier(n_threads)
    results: list[list[str]] = [[] for _ in range(n_threads)]
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            results[i] = _claim_until_empty(database_url, f"w{i}", barrier)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a claiming thread hung"
    assert errors == []
    _assert_each_claimed_once(db, expected, results)
    # Each worker claims in created_at order.
    assert all(ids == sorted(ids) for ids in results)


def test_concurrent_processes_claim_every_job_exactly_once(
    db: Database, owner: int, database_url: str
) -> None:
    expected = {f"job-{i:03d}" for i in range(45)}
    for i, job_id in enumerate(sorted(expected)):
        _add_job(db, owner, job_id, T0 + dt.timedelta(seconds=i))

    ctx = multiprocessing.get_context("spawn")
    n_procs = 3
    barrier = ctx.Barrier(n_procs)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_claim_in_process, args=(database_url, f"w{i}", barrier, results))
        for i in range(n_procs)
    ]
    for p in procs:
        p.start()
    got: dict[str, list[str]] = {}
    try:
        for _ in range(n_procs):
            worker_id, ids = results.get(timeout=60)
            assert isinstance(ids, list), f"{worker_id} failed: {ids}"
            got[worker_id] = ids
    except queue.Empty:  # pragma: no cover - only on a hang
        pytest.fail(f"claiming processes did not report in time; got {sorted(got)}")
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():  # pragma: no cover - only on a hang
                p.kill()
    assert [p.exitcode for p in procs] == [0] * n_procs
    _assert_each_claimed_once(db, expected, [got[f"w{i}"] for i in range(n_procs)])


# --- heartbeat -----------------------------------------------------------------------------


def test_heartbeat_extends_the_lease_and_records_progress(db: Database, owner: int) -> None:
    _add_job(db, owner, "j1")
    claimed = job_store.claim(db, "w1", 5.0)
    assert claimed is not None
    first_expiry = _job(db, "j1").lease_expires_at
    assert first_expiry is not None

    progress = {"progress": 0.5, "current_bar": 120, "total_bars": 240, "status": "FAILED"}
    assert job_store.heartbeat(db, "j1", claimed.fence, 600.0, progress)

    row = _job(db, "j1")
    assert row.lease_expires_at is not None
    assert row.lease_expires_at - first_expiry > dt.timedelta(seconds=500)
    assert (row.progress, row.current_bar, row.total_bars) == (0.5, 120, 240)
    # Only the progress fields are taken from the dict; the lease stays the worker's.
    assert row.status == JobStatus.RUNNING
    assert row.lease_owner == "w1"
    assert (row.fence, row.attempts) == (1, 1)

    # Without progress the lease is extended and the progress stays.
    assert job_store.heartbeat(db, "j1", claimed.fence, 900.0)
    again = _job(db, "j1")
    assert again.lease_expires_at is not None
    assert again.lease_expires_at > row.lease_expires_at
    assert (again.progress, again.current_bar, again.total_bars) == (0.5, 120, 240)


def test_heartbeat_with_a_stale_fence_changes_nothing(db: Database, owner: int) -> None:
    _add_job(db, owner, "j1")
    claimed = job_store.claim(db, "w1", LEASE)
    assert claimed is not None
    before = _snapshot(db, "j1")

    progress = {"progress": 0.9, "current_bar": 9, "total_bars": 10}
    assert job_store.heartbeat(db, "j1", claimed.fence - 1, 600.0, progress) is False
    assert job_store.heartbeat(db, "j1", claimed.fence + 1, 600.0, progress) is False
    assert job_store.heartbeat(db, "missing", claimed.fence, 600.0, progress) is False
    assert _snapshot(db, "j1") == before


def test_heartbeat_after_the_job_left_running_is_refused(db: Database, owner: int) -> None:
    _add_job(db, owner, "j1")
    claimed = job_store.claim(db, "w1", LEASE)
    assert claimed is not None
    assert job_store.finish(db, "j1", claimed.fence, JobStatus.FINISHED)
    before = _snapshot(db, "j1")
    assert job_store.heartbeat(db, "j1", claimed.fence, 600.0, {"progress": 0.1}) is False
    assert _snapshot(db, "j1") == before
    assert before["lease_expires_at"] is None


# --- finish --------------------------------------------------------------------------------


def test_finish_commits_finished_with_the_current_fence(db: Database, owner: int) -> None:
    _add_job(db, owner, "j1")
    claimed = job_store.claim(db, "w1", LEASE)
    assert claimed is not None
    progress = {"progress": 1.0, "current_bar": 240, "total_bars": 240}
    assert job_store.finish(db, "j1", claimed.fence, JobStatus.FINISHED, progress=progress)

    row = _job(db, "j1")
    assert row.status == JobStatus.FINISHED
    assert row.error_code is None
    assert row.error_message is None
    assert row.finished_at is not None
    assert (row.lease_owner, row.lease_expires_at) == (None, None)
    assert (row.progress, row.current_bar, row.total_bars) == (1.0, 240, 240)
    # A second commit is refused: the job is no longer RUNNING.
    assert job_store.finish(db, "j1", claimed.fence, JobStatus.FAILED, "X", "late") is False
    assert _job(db, "j1").status == JobStatus.FINISHED


def test_finish_commits_failed_with_its_error(db: Database, owner: int) -> None:
    _add_job(db, owner, "j1")
    claimed = job_store.claim(db, "w1", LEASE)
    assert claimed is not None
    assert job_store.finish(
        db,
        "j1",
        claimed.fence,
        JobStatus.FAILED,
        JobErrorCode.STRATEGY_ERROR,
        "ZeroDivisionError in handle_bar",
    )
    row = _job(db, "j1")
    assert row.status == JobStatus.FAILED
    assert row.error_code == "STRATEGY_ERROR"
    assert row.error_message == "ZeroDivisionError in handle_bar"
    assert row.finished_at is not None
    with db.read() as session:
        assert job_queries.count_by_status(session) == {"FAILED": 1}


def test_finish_with_a_stale_fence_keeps_the_new_owners_state(db: Database, owner: int) -> None:
    _add_job(db, owner, "j1")
    old = job_store.claim(db, "old-worker", LEASE)
    assert old is not None
    # The old worker stalls; its lease runs out, the sweeper requeues, another worker claims.
    later = utcnow() + dt.timedelta(seconds=LEASE + 1)
    assert job_store.sweep_expired(db, now=later) == [("j1", JobStatus.QUEUED)]
    new = job_store.claim(db, "new-worker", LEASE)
    assert new is not None
    assert new.id == "j1"
    assert (new.fence, new.attempts) == (2, 2)
    assert job_store.heartbeat(db, "j1", new.fence, LEASE, {"progress": 0.25})
    before = _snapshot(db, "j1")

    assert job_store.finish(db, "j1", old.fence, JobStatus.FINISHED) is False
    assert job_store.finish(db, "j1", old.fence, JobStatus.FAILED, "X", "stale") is False
    assert job_store.heartbeat(db, "j1", old.fence, 600.0, {"progress": 0.99}) is False
    assert job_store.release(db, "j1", old.fence) is False
    assert _snapshot(db, "j1") == before
    assert before["status"] == JobStatus.RUNNING
    assert before["lease_owner"] == "new-worker"
    assert before["progress"] == 0.25

    assert job_store.finish(db, "j1", new.fence, JobStatus.FINISHED)
    assert _job(db, "j1").status == JobStatus.FINISHED


# --- sweep_expired -------------------------------------------------------------------------


def test_sweep_requeues_then_fails_with_worker_lost_after_max_attempts(
    db: Database, owner: int
) -> None:
    _add_job(db, owner, "j1")
    for attempt in (1, 2, 3):
        claimed = job_store.claim(db, f"w{attempt}", LEASE)
        assert claimed is not None
        assert (claimed.id, claimed.attempts, claimed.fence) == ("j1", attempt, attempt)
        # Still inside the lease: nothing to sweep.
        assert job_store.sweep_expired(db, now=utcnow()) == []
        assert _job(db, "j1").status == JobStatus.RUNNING
        # The worker died; its lease runs out.
        now = utcnow() + dt.timedelta(seconds=LEASE + 5)
        changed = job_store.sweep_expired(db, now=now)
        row = _job(db, "j1")
        assert (row.lease_owner, row.lease_expires_at) == (None, None)
        assert row.attempts == attempt
        if attempt < 3:
            assert changed == [("j1", JobStatus.QUEUED)]
            assert row.status == JobStatus.QUEUED
            assert row.error_code is None
            assert row.finished_at is None
        else:
            assert changed == [("j1", JobStatus.FAILED)]
            assert row.status == JobStatus.FAILED
            assert row.error_code == JobErrorCode.WORKER_LOST
            assert row.error_message
            assert row.finished_at == now
    assert row.max_attempts == 3
    assert job_store.claim(db, "w4", LEASE) is None
    assert job_store.sweep_expired(db, now=now + dt.timedelta(days=1)) == []


def test_sweep_only_touches_expired_running_jobs(db: Database, owner: int) -> None:
    for job_id in ("expired", "exhausted", "live", "queued"):
        _add_job(db, owner, job_id)
    for _ in range(3):
        assert job_store.claim(db, "w", LEASE) is not None
    past = utcnow() - dt.timedelta(minutes=5)
    _set(db, "expired", lease_expires_at=past)
    _set(db, "exhausted", lease_expires_at=past, attempts=3)
    _set(db, "queued", lease_expires_at=past)  # not RUNNING: never swept
    live_before = _snapshot(db, "live")

    changed = job_store.sweep_expired(db)

    assert sorted(changed) == [("exhausted", JobStatus.FAILED), ("expired", JobStatus.QUEUED)]
    expired = _job(db, "expired")
    assert expired.status == JobStatus.QUEUED
    assert (expired.lease_owner, expired.lease_expires_at) == (None, None)
    assert expired.attempts == 1
    exhausted = _job(db, "exhausted")
    assert exhausted.status == JobStatus.FAILED
    assert exhausted.error_code == "WORKER_LOST"
    assert (exhausted.lease_owner, exhausted.lease_expires_at) == (None, None)
    assert _snapshot(db, "live") == live_before
    assert _job(db, "queued").status == JobStatus.QUEUED
    with db.read() as session:
        assert job_queries.count_by_status(session) == {"QUEUED": 2, "FAILED": 1, "RUNNING": 1}


# --- release -------------------------------------------------------------------------------


def test_release_requeues_and_gives_back_the_attempt(db: Database, owner: int) -> None:
    _add_job(db, owner, "j1")
    claimed = job_store.claim(db, "w1", LEASE)
    assert claimed is not None
    assert job_store.release(db, "j1", claimed.fence)

    row = _job(db, "j1")
    assert row.status == JobStatus.QUEUED
    assert row.attempts == 0
    assert (row.lease_owner, row.lease_expires_at) == (None, None)
    assert row.fence == 1  # the fence never goes back: the released worker stays fenced out
    assert job_store.release(db, "j1", claimed.fence) is False  # no longer RUNNING
    assert job_store.finish(db, "j1", claimed.fence, JobStatus.FINISHED) is False

    again = job_store.claim(db, "w2", LEASE)
    assert again is not None
    assert (again.id, again.attempts, again.fence) == ("j1", 1, 2)
    assert job_store.release(db, "j1", claimed.fence) is False  # stale fence
    assert _job(db, "j1").lease_owner == "w2"


# --- recent_duplicate ----------------------------------------------------------------------


def test_recent_duplicate_returns_the_newest_reusable_job(db: Database, owner: int) -> None:
    other = _add_user(db, "13800000002")
    h, h2 = "a" * 64, "b" * 64
    minute = dt.timedelta(minutes=1)
    _add_job(db, owner, "too-old", T0 - 10 * minute, request_hash=h)
    _add_job(db, owner, "finished", T0 + 1 * minute, request_hash=h, status=JobStatus.FINISHED)
    _add_job(db, owner, "running", T0 + 2 * minute, request_hash=h, status=JobStatus.RUNNING)
    _add_job(db, owner, "failed", T0 + 3 * minute, request_hash=h, status=JobStatus.FAILED)
    _add_job(db, owner, "cancelled", T0 + 4 * minute, request_hash=h, status=JobStatus.CANCELLED)
    _add_job(db, other, "other-owner", T0 + 5 * minute, request_hash=h)
    _add_job(db, owner, "other-hash", T0 + 6 * minute, request_hash=h2)

    with db.read() as session:
        found = job_queries.recent_duplicate(session, owner, h, T0)
        assert found is not None
        assert found.id == "running"
        # The window is inclusive of its start and excludes older jobs.
        at_start = job_queries.recent_duplicate(session, owner, h, T0 + 2 * minute)
        assert at_start is not None
        assert at_start.id == "running"
        assert job_queries.recent_duplicate(session, owner, h, T0 + 3 * minute) is None
        wide = job_queries.recent_duplicate(session, owner, h, T0 - 20 * minute)
        assert wide is not None
        assert wide.id == "running"
        theirs = job_queries.recent_duplicate(session, other, h, T0)
        assert theirs is not None
        assert theirs.id == "other-owner"
        assert job_queries.recent_duplicate(session, owner, "c" * 64, T0 - 20 * minute) is None
        # A non-UTC window start means the same instant.
        local = job_queries.recent_duplicate(
            session, owner, h2, (T0 + 6 * minute).astimezone(SHANGHAI)
        )
        assert local is not None
        assert local.id == "other-hash"


def test_recent_duplicate_ignores_failed_and_cancelled(db: Database, owner: int) -> None:
    _add_job(db, owner, "failed", T0, status=JobStatus.FAILED)
    _add_job(db, owner, "cancelled", T0, status=JobStatus.CANCELLED)
    with db.read() as session:
        assert job_queries.recent_duplicate(session, owner, "h" * 64, T0 - dt.timedelta(1)) is None


# --- time zones ----------------------------------------------------------------------------


def test_datetimes_come_back_tz_aware_utc(db: Database, owner: int) -> None:
    created = dt.datetime(2024, 3, 1, 17, 30, 15, 123456, tzinfo=SHANGHAI)
    _add_job(db, owner, "j1", created)
    claimed = job_store.claim(db, "w1", LEASE)
    assert claimed is not None

    row = _job(db, "j1")
    stamps = [row.created_at, row.updated_at, row.started_at, row.lease_expires_at]
    for stamp in stamps:
        assert stamp is not None
        assert stamp.tzinfo is not None
        assert stamp.utcoffset() == dt.timedelta(0)
    assert row.created_at == created
    assert row.created_at == dt.datetime(2024, 3, 1, 9, 30, 15, 123456, tzinfo=dt.UTC)
    assert row.created_at.hour == 9
    with db.read() as session:
        user = session.get(UserRow, owner)
        assert user is not None
        assert user.created_at.utcoffset() == dt.timedelta(0)
        # Comparisons in SQL see the same instants.
        hit = session.scalars(select(JobRow.id).where(JobRow.created_at == created)).all()
        assert hit == ["j1"]


def test_datetimes_are_utc_whatever_the_session_time_zone(db: Database, owner: int) -> None:
    if db.is_sqlite:
        pytest.skip("SQLite has no session time zone")
    created = dt.datetime(2024, 3, 1, 9, 30, 15, 123456, tzinfo=dt.UTC)
    _add_job(db, owner, "j1", created)
    with db.write() as session:
        session.execute(text("SET LOCAL TIME ZONE 'America/New_York'"))
        row = job_store.get(session, "j1")
        assert row is not None
        assert row.created_at.utcoffset() == dt.timedelta(0)
        assert row.created_at == created
        assert row.created_at.hour == 9
        # What is written under that session time zone is still the same instant.
        row.updated_at = created + dt.timedelta(hours=1)
    with db.read() as session:
        row = job_store.get(session, "j1")
        assert row is not None
        assert row.updated_at == dt.datetime(2024, 3, 1, 10, 30, 15, 123456, tzinfo=dt.UTC)


def test_naive_datetimes_are_rejected(db: Database, owner: int) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        _add_job(db, owner, "j1", dt.datetime(2024, 3, 1, 9, 30))  # noqa: DTZ001 (on purpose)
    with pytest.raises(Exception, match="naive datetime"):
        job_store.sweep_expired(db, now=dt.datetime(2024, 3, 1, 9, 30))  # noqa: DTZ001 (idem)


def test_jobs_of_a_dead_worker_of_this_host_are_reclaimed_at_once(db: Database, owner: int) -> None:
    for job_id in ("dead", "alive", "elsewhere", "spent"):
        _add_job(db, owner, job_id)
        assert job_store.claim(db, "tmp", LEASE) is not None
    far = utcnow() + dt.timedelta(hours=1)  # leases far from expiring: only liveness counts
    owners = {"dead": "host1:boot:11:w0", "alive": "host1:boot:22:w1",
              "elsewhere": "host2:boot:33:w0", "spent": "host1:boot:44:w0"}  # fmt: skip
    for job_id, lease_owner in owners.items():
        _set(db, job_id, lease_owner=lease_owner, lease_expires_at=far)
    _set(db, "spent", attempts=3, max_attempts=3)
    seen: list[str] = []

    def alive(owner_id: str) -> bool:
        seen.append(owner_id)
        return owner_id == "host1:boot:22:w1"

    changed = dict(job_store.reclaim_orphans(db, "host1", alive))
    assert changed == {"dead": JobStatus.QUEUED, "spent": JobStatus.FAILED}
    assert "host2:boot:33:w0" not in seen  # another host's workers are not judged here
    assert _job(db, "alive").status == JobStatus.RUNNING
    assert _job(db, "elsewhere").status == JobStatus.RUNNING
    assert _job(db, "dead").lease_owner is None
    assert _job(db, "spent").error_code == JobErrorCode.WORKER_LOST
    assert job_store.reclaim_orphans(db, "host1", alive) == []
