"""The real platform end to end: ``quantdesk serve`` (uvicorn + worker processes) over HTTP,
and a worker killed with SIGKILL in the middle of a job."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from quantdesk.backtest import run_backtest
from quantdesk.core.jobs import JobStatus
from quantdesk.data import Catalog
from quantdesk.jobs.local import settings_env
from quantdesk.jobs.sandbox import Launcher, Sandbox
from quantdesk.services.auth import Principal
from quantdesk.services.backtests import RunRequest
from quantdesk.services.platform import bootstrap
from quantdesk.storage import job_queries
from quantdesk.storage import jobs as job_store
from tests.fixtures.platform import make_settings
from tests.fixtures.server import start_server

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return [int(p) for p in out.stdout.split()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return (
        Path(f"/proc/{pid}").exists()
        and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    )


@pytest.fixture
def server(tmp_path: Path, demo_data_dir: Path) -> Iterator[str]:
    srv = start_server(tmp_path, demo_data_dir)
    try:
        workers = children(srv.proc.pid)
        assert len(workers) == 3, srv.log()  # the API process and two workers
        yield srv.base
    finally:
        assert srv.stop() == 0
    deadline = time.monotonic() + 5
    while [w for w in workers if alive(w)]:
        assert time.monotonic() < deadline, "worker processes outlived the server"
        time.sleep(0.02)
    assert "log in with mobile=13800138000 password=pass123456" in srv.log()


def test_login_save_run_poll_and_read_the_result(server: str, demo_catalog: Catalog) -> None:
    with httpx.Client(base_url=server, timeout=30) as http:
        res = http.post("/api/login", data={"mobile": "13800138000", "password": "pass123456"})
        headers = {"Authorization": res.json()["token"]}
        code = (EXAMPLES / "sma_crossover.py").read_text()
        assert (
            http.post(
                "/api/backtest/strategies/sma", headers=headers, json={"code": code}
            ).status_code
            == 200
        )
        request = {
            "strategy_id": "sma", "start_date": "2005-01-03", "end_date": "2012-12-31",
            "universe": ["AAPL"], "benchmark": "SPX", "params": {"fast": 10, "slow": 30},
        }  # fmt: skip
        job_id = http.post("/api/backtest/run", headers=headers, json=request).json()["job_id"]
        deadline = time.monotonic() + 90
        seen = set()
        while True:
            status = http.get(f"/api/backtest/jobs/{job_id}", headers=headers).json()
            seen.add(status["status"])
            if status["status"] in ("FINISHED", "FAILED") or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert status["status"] == "FINISHED", status
        result = http.get(f"/api/backtest/jobs/{job_id}/result", headers=headers).json()
    local = run_backtest(
        EXAMPLES / "sma_crossover.py", start="2005-01-03", end="2012-12-31", universe=["AAPL"],
        benchmark="SPX", params={"fast": 10, "slow": 30}, catalog=demo_catalog,
        strategy_name="sma",
    ).to_dict()  # fmt: skip
    assert result["summary"] == local["summary"]  # the CLI's figures, to the last bit
    assert result["summary"]["total_value"] == pytest.approx(821_316.8956, rel=1e-9)
    assert result["equity"] == local["equity"]
    assert result["trades"] == local["trades"]


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_a_worker_killed_mid_job_is_replaced_and_the_job_finishes_once(
    tmp_path: Path, database_url: str, demo_data_dir: Path
) -> None:
    settings = make_settings(tmp_path, database_url, demo_data_dir, job_lease_seconds=1.5)
    platform = bootstrap(settings)
    admin = Principal(settings.local_auth_user_id, True, "admin")
    slow = "import time\n\ndef handle_bar(context, bar_dict):\n    time.sleep(0.01)\n"
    platform.strategies.save(admin, "slow", slow)
    job_id = platform.backtests.submit(
        admin,
        RunRequest.model_validate(
            {
                "strategy_id": "slow",
                "start_date": "2010-01-04",
                "end_date": "2010-12-31",
                "universe": ["IBM"],
            }
        ),
    )

    def job() -> Any:
        with platform.db.read() as session:
            return job_store.get(session, job_id)

    env = settings_env(settings)
    cmd = [sys.executable, "-m", "quantdesk.jobs.worker", "--id"]
    first = subprocess.Popen([*cmd, "doomed"], env=env)
    _wait(lambda: job().status == JobStatus.RUNNING and job().current_bar > 10, 30, "progress")
    first.send_signal(signal.SIGKILL)
    first.wait()
    second = subprocess.Popen([*cmd, "survivor"], env=env)
    try:
        _wait(lambda: JobStatus(job().status).is_final, 60, "the job to finish")
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    row = job()
    assert (row.status, row.attempts, row.error_code) == (JobStatus.FINISHED, 2, None)
    folder = settings.backtest_base_dir / row.run_dir
    log = (folder / "run.log").read_text()
    assert "attempt 1 on doomed" in log and "attempt 2 on survivor" in log
    assert log.count("finished on native") == 1  # the killed attempt never completed
    result = json.loads((folder / "extracted.json").read_text())
    assert len(result["equity"]["dates"]) == 252
    group = Sandbox(settings, Launcher()).cgroup(f"s0-{job_id}-1")
    assert group is None or group.pids() == [], "the killed worker's backtest kept running"
    with platform.db.read() as session:
        assert job_queries.count_by_status(session) == {"FINISHED": 1}
    platform.close()
