"""Platform events outside the job runtime: ``record_event``, account changes and refused
logins, the supervisor's worker crashes, the fork server's life, the API's own event purge and
the queue depth of ``system.status``."""

from __future__ import annotations

import datetime as dt
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from quantdesk.api import app as app_module
from quantdesk.core.clock import utcnow
from quantdesk.core.errors import TooManyRequests, Unauthorized
from quantdesk.core.events import EventKind
from quantdesk.jobs import local
from quantdesk.jobs.forkserver import ForkServer
from quantdesk.jobs.local import ProcessSpec, Supervisor
from quantdesk.jobs.worker import worker_id
from quantdesk.services import auth as auth_module
from quantdesk.services.auth import AuthService, Principal
from quantdesk.services.backtests import RunRequest
from quantdesk.services.platform import Platform
from quantdesk.storage import events as event_store
from quantdesk.storage import jobs as job_store
from tests.fixtures.platform import ADMIN_LOGIN, TEST_SECRET

ADMIN = Principal(1, True, "admin")
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


class Recorder:
    """An ``EventRecorder`` that keeps what it is given (thread-safe)."""

    def __init__(self, fail: bool = False) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []
        self.fail = fail
        self._lock = threading.Lock()

    def __call__(self, kind: str, subject: str, data: dict[str, Any] | None = None, /) -> None:
        with self._lock:
            self.events.append((kind, subject, dict(data or {})))
        if self.fail:
            raise OSError("the database is down")

    def kinds(self) -> list[str]:
        with self._lock:
            return [kind for kind, _, _ in self.events]


def _wait(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_record_event_on_the_event_log_and_the_platform(platform: Platform) -> None:
    first = platform.events.record_event(EventKind.DATA_IMPORTED, "IBM", {"rows_accepted": 3})
    second = platform.record_event(EventKind.USER_CHANGED, "1", {"role": "admin"}, user_id=1)
    assert second > first
    page = platform.events.list(ADMIN, subject="IBM", kind="data.imported")
    (event,) = [e for e in page.events if e.id == first]
    assert (event.data, event.user_id) == ({"rows_accepted": 3}, None)
    mine = platform.events.list(Principal(1, False, "researcher"), kind="user.changed")
    assert [(e.id, e.subject, e.data) for e in mine.events] == [(second, "1", {"role": "admin"})]


def _user_changes(platform: Platform) -> list[dict[str, Any]]:
    page = platform.events.list(ADMIN, kind="user.changed", subject="1", limit=100)
    return [e.data for e in reversed(page.events)]


def test_password_changes_and_logout_all_are_user_changes_in_the_same_transaction(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = platform.auth
    login = auth.login(ADMIN_LOGIN["mobile"], ADMIN_LOGIN["password"], "10.0.0.1")
    fresh = auth.change_password(ADMIN, ADMIN_LOGIN["password"], "new-pass-1234", "10.0.0.1")
    assert auth.logout_all(ADMIN).tokens_revoked
    assert _user_changes(platform) == [
        {"password_changed": True, "tokens_revoked": True, "ip": "10.0.0.1"},
        {"logout_all": True, "tokens_revoked": True},
    ]
    with pytest.raises(Unauthorized):
        auth.authenticate(fresh.token)  # revoked by logout_all
    # the event is part of the change: when it cannot be written, nothing changes
    token = auth.login(ADMIN_LOGIN["mobile"], "new-pass-1234", "10.0.0.1").token

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("the events table is unavailable")

    monkeypatch.setattr(event_store, "append", broken)  # (the module auth.py writes with)
    with pytest.raises(RuntimeError):
        auth.logout_all(ADMIN)
    with pytest.raises(RuntimeError):
        auth.change_password(ADMIN, "new-pass-1234", "other-pass-1234", "10.0.0.1")
    monkeypatch.undo()
    assert auth.authenticate(token).user_id == 1  # neither revoked
    assert auth.login(ADMIN_LOGIN["mobile"], "new-pass-1234", "10.0.0.1").userid == 1
    assert len(_user_changes(platform)) == 2
    assert login.userid == 1


def test_a_rate_limited_login_is_recorded_at_most_once_a_while(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = platform.settings.model_copy(
        update={"login_account_limits": "2/minute", "login_ip_limits": "100/minute"}
    )
    auth = AuthService(platform.db, settings, TEST_SECRET)
    mobile = ADMIN_LOGIN["mobile"]
    for _ in range(2):
        with pytest.raises(Unauthorized):
            auth.login(mobile, "wrong-password", "10.0.0.2")
    for _ in range(3):
        with pytest.raises(TooManyRequests):
            auth.login(mobile, "wrong-password", "10.0.0.2")
    with pytest.raises(TooManyRequests):
        auth.login(mobile, ADMIN_LOGIN["password"], "10.0.0.3")  # another address: recorded
    monkeypatch.setattr(auth_module, "REFUSAL_EVENT_SECONDS", 0.0)
    with pytest.raises(TooManyRequests):
        auth.login(mobile, "wrong-password", "10.0.0.2")  # the throttle's time is up
    page = platform.events.list(ADMIN, kind="auth.login_failed", subject=mobile, limit=100)
    failed = [(e.data["reason"], e.data["ip"]) for e in reversed(page.events)]
    assert failed == [
        ("UNAUTHORIZED", "10.0.0.2"), ("UNAUTHORIZED", "10.0.0.2"),
        ("TOO_MANY_REQUESTS", "10.0.0.2"), ("TOO_MANY_REQUESTS", "10.0.0.3"),
        ("TOO_MANY_REQUESTS", "10.0.0.2"),
    ]  # fmt: skip
    limited = [e for e in page.events if e.data["reason"] == "TOO_MANY_REQUESTS"]
    assert all(e.user_id is None and e.data["retry_after"] > 0 for e in limited)


def _spec(name: str, code: str, slot: int | None) -> ProcessSpec:
    return ProcessSpec(name, [sys.executable, "-c", code], dict(os.environ), slot=slot)


def test_the_supervisor_records_a_dead_worker_but_not_a_stopped_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(local, "BACKOFF_START", 0.05)
    recorder = Recorder()
    dying = _spec("worker-3", "import sys; sys.exit(3)", slot=3)
    api = _spec("api", "import sys; sys.exit(4)", slot=None)
    steady = _spec("worker-4", "import time; time.sleep(60)", slot=4)
    supervisor = Supervisor([dying, api, steady], record_event=recorder)
    supervisor.start()
    try:
        _wait(lambda: len(recorder.events) >= 2 and api.restarts >= 2, 15, "two worker crashes")
    finally:
        supervisor.stop()
    kind, subject, data = recorder.events[0]
    assert kind == EventKind.WORKER_CRASHED
    assert subject == worker_id(3, data["pid"])  # the dead incarnation's worker id
    assert (data["slot"], data["returncode"], data["exit"]) == (3, 3, "status 3")
    assert data["ran_seconds"] >= 0 and data["restart_in_seconds"] > 0
    assert all(data["slot"] == 3 for _, _, data in recorder.events)  # not the API's exits
    assert steady.proc is not None and steady.proc.returncode == -signal.SIGTERM
    assert steady.exits == []  # stopped by the supervisor: not a crash


def test_a_failing_recorder_never_stops_the_supervision(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local, "BACKOFF_START", 0.05)
    recorder = Recorder(fail=True)
    dying = _spec("worker-5", "import sys; sys.exit(1)", slot=5)
    supervisor = Supervisor([dying], record_event=recorder)
    supervisor.start()
    try:
        _wait(lambda: dying.restarts >= 3, 15, "restarts despite the failing recorder")
    finally:
        supervisor.stop()
    assert len(recorder.events) >= 3


def test_the_fork_server_reports_its_starts_crashes_and_stop() -> None:
    recorder = Recorder()
    server = ForkServer("events-test", record_event=recorder, subject="host:boot:1:w7")
    try:
        server.start()
        first = server.pid
        assert first is not None and not server.check()
        os.kill(first, signal.SIGKILL)
        _wait(server.check, 10, "the crash to be seen")
        assert not server.check() and not server.alive()  # reported once
        server.start()
        assert server.pid not in (None, first)
    finally:
        server.close()
    assert [(k, s) for k, s, _ in recorder.events] == [
        (EventKind.FORKSERVER_STARTED, "host:boot:1:w7"),
        (EventKind.FORKSERVER_CRASHED, "host:boot:1:w7"),
        (EventKind.FORKSERVER_STARTED, "host:boot:1:w7"),
        (EventKind.FORKSERVER_STOPPED, "host:boot:1:w7"),
    ]
    started, crashed, restarted, stopped = (data for _, _, data in recorder.events)
    assert (started["pid"], started["starts"]) == (first, 1)
    assert crashed == {"pid": first, "exit": "signal SIGKILL", "returncode": -signal.SIGKILL}
    assert restarted["starts"] == 2 and stopped["pid"] == restarted["pid"]
    assert stopped["exit"] == "status 0"  # it exits when the worker closes its socket


def test_a_crash_found_by_the_next_start_and_a_failing_recorder() -> None:
    recorder = Recorder(fail=True)  # never breaks the fork server
    server = ForkServer("events-test-2", record_event=recorder)
    try:
        server.start()
        pid = server.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        _wait(lambda: server._proc is not None and server._proc.poll() is not None, 10, "death")
        server.start()  # the dead template is reported before the new one starts
        assert server.alive() and server.crashes == 1
    finally:
        server.close()
    assert recorder.kinds() == [
        EventKind.FORKSERVER_STARTED, EventKind.FORKSERVER_CRASHED,
        EventKind.FORKSERVER_STARTED, EventKind.FORKSERVER_STOPPED,
    ]  # fmt: skip
    assert recorder.events[0][1] == "events-test-2"  # no subject: its name


def _append_at(platform: Platform, subject: str, when: dt.datetime) -> int:
    with platform.db.write() as session:
        return event_store.append(session, EventKind.DATA_IMPORTED, subject, now=when).id


@sqlite_only
def test_the_api_purges_old_events_without_any_worker(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``WORKERS=0``: the API purges at start and then every ``EVENT_PURGE_SECONDS``."""
    from fastapi.testclient import TestClient

    from quantdesk.api import create_app

    keep = dt.timedelta(days=platform.settings.events_keep_days)
    before_start = _append_at(platform, "old-1", utcnow() - keep - dt.timedelta(hours=1))
    monkeypatch.setattr(app_module, "EVENT_PURGE_SECONDS", 0.1)

    def subjects() -> set[str]:
        return {e.subject for e in platform.events.list(ADMIN, limit=1000).events}

    with TestClient(create_app(platform.settings, platform)):
        _wait(lambda: "old-1" not in subjects(), 10, "the purge at start")
        _append_at(platform, "old-2", utcnow() - keep - dt.timedelta(minutes=1))
        _append_at(platform, "recent", utcnow() - keep + dt.timedelta(hours=1))
        _append_at(platform, "now", utcnow())
        _wait(lambda: "old-2" not in subjects(), 10, "the next purge")
        time.sleep(0.3)  # a few more purges
        assert {"recent", "now"} <= subjects()
    assert before_start > 0


@sqlite_only
def test_the_api_closes_the_database_only_after_its_background_checks_end(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: the notebook-expiry task was cancelled at shutdown while its check still ran
    in a thread, so the platform closed the database under it and its connection leaked
    (a ``ResourceWarning`` in a later test). Shutdown now waits for the check to end."""
    from fastapi.testclient import TestClient

    from quantdesk.api import create_app

    order: list[str] = []
    entered = threading.Event()

    def slow_expiry() -> None:
        order.append("check")
        entered.set()
        time.sleep(0.5)
        with platform.db.read() as session:  # still on the open database
            assert event_store.last_id(session) >= 0
        order.append("check done")

    close = platform.close

    def logged_close() -> None:
        order.append("close")
        close()

    monkeypatch.setattr(app_module, "EXPIRY_CHECK_SECONDS", 0.01)
    monkeypatch.setattr(platform.research, "expire_due", slow_expiry)
    monkeypatch.setattr(platform, "close", logged_close)
    with TestClient(create_app(platform.settings, platform)):
        assert entered.wait(10), "the expiry check never ran"
    assert order[:3] == ["check", "check done", "close"]


@sqlite_only
def test_system_status_has_the_queue_depth_and_the_running(admin_client: Any) -> None:
    hub = admin_client.app.state.hub
    platform: Platform = admin_client.app.state.platform
    status = hub.system_status()
    assert (status["queue_depth"], status["running"]) == (0, 0)
    code = "def handle_bar(context, bar_dict):\n    pass\n"
    assert admin_client.post("/api/backtest/strategies/q", json={"code": code}).is_success
    for end in ("2010-03-29", "2010-03-30", "2010-03-31"):  # three jobs (not deduplicated)
        run = {"strategy_id": "q", "start_date": "2010-02-01", "end_date": end,
               "universe": ["IBM"]}  # fmt: skip
        platform.backtests.submit(ADMIN, RunRequest.model_validate(run))
    assert job_store.claim(platform.db, "w", 30) is not None
    status = hub.system_status()
    assert (status["queue_depth"], status["running"]) == (2, 1)
    assert status["jobs"] == {"QUEUED": 2, "RUNNING": 1}
