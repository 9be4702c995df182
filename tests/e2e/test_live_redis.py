"""Live updates across processes through Redis: two ``quantdesk serve`` on one database, the
job running on one's worker and watched through the other's WebSocket; Redis stopped and
restarted under them (a private ``redis-server`` on a free port)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.fixtures.server import Server, free_port, start_server

pytestmark = [pytest.mark.redis, pytest.mark.slow]
ADMIN = {"mobile": "13800138000", "password": "pass123456"}
CHATTY = (
    "import time\n\ndef handle_bar(context, bar_dict):\n"
    "    print('bar', context.now.date())\n    time.sleep(0.004)\n"
)


class Redis:
    """A private redis-server (no persistence) that a test can stop and start again."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True,
                             check=False).stdout.strip() != b"PONG":  # fmt: skip
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def redis_server() -> Iterator[Redis]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = Redis(free_port())
    server.start()
    yield server
    server.stop()


def _recv(ws: ClientConnection, timeout: float = 30) -> dict[str, Any]:
    frame = json.loads(ws.recv(timeout=timeout))
    assert isinstance(frame, dict)
    return frame


def _watch(base: str, token: str, job_id: str) -> list[dict[str, Any]]:
    """Every frame of ``job.<job_id>`` (from the start) until its final status."""
    url = base.replace("http://", "ws://") + "/api/ws"
    protocols: Any = ["quantdesk", token]
    frames: list[dict[str, Any]] = []
    with connect(url, subprotocols=protocols, open_timeout=10) as ws:
        ws.send(json.dumps({"action": "subscribe", "channel": f"job.{job_id}", "after": 0}))
        while True:
            frame = _recv(ws)
            if frame.get("channel") != f"job.{job_id}":
                continue
            frames.append(frame)
            if frame["event"] == "status" and frame["data"]["status"] in ("FINISHED", "FAILED"):
                return frames


def _submit(http: httpx.Client) -> str:
    strategy = "r" + uuid.uuid4().hex[:10]
    assert http.post(f"/api/backtest/strategies/{strategy}", json={"code": CHATTY}).is_success
    body = {"strategy_id": strategy, "start_date": "2010-01-04", "end_date": "2010-12-31",
            "universe": ["IBM"]}  # fmt: skip
    res = http.post("/api/backtest/run", json=body)
    assert res.status_code == 200, res.text
    return str(res.json()["job_id"])


def test_two_api_processes_share_one_stream_and_survive_redis_going_away(
    tmp_path: Path, demo_data_dir: Path, redis_server: Redis
) -> None:
    database, base = f"sqlite:///{tmp_path / 'shared.db'}", str(tmp_path / "backtest")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    runner: Server = start_server(
        tmp_path / "a", demo_data_dir, workers=1,
        DATABASE_URL=database, BACKTEST_BASE_DIR=base, REDIS_URL=redis_server.url,
    )  # fmt: skip
    watcher: Server | None = None
    try:
        watcher = start_server(
            tmp_path / "b", demo_data_dir, workers=0,
            DATABASE_URL=database, BACKTEST_BASE_DIR=base, REDIS_URL=redis_server.url,
        )  # fmt: skip
        with httpx.Client(base_url=watcher.base, timeout=30) as http:
            token = http.post("/api/login", data=ADMIN).json()["token"]
            http.headers["Authorization"] = token
            # the job runs on the first server's worker; its progress reaches the second's hub
            frames = _watch(watcher.base, token, _submit(http))
            events = [f["event"] for f in frames]
            assert "progress" in events and "log" in events, events
            assert frames[-1]["data"]["status"] == "FINISHED"

            redis_server.stop()
            assert http.get("/api/health").status_code == 200
            job_id = _submit(http)
            frames = _watch(watcher.base, token, job_id)  # status still comes, from the table
            assert frames[-1]["data"]["status"] == "FINISHED"
            assert http.get(f"/api/backtest/jobs/{job_id}").json()["status"] == "FINISHED"

            redis_server.start()  # the hub and the worker reconnect on their own
            deadline = time.monotonic() + 60
            while True:
                frames = _watch(watcher.base, token, _submit(http))
                if any(f["event"] == "progress" for f in frames):
                    break
                assert time.monotonic() < deadline, "the stream did not recover after Redis"
    finally:
        if watcher is not None:
            assert watcher.stop() == 0, watcher.log()
        assert runner.stop() == 0, runner.log()
