"""``/api/ws`` in process (TestClient): every way in and every refusal, frame by frame."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.websockets import WebSocketDisconnect

from quantdesk.services.events.frames import SERVER_FRAME
from quantdesk.services.platform import Platform
from tests.fixtures.platform import drain

QUICK = "def handle_bar(context, bar_dict):\n    print('bar')\n"
RUN = {"strategy_id": "w", "start_date": "2010-02-01", "end_date": "2010-03-31",
       "universe": ["IBM"]}  # fmt: skip
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _until(ws: Any, event: str, channel: str | None = None) -> dict[str, Any]:
    """The next frame of ``event`` (on ``channel``); every frame on the way has its schema."""
    while True:
        frame: dict[str, Any] = ws.receive_json()
        SERVER_FRAME.validate_python(frame)
        if frame.get("event") == event and (channel is None or frame.get("channel") == channel):
            return frame


@sqlite_only
def test_subscribe_refusals_ping_and_unsubscribe(admin_client: Any, platform: Platform) -> None:
    c = admin_client
    token = c.headers["Authorization"]
    c.post("/api/backtest/strategies/w", json={"code": QUICK})
    job_id = c.post("/api/backtest/run", json=RUN).json()["job_id"]
    del c.headers["Authorization"]  # the token as the first message
    with c.websocket_connect("/api/ws") as ws:
        ws.send_json({"action": "auth", "token": token})
        assert ws.receive_json()["event"] == "connected"
        c.headers["Authorization"] = token
        ws.send_json({"action": "auth", "token": token})  # again: ignored
        ws.send_text("not json")
        assert ws.receive_json()["error"]["code"] == "INVALID_ARGUMENT"
        ws.send_json({"action": "dance"})
        assert ws.receive_json()["error"]["code"] == "INVALID_ARGUMENT"
        ws.send_json({"action": "subscribe", "channel": "jobs", "after": -1})
        assert ws.receive_json()["error"]["code"] == "INVALID_ARGUMENT"
        ws.send_json({"action": "subscribe", "channel": "nope"})
        assert ws.receive_json()["error"]["code"] == "INVALID_ARGUMENT"
        ws.send_json({"action": "subscribe", "channel": "job." + "0" * 32})
        got = ws.receive_json()
        assert got["error"]["code"] == "NOT_FOUND", got
        ws.send_json({"action": "ping"})
        assert ws.receive_json()["event"] == "pong"
        ws.send_json({"action": "subscribe", "channel": "logs"})  # an admin may
        assert ws.receive_json()["event"] == "subscribed"
        ws.send_json({"action": "subscribe", "channel": "events", "after": 0})
        assert _until(ws, "subscribed", "events")["seq"] >= 0
        first = _until(ws, "event", "events")  # replayed from the table
        assert first["data"]["kind"] in ("auth.login", "strategy.saved", "job.submitted")
        ws.send_json({"action": "subscribe", "channel": "backtest", "task_id": job_id})
        assert _until(ws, "subscribed", f"job.{job_id}")["epoch"]
        drain(platform)
        final = _until(ws, "status", f"job.{job_id}")
        while final["data"]["status"] != "FINISHED":
            final = _until(ws, "status", f"job.{job_id}")
        ws.send_json({"action": "unsubscribe", "channel": f"job.{job_id}"})
        assert _until(ws, "unsubscribed")["channel"] == f"job.{job_id}"
    status = c.get(f"/api/backtest/jobs/{job_id}").json()
    assert status["status"] == "FINISHED"
    listed = c.get("/api/events", params={"subject": job_id, "kind": "job."}).json()["data"]
    assert [e["kind"] for e in reversed(listed["events"])][:2] == ["job.submitted", "job.claimed"]
    assert c.get("/api/events", params={"since": "yesterday"}).status_code == 400


@sqlite_only
def test_credentials_on_the_handshake_and_refusals(admin_client: Any) -> None:
    c = admin_client
    token = c.headers["Authorization"]
    with c.websocket_connect("/api/ws", headers={"Authorization": f"Bearer {token}"}) as ws:
        assert ws.receive_json()["event"] == "connected"
    key = c.post("/api/keys", json={"name": "ws"}).json()["data"]
    headers = {"X-API-Key": key["key"], "X-API-Secret": key["secret"]}
    with c.websocket_connect("/api/ws", headers=headers) as ws:
        assert ws.receive_json()["event"] == "connected"
    del c.headers["Authorization"]
    for how in ({"subprotocols": ["quantdesk", "bad-token"]}, {}):
        with c.websocket_connect("/api/ws", **how) as ws:
            if not how:
                ws.send_json({"action": "subscribe", "channel": "jobs"})
            assert ws.receive_json()["error"]["code"] == "UNAUTHORIZED"
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code == 1008
    c.headers["Authorization"] = token
    made = c.post("/api/admin/users", json={"mobile": "13900000001", "password": "pw-123456789"})
    assert made.status_code == 200
    other = c.post("/api/login", data={"mobile": "13900000001", "password": "pw-123456789"})
    protocols = ["quantdesk", other.json()["token"]]
    with c.websocket_connect("/api/ws", subprotocols=protocols) as ws:
        assert ws.receive_json()["event"] == "connected"
        ws.send_json({"action": "subscribe", "channel": "system.processes"})
        assert ws.receive_json()["error"]["code"] == "FORBIDDEN"
    processes = c.get("/api/processes").json()["data"]
    assert processes["total"] >= 1 and processes["processes"][0]["role"] == "api"


@sqlite_only
def test_the_token_after_a_marker_subprotocol(admin_client: Any) -> None:
    """``["bearer", token]``, ``["access_token", token]``...: the marker is answered, the token
    authenticates; with two candidates the one that authenticates wins."""
    c = admin_client
    token = c.headers.pop("Authorization")
    for protocols, answered in (
        (["bearer", token], "bearer"),
        (["access_token", token], "access_token"),
        (["Token", token], "Token"),
        ([token, "quantdesk"], "quantdesk"),
        (["quantdesk", "not-a-token", token], "quantdesk"),
        ([token], None),
    ):
        with c.websocket_connect("/api/ws", subprotocols=protocols) as ws:
            assert ws.accepted_subprotocol == answered, protocols
            assert ws.receive_json()["event"] == "connected", protocols
    for protocols in (["bearer", "not-a-token"], ["bearer", "bad-1", "bad-2"]):
        with c.websocket_connect("/api/ws", subprotocols=protocols) as ws:
            assert ws.accepted_subprotocol == "bearer"
            assert ws.receive_json()["error"]["code"] == "UNAUTHORIZED"
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code == 1008
