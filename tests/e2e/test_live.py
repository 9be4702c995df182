"""Live updates over a real server: ``/api/ws`` channels, resume, ownership, the event log.

One ``quantdesk serve`` (API process + one worker) for the module; every test uses its own
strategy ids, so the tests do not depend on each other's order.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.fixtures.server import start_server

ADMIN = {"mobile": "13800138000", "password": "pass123456"}
#: Prints a line per bar and sleeps a little, so a job lasts about a second and streams.
CHATTY = (
    "import time\n\ndef handle_bar(context, bar_dict):\n"
    "    print('bar', context.now.date())\n    time.sleep(0.004)\n"
)
WINDOW = {"start_date": "2010-01-04", "end_date": "2010-12-31", "universe": ["IBM"]}


@dataclass
class Live:
    """The running server: its HTTP client (logged in as the admin) and its token."""

    base: str
    http: httpx.Client
    token: str
    root: Path

    @contextlib.contextmanager
    def ws(self, token: str | None = None) -> Iterator[ClientConnection]:
        url = self.base.replace("http://", "ws://") + "/api/ws"
        protocols: Any = ["quantdesk", token or self.token]
        with connect(url, subprotocols=protocols, open_timeout=10) as ws:
            assert recv(ws)["event"] == "connected"
            yield ws

    def submit(self, code: str = CHATTY) -> str:
        strategy = "s" + uuid.uuid4().hex[:10]
        res = self.http.post(f"/api/backtest/strategies/{strategy}", json={"code": code})
        assert res.status_code == 200, res.text
        res = self.http.post("/api/backtest/run", json={"strategy_id": strategy, **WINDOW})
        assert res.status_code == 200, res.text
        return str(res.json()["job_id"])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, demo_data_dir: Path) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("live")
    srv = start_server(tmp, demo_data_dir, workers=1)
    try:
        with httpx.Client(base_url=srv.base, timeout=30) as http:
            token = http.post("/api/login", data=ADMIN).json()["token"]
            http.headers["Authorization"] = token
            yield Live(srv.base, http, token, tmp)
    finally:
        assert srv.stop() == 0, srv.log()


def recv(ws: ClientConnection, timeout: float = 30) -> dict[str, Any]:
    frame = json.loads(ws.recv(timeout=timeout))
    assert isinstance(frame, dict)
    return frame


def subscribe(ws: ClientConnection, channel: str, **extra: Any) -> dict[str, Any]:
    ws.send(json.dumps({"action": "subscribe", "channel": channel, **extra}))
    while True:  # frames of other channels may come first
        frame = recv(ws)
        if frame.get("event") in ("subscribed", "error") and frame.get("channel") == channel:
            return frame


def until_final(ws: ClientConnection, channel: str, seen: list[dict[str, Any]]) -> None:
    """Collect ``channel``'s frames into ``seen`` until the job's final status."""
    while True:
        frame = recv(ws)
        if frame.get("channel") != channel or frame.get("event") == "heartbeat":
            continue
        seen.append(frame)
        if frame["event"] == "status" and frame["data"]["status"] in ("FINISHED", "FAILED"):
            return


def check_job_stream(frames: list[dict[str, Any]]) -> None:
    """Contiguous sequence numbers, ordered progress, the log lines and a FINISHED end."""
    seqs = [f["seq"] for f in frames]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs
    progress = [f["data"] for f in frames if f["event"] == "progress"]
    assert progress, [f["event"] for f in frames]
    bars = [p["current_bar"] for p in progress]
    assert bars == sorted(bars)
    assert progress[-1]["current_bar"] == progress[-1]["total_bars"] == 252
    assert all(0 <= p["pct"] <= 100 and p["task_id"] == frames[0]["channel"][4:] for p in progress)
    lines = [line for f in frames if f["event"] == "log" for line in f["data"]["lines"]]
    printed = [line for line in lines if " bar 2010-" in line]
    assert len(printed) == 252, lines[:5]
    assert frames[-1]["data"]["status"] == "FINISHED"
    points = [p for f in frames if f["event"] == "equity" for p in f["data"]["points"]]
    assert len(points) == 252 and points[0][0] == "2010-01-04" and points[-1][0] == "2010-12-31"
    assert [p[0] for p in points] == sorted(p[0] for p in points)
    assert all(p[1] == 1.0 for p in points)  # the strategy never trades: NAV stays 1


def test_a_subscriber_gets_ordered_progress_log_lines_and_the_final_status(live: Live) -> None:
    job_id = live.submit()
    with live.ws() as ws:
        answer = subscribe(ws, f"job.{job_id}", after=0)
        assert answer["event"] == "subscribed"
        frames: list[dict[str, Any]] = []
        until_final(ws, f"job.{job_id}", frames)
    check_job_stream(frames)
    kinds = [f["data"]["kind"] for f in frames if f["event"] == "status"]
    assert kinds[0] in ("job.submitted", "job.claimed") and kinds[-1] == "job.finished"
    status = live.http.get(f"/api/backtest/jobs/{job_id}").json()
    assert status["status"] == "FINISHED" and status["current_bar"] == 252


def test_a_client_that_reconnects_mid_job_misses_nothing(live: Live) -> None:
    job_id = live.submit()
    channel = f"job.{job_id}"
    frames: list[dict[str, Any]] = []
    with live.ws() as ws:
        epoch = subscribe(ws, channel, after=0)["epoch"]
        while not any(f["event"] == "progress" for f in frames):
            frame = recv(ws)
            if frame.get("channel") == channel:
                frames.append(frame)
    seen = frames[-1]["data"].get("current_bar", 0) if frames[-1]["event"] == "progress" else 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the job goes on while nobody listens
        status = live.http.get(f"/api/backtest/jobs/{job_id}").json()
        if status["status"] != "RUNNING" or status["current_bar"] > seen:
            break
        time.sleep(0.05)
    with live.ws() as ws:
        answer = subscribe(ws, channel, after=frames[-1]["seq"], epoch=epoch)
        assert answer["event"] == "subscribed"
        until_final(ws, channel, frames)
    check_job_stream(frames)


def test_the_seed_003_subscribe_form_and_ping(live: Live) -> None:
    job_id = live.submit()
    with live.ws() as ws:
        ws.send(json.dumps({"action": "ping"}))
        assert recv(ws)["event"] == "pong"
        ws.send(json.dumps({"action": "subscribe", "channel": "backtest", "task_id": job_id}))
        answer = recv(ws)
        assert (answer["event"], answer["channel"]) == ("subscribed", f"job.{job_id}")
        while True:
            frame = recv(ws)
            if frame.get("event") == "progress":
                assert set(frame["data"]) >= {"task_id", "progress", "current_bar", "total_bars"}
                break


def test_channels_check_who_asks(live: Live) -> None:
    job_id = live.submit()
    mobile = "139" + str(uuid.uuid4().int)[:8]
    account = {"mobile": mobile, "password": "other-pass-123"}
    made = live.http.post("/api/admin/users", json=account)
    assert made.status_code == 200, made.text
    other = httpx.post(live.base + "/api/login", data=account)
    mine = httpx.get(live.base + "/api/processes", headers={"Authorization": other.json()["token"]})
    assert mine.status_code == 403  # processes (and their jobs) are the admins'
    with live.ws(other.json()["token"]) as ws:
        refused = subscribe(ws, f"job.{job_id}")
        assert refused["event"] == "error" and refused["error"]["code"] == "NOT_FOUND"
        admin_only = subscribe(ws, "logs")
        assert admin_only["error"]["code"] == "FORBIDDEN"
        unknown = subscribe(ws, "nonsense")
        assert unknown["error"]["code"] == "INVALID_ARGUMENT"
    url = live.base.replace("http://", "ws://") + "/api/ws"
    for protocols in (["quantdesk", "not-a-token"], None):
        with connect(url, subprotocols=protocols, open_timeout=10) as ws:  # type: ignore[arg-type]
            if protocols is None:
                ws.send(json.dumps({"action": "subscribe", "channel": "jobs"}))
            frame = recv(ws)
            assert frame["event"] == "error" and frame["error"]["code"] == "UNAUTHORIZED"
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    # the token as a first message works too
    with connect(url, open_timeout=10) as ws:
        ws.send(json.dumps({"action": "auth", "token": live.token}))
        assert recv(ws)["event"] == "connected"


def test_system_status_ticks(live: Live) -> None:
    with live.ws() as ws:
        assert subscribe(ws, "system.status")["event"] == "subscribed"
        while True:
            frame = recv(ws, timeout=10)
            if frame.get("channel") == "system.status":
                break
    data = frame["data"]
    assert 0 <= data["cpu_percent"] <= 100 * data["cpu_count"]
    assert 0 < data["memory_percent"] < 100 and data["uptime_seconds"] > 0
    assert isinstance(data["jobs"], dict) and len(data["load"]) == 3
    assert data["queue_depth"] == data["jobs"].get("QUEUED", 0) >= 0
    assert data["running"] == data["jobs"].get("RUNNING", 0) >= 0


def test_events_over_http_match_what_was_pushed(live: Live) -> None:
    with live.ws() as ws:
        start = subscribe(ws, "events")["seq"]
        job_id = live.submit()
        pushed: list[dict[str, Any]] = []
        while not any(f["data"]["kind"] == "job.finished" and f["data"]["subject"] == job_id
                      for f in pushed):  # fmt: skip
            frame = recv(ws)
            if frame.get("channel") == "events":
                pushed.append(frame)
    listed = live.http.get("/api/events", params={"after": start, "limit": 1000}).json()["data"]
    by_id = {e["id"]: e for e in listed["events"]}
    assert [f["seq"] for f in pushed] == sorted(by_id)[: len(pushed)]
    for frame in pushed:
        assert frame["seq"] == frame["data"]["id"]
        assert by_id[frame["seq"]]["kind"] == frame["data"]["kind"]
        assert by_id[frame["seq"]]["subject"] == frame["data"]["subject"]
    mine = [f["data"] for f in pushed if f["data"]["subject"] == job_id]
    kinds = [e["kind"] for e in mine if e["kind"] != "job.progress"]
    assert kinds == ["job.submitted", "job.claimed", "job.finished"]
    milestones = [e["data"]["milestone"] for e in mine if e["kind"] == "job.progress"]
    assert milestones == sorted(set(milestones)) and set(milestones) <= {25, 50, 75}
    assert any(f["data"]["kind"] == "strategy.saved" for f in pushed)


def test_processes_over_http_and_their_channel(live: Live) -> None:
    job_id = live.submit()
    deadline = time.monotonic() + 30
    while True:
        listed = live.http.get("/api/processes").json()["data"]["processes"]
        roles = {p["role"] for p in listed}
        running = [p for p in listed if p["job_id"] == job_id]
        if running or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert {"supervisor", "api", "worker", "forkserver"} <= roles, listed
    (worker,) = running
    assert worker["role"] == "worker" and worker["name"] == "worker-0"
    assert worker["last_heartbeat"] is not None and worker["memory_mb"] > 10
    with live.ws() as ws:
        assert subscribe(ws, "system.processes")["event"] == "subscribed"
        while (frame := recv(ws, timeout=10)).get("channel") != "system.processes":
            pass
    assert {p["role"] for p in frame["data"]["processes"]} >= {"api", "worker"}


def test_the_logs_channel_and_the_server_log_files(live: Live) -> None:
    with live.ws() as ws:
        assert subscribe(ws, "logs")["event"] == "subscribed"
        live.http.get("/api/health")  # an access log line (INFO)
        while (frame := recv(ws, timeout=10)).get("channel") != "logs":
            pass
    assert frame["data"]["level"] in ("INFO", "WARNING", "ERROR")
    assert {"logger", "message", "pid"} <= set(frame["data"])
    text = (live.root / "logs" / "server.log").read_text()
    assert " INFO " in text and "/api/health" in text
    assert (live.root / "logs" / "server.err.log").is_file()
    listed = live.http.get("/api/processes", headers={"Authorization": "bad"})
    assert listed.status_code == 401


def test_the_http_status_of_a_running_job_shows_live_progress(live: Live) -> None:
    """``GET /jobs/{id}`` is ahead of the database (written at most once a second and on each
    lease heartbeat): the API's hub has the progress of a moment ago."""
    slow = "import time\n\ndef handle_bar(context, bar_dict):\n    time.sleep(0.012)\n"
    job_id = live.submit(slow)
    database = sqlite3.connect(f"file:{live.root / 'quantdesk.db'}?mode=ro", uri=True)
    ahead: list[tuple[int, int]] = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            shown = live.http.get(f"/api/backtest/jobs/{job_id}").json()
            if shown["status"] in ("FINISHED", "FAILED", "CANCELLED"):
                break
            if shown["status"] == "RUNNING" and shown["current_bar"] > 0:
                (stored,) = database.execute(
                    "SELECT current_bar FROM jobs WHERE id = ?", (job_id,)
                ).fetchone()  # read after the API answered: it can only have moved on since
                assert shown["current_bar"] <= shown["total_bars"] == 252
                if shown["current_bar"] > stored:
                    ahead.append((shown["current_bar"], stored))
            time.sleep(0.02)
    finally:
        database.close()
    assert shown["status"] == "FINISHED", shown
    assert ahead, "the HTTP status never showed progress newer than the database's"


def _events(live: Live, kind: str) -> list[dict[str, Any]]:
    listed = live.http.get("/api/events", params={"kind": kind, "limit": 1000})
    assert listed.status_code == 200, listed.text
    return list(listed.json()["data"]["events"])


def _eventually(what: str, timeout: float, find: Any) -> Any:
    deadline = time.monotonic() + timeout
    while (found := find()) is None:
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return found


def _processes(live: Live, role: str) -> list[dict[str, Any]]:
    listed = live.http.get("/api/processes").json()["data"]["processes"]
    return [p for p in listed if p["role"] == role]


def test_a_dead_fork_server_is_recorded_and_replaced(live: Live) -> None:
    (worker,) = _processes(live, "worker")
    (template,) = [p for p in _processes(live, "forkserver") if p["ppid"] == worker["pid"]]
    os.kill(template["pid"], signal.SIGKILL)
    crashed = _eventually("forkserver.crashed", 30, lambda: next(
        (e for e in _events(live, "forkserver.crashed") if e["data"]["pid"] == template["pid"]),
        None,
    ))  # fmt: skip
    assert crashed["subject"].split(":")[2] == str(worker["pid"])  # the worker's id
    assert crashed["data"]["exit"] == "signal SIGKILL" and crashed["user_id"] is None
    job_id = live.submit("def handle_bar(context, bar_dict):\n    pass\n")
    status = _eventually("the job on a new template", 60, lambda: (
        s if (s := live.http.get(f"/api/backtest/jobs/{job_id}").json())["status"]
        in ("FINISHED", "FAILED") else None
    ))  # fmt: skip
    assert status["status"] == "FINISHED", status
    restarted = [e for e in _events(live, "forkserver.started")
                 if e["subject"] == crashed["subject"] and e["id"] > crashed["id"]]  # fmt: skip
    assert len(restarted) == 1 and restarted[0]["data"]["pid"] != template["pid"]


def test_a_dead_worker_is_recorded_and_restarted(live: Live) -> None:
    """Last in the module: the server's one worker is killed (the supervisor restarts it)."""
    (worker,) = _processes(live, "worker")
    os.kill(worker["pid"], signal.SIGKILL)
    crashed = _eventually("worker.crashed", 30, lambda: next(
        (e for e in _events(live, "worker.crashed") if e["data"]["pid"] == worker["pid"]), None
    ))  # fmt: skip
    assert f":{worker['pid']}:w0@" in crashed["subject"]  # host:boot:pid:wN@start
    assert crashed["data"]["exit"] == "signal SIGKILL" and crashed["data"]["slot"] == 0
    started = _eventually("the next worker", 60, lambda: next(
        (e for e in _events(live, "worker.started") if e["id"] > crashed["id"]), None
    ))  # fmt: skip
    assert ":w0@" in started["subject"] and started["data"]["pid"] != worker["pid"]
