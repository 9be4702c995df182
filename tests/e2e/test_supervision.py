"""``quantdesk serve`` supervises its API process and workers: a dead one is restarted (with
back-off, logged), and a job whose worker died is taken back at once by the worker's next
incarnation instead of after its lease."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from quantdesk.core.settings import Settings
from quantdesk.jobs.sandbox.cgroups import Hierarchy
from tests.fixtures.server import Server, start_server

ADMIN = {"mobile": "13800138000", "password": "pass123456"}
#: ~8 s of bars for a year; ``init`` leaves a process in its own session behind.
SLOW = (
    "import subprocess, time\n\n"
    "def init(context):\n    subprocess.Popen(['sleep', '43434'], start_new_session=True)\n\n"
    "def handle_bar(context, bar_dict):\n    time.sleep(0.03)\n"
)
QUICK = "def handle_bar(context, bar_dict):\n    pass\n"
SANDBOX_UIDS = Settings(_env_file=None).sandbox_uids


def _children(pid: int) -> dict[int, str]:
    out = subprocess.run(["pgrep", "-a", "-P", str(pid)], capture_output=True, text=True,
                         check=False).stdout  # fmt: skip
    found = {}
    for line in out.splitlines():
        child, _, args = line.partition(" ")
        found[int(child)] = args
    return found


def _role(server: Server, needle: str) -> list[int]:
    return sorted(pid for pid, args in _children(server.proc.pid).items() if needle in args)


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def server(tmp_path: Path, demo_data_dir: Path) -> Iterator[Server]:
    srv = start_server(tmp_path, demo_data_dir)
    yield srv
    assert srv.stop() == 0
    _wait(lambda: not _children(srv.proc.pid), 5, "the server's children to exit")


def _login(http: httpx.Client) -> dict[str, str]:
    res = http.post("/api/login", data=ADMIN)
    assert res.status_code == 200, res.text
    return {"Authorization": res.json()["token"]}


def _run(http: httpx.Client, headers: dict[str, str], code: str, end: str = "2010-02-26") -> str:
    assert http.post("/api/backtest/strategies/s", headers=headers, json={"code": code}).is_success
    body = {"strategy_id": "s", "start_date": "2010-01-04", "end_date": end, "universe": ["IBM"]}
    res = http.post("/api/backtest/run", headers=headers, json=body)
    assert res.status_code == 200, res.text
    return str(res.json()["job_id"])


def _status(http: httpx.Client, headers: dict[str, str], job_id: str) -> dict[str, Any]:
    return dict(http.get(f"/api/backtest/jobs/{job_id}", headers=headers).json())


def _sandboxed(server: Server) -> list[psutil.Process]:
    """The server's descendants that run as a sandbox uid (jobs and prepared sandboxes)."""
    found = []
    for proc in psutil.Process(server.proc.pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if proc.uids().real in SANDBOX_UIDS:
                found.append(proc)
    return found


def _groups(processes: list[psutil.Process]) -> set[Path]:
    """The control groups (memory controller) of ``processes``: quantdesk's only."""
    hierarchy = Hierarchy.find()
    assert hierarchy is not None
    found = set()
    for proc in processes:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{proc.pid}/cgroup").read_text().splitlines():
                _, controllers, path = line.split(":", 2)
                wanted = "memory" in controllers.split(",") or hierarchy.version == 2
                if wanted and "/quantdesk/" in f"{path}/":
                    found.add(hierarchy.memory / path.lstrip("/"))
    return found


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _populated(group: Path) -> bool:
    try:
        return bool((group / "cgroup.procs").read_text().split())
    except OSError:
        return False  # removed


def test_a_killed_api_process_is_restarted_on_the_same_port(server: Server) -> None:
    [api] = _role(server, "quantdesk.api.process")
    os.kill(api, signal.SIGKILL)
    _wait(lambda: _role(server, "quantdesk.api.process") not in ([], [api]), 15, "a new API")

    def healthy() -> bool:
        try:
            return httpx.get(f"{server.base}/api/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    _wait(healthy, 30, "the restarted API to answer")
    assert re.search(
        r"api \(pid \d+\) exited with signal SIGKILL after .*; restarting in", server.log()
    )
    assert len(_role(server, "quantdesk.jobs.worker")) == 2  # the workers were left alone


def test_a_worker_killed_mid_job_is_restarted_and_its_job_reclaimed_at_once(
    server: Server,
) -> None:
    with httpx.Client(base_url=server.base, timeout=30) as http:
        headers = _login(http)
        job_id = _run(http, headers, SLOW, end="2010-12-31")  # ~8 s of bars
        _wait(lambda: _status(http, headers, job_id)["current_bar"] > 0, 30, "progress")
        owner = _status(http, headers, job_id)
        workers = _role(server, "quantdesk.jobs.worker")
        assert owner["status"] == "RUNNING" and len(workers) == 2
        inside = _sandboxed(server)
        groups = _groups(inside)
        assert any(p.cmdline() == ["sleep", "43434"] for p in inside), inside  # the job's child
        assert groups and any(_populated(group) for group in groups)
        for pid in workers:  # whichever runs it dies; the lease (30 s) is not waited for
            os.kill(pid, signal.SIGKILL)
        began = time.monotonic()
        # Nothing of the job (nor of the prepared sandboxes) outlives its worker by 2 s.
        _wait(lambda: not [p for p in inside if _alive(p)], 2, f"the end of {inside}")
        _wait(lambda: not [g for g in groups if _populated(g)], 2 - (time.monotonic() - began),
              "the job's control groups to empty")  # fmt: skip
        _wait(lambda: _status(http, headers, job_id)["status"] == "FINISHED", 30, "the job")
        assert time.monotonic() - began < 20  # reclaimed at once, then ~8 s of run
        final = _status(http, headers, job_id)
        assert final["attempts"] == 2
        restarted = _role(server, "quantdesk.jobs.worker")
        assert len(restarted) == 2 and not set(restarted) & set(workers)
    log = server.log()
    assert "worker-0 (pid" in log and "restarting in" in log
    assert f"job {job_id} of a dead worker of this host: now QUEUED" in log


def test_the_api_and_workers_stop_when_the_supervisor_is_killed(
    tmp_path: Path, demo_data_dir: Path
) -> None:
    srv = start_server(tmp_path, demo_data_dir)
    try:
        children = list(_children(srv.proc.pid))
        grandchildren = [g for c in children for g in _children(c)]  # the fork servers
        assert len(children) == 3 and len(grandchildren) == 2
    finally:
        os.kill(srv.proc.pid, signal.SIGKILL)  # the supervisor alone, not its group
        srv.reap()

    def gone(pid: int) -> bool:
        try:
            return "zombie" in Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return True

    _wait(lambda: all(gone(pid) for pid in children + grandchildren), 5, "its processes to stop")
