"""``quantdesk serve --daemon``, ``status``, ``restart`` and ``stop`` as an operator runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from tests.fixtures.platform import TEST_SECRET
from tests.fixtures.server import free_port

pytestmark = pytest.mark.slow


def test_a_background_server_is_found_stopped_and_restarted(
    tmp_path: Path, demo_data_dir: Path
) -> None:
    port = free_port()
    env = {**os.environ, "DATA_DIR": str(demo_data_dir), "SECRET_KEY": TEST_SECRET,
           "BACKTEST_BASE_DIR": str(tmp_path / "var" / "backtest"),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'q.db'}"}  # fmt: skip

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "quantdesk.cli.main", *args, "--port", str(port)],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    assert cli("status").returncode == 3  # LSB: not running
    started = cli("serve", "--daemon", "--workers", "1")
    assert started.returncode == 0, started.stderr
    pid_file = tmp_path / "var" / "run" / f"quantdesk-{port}.pid"
    first = json.loads(pid_file.read_text())["pid"]
    assert httpx.get(f"http://127.0.0.1:{port}/api/health").status_code == 200
    again = cli("serve", "--daemon")
    assert again.returncode == 2 and "already running" in again.stderr
    status = cli("status", "--json")
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["running"] and report["pid"] == first
    roles = {p["role"] for p in report["processes"]}
    assert {"supervisor", "api", "worker", "forkserver"} <= roles
    assert report["sandbox"]["level"] in ("strong", "standard", "weak", "off")
    restarted = cli("restart", "--workers", "1")
    assert restarted.returncode == 0, restarted.stderr
    second = json.loads(pid_file.read_text())["pid"]
    assert second != first and not psutil.pid_exists(first)
    stopped = cli("stop")
    assert stopped.returncode == 0 and f"pid {second}" in stopped.stderr
    assert not pid_file.exists() and not psutil.pid_exists(second)
    assert "is not running" in cli("stop").stderr
    assert (tmp_path / "logs" / "server.log").stat().st_size > 0
