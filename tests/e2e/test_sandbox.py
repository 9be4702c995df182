"""Strategies that attack the platform, run as an ordinary researcher through a real
``quantdesk serve`` (API process + 2 workers, strict sandbox): each probe asserts that it was
contained and how the job ended. See README "Security model"."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.server import Server, start_server

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the strict sandbox tests run as root")

MEMORY_MB, DISK_MB, TIMEOUT_S, LOG_MB = 512, 64, 8, 5
ADMIN = {"mobile": "13800138000", "password": "pass123456"}
RESEARCHER = {"mobile": "13900000077", "password": "research-pass-1", "role": "researcher"}
MONTH = {"start_date": "2010-02-01", "end_date": "2010-02-26", "universe": ["IBM"],
         "benchmark": "SPX"}  # fmt: skip
#: Secrets the server holds and no worker may (tokens signed with the previous key are still
#: accepted: a worker holding it could forge an admin's).
PREVIOUS_KEY = "previous-signing-key-0123456789-abcdefghijklmnop"
NOTEBOOK_TOKEN = "external-jupyter-token-0123456789"


@dataclass
class Platform:
    server: Server
    tmp: Path
    admin: dict[str, str]
    researcher: dict[str, str]
    admin_job_dir: Path
    admin_strategy: Path

    @property
    def port(self) -> int:
        return int(self.server.base.rsplit(":", 1)[1])

    def pids(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.server.proc.pid)], capture_output=True,
                             text=True, check=False)  # fmt: skip
        return sorted(int(p) for p in out.stdout.split())


def _login(http: httpx.Client, mobile: str, password: str) -> dict[str, str]:
    res = http.post("/api/login", data={"mobile": mobile, "password": password})
    assert res.status_code == 200, res.text
    return {"Authorization": res.json()["token"]}


def _wait_final(http: httpx.Client, headers: dict[str, str], job_id: str, timeout: float = 90
                ) -> dict[str, Any]:  # fmt: skip
    deadline = time.monotonic() + timeout
    while True:
        status = http.get(f"/api/backtest/jobs/{job_id}", headers=headers).json()
        if status["status"] in ("FINISHED", "FAILED", "CANCELLED"):
            return dict(status)
        assert time.monotonic() < deadline, status
        time.sleep(0.1)


def _submit(http: httpx.Client, headers: dict[str, str], name: str, code: str) -> str:
    res = http.post(f"/api/backtest/strategies/{name}", headers=headers, json={"code": code})
    assert res.status_code == 200, res.text
    res = http.post("/api/backtest/run", headers=headers, json={"strategy_id": name, **MONTH})
    assert res.status_code == 200, res.text
    return str(res.json()["job_id"])


def probe(p: Platform, name: str, body: str, timeout: float = 90) -> tuple[dict[str, Any], str]:
    """Run ``body`` in ``init`` of a researcher's strategy; the final status and the log."""
    code = (
        "import os, signal, socket, subprocess, sys, time\n\n"
        "def init(context):\n" + textwrap.indent(textwrap.dedent(body), "    ") +
        "\n\ndef handle_bar(context, bar_dict):\n    pass\n"
    )  # fmt: skip
    with httpx.Client(base_url=p.server.base, timeout=30) as http:
        job_id = _submit(http, p.researcher, name, code)
        status = _wait_final(http, p.researcher, job_id, timeout)
        log = http.get(f"/api/backtest/jobs/{job_id}/log", headers=p.researcher).text
    return status, log


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, demo_data_dir: Path) -> Iterator[Platform]:
    tmp = tmp_path_factory.mktemp("sandboxed")
    server = start_server(
        tmp, demo_data_dir, SECRET_KEY="",  # generated into var/secret_key, as in development
        BACKTEST_MEMORY_MB=str(MEMORY_MB), BACKTEST_DISK_MB=str(DISK_MB),
        BACKTEST_TIMEOUT=str(TIMEOUT_S), BACKTEST_LOG_MB=str(LOG_MB),
        SECRET_KEY_PREVIOUS=PREVIOUS_KEY, RESEARCH_NOTEBOOK_API_TOKEN=NOTEBOOK_TOKEN,
    )  # fmt: skip
    try:
        yield _setup(server, tmp)
    finally:
        assert server.stop() == 0


def _setup(server: Server, tmp: Path) -> Platform:
    with httpx.Client(base_url=server.base, timeout=30) as http:
        admin = _login(http, ADMIN["mobile"], ADMIN["password"])
        assert http.post("/api/admin/users", headers=admin, json=RESEARCHER).status_code == 200
        researcher = _login(http, RESEARCHER["mobile"], RESEARCHER["password"])
        secret = "def handle_bar(context, bar_dict):\n    pass  # the admin's private strategy\n"
        job_id = _submit(http, admin, "admin_private", secret)
        assert _wait_final(http, admin, job_id)["status"] == "FINISHED"
        health = http.get("/api/health").json()["data"]
        assert health["sandbox"]["level"] == "strong", health
    base = tmp / "backtest"
    job_dir = next(base.glob(f"runs/*/{job_id}"))
    return Platform(
        server, tmp, admin, researcher, job_dir, base / "strategies" / "admin_private.py"
    )


def _lines(log: str, marker: str = "PROBE") -> list[str]:
    """The probe's lines, without the log's ``date LEVEL`` prefix."""
    return [line[line.index(marker) :] for line in log.splitlines() if marker in line]


def test_secrets_database_and_other_users_files_are_out_of_reach(platform: Platform) -> None:
    p = platform
    secret_key = (p.tmp / "secret_key").read_text().strip()
    workers = p.pids()
    targets = [
        p.tmp / "secret_key", p.tmp / "quantdesk.db", p.admin_strategy,
        p.admin_job_dir / "extracted.json", p.admin_job_dir / "strategy.py",
        *(Path(f"/proc/{pid}/environ") for pid in workers), Path("/etc/shadow"),
        p.tmp / "backtest" / "strategies",
    ]  # fmt: skip
    assert all(t.exists() for t in targets)
    body = f"""
    for path in {[str(t) for t in targets]!r}:
        try:
            with open(path, "rb") as fh:
                print("PROBE read", path, fh.read(64))
        except OSError as exc:
            print("PROBE denied", path, type(exc).__name__)
    leaked = []
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{{pid}}/environ", "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        if any(name in data for name in (b"SECRET_KEY", b"DATABASE_URL", b"LOCAL_AUTH",
                                          b"NOTEBOOK_API_TOKEN")):
            leaked.append(pid)
    print("PROBE environ leaks", leaked, sorted(os.environ))
    print("PROBE identity", os.getuid(), os.getgid(), len(os.listdir("/proc")))
    """
    status, log = probe(p, "read_secrets", body)
    assert status["status"] == "FINISHED", (status, log)
    assert status["sandbox_level"] == "strong"
    reads = [line for line in _lines(log) if line.startswith("PROBE read")]
    assert reads == [], reads
    assert len([line for line in _lines(log) if line.startswith("PROBE denied")]) == len(targets)
    assert secret_key not in log and "admin's private strategy" not in log
    leaks = next(line for line in _lines(log) if "environ leaks" in line)
    assert "leaks [] [" in leaks and "SECRET" not in leaks and "DATABASE" not in leaks
    uid = int(next(line for line in _lines(log) if "identity" in line).split()[2])
    assert 60001 <= uid <= 60064  # BACKTEST_SANDBOX_UIDS, not root
    assert p.pids() == workers  # nothing was killed on the way
    serve = Path(f"/proc/{p.server.proc.pid}/environ").read_bytes()
    secrets = (b"SECRET_KEY=", b"SECRET_KEY_PREVIOUS=", b"LOCAL_AUTH_PASSWORD",
               b"RESEARCH_NOTEBOOK_API_TOKEN=", PREVIOUS_KEY.encode(),
               NOTEBOOK_TOKEN.encode())  # fmt: skip
    assert PREVIOUS_KEY.encode() in serve and NOTEBOOK_TOKEN.encode() in serve  # (given)
    checked = 0
    for pid in workers:  # workers (and their fork servers) hold no secret they do not need
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        if b"quantdesk.jobs.worker" in cmdline:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
            assert not [s for s in secrets if s in environ], pid
            checked += 1
    assert checked == 2


def test_no_network_to_the_api_or_the_databases(platform: Platform) -> None:
    body = f"""
    for port in ({platform.port}, 5432, 6379):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            print("PROBE connected", port)
        except OSError as exc:
            print("PROBE refused", port, exc.errno)
    try:
        socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        print("PROBE ipv6 socket")
    except OSError as exc:
        print("PROBE refused ipv6", exc.errno)
    """
    status, log = probe(platform, "network", body)
    assert status["status"] == "FINISHED", (status, log)
    assert not [line for line in _lines(log) if "connected" in line or "ipv6 socket" in line]
    assert len([line for line in _lines(log) if "refused" in line]) == 4


def test_another_jobs_folder_cannot_be_written(platform: Platform) -> None:
    target = platform.admin_job_dir / "extracted.json"
    before = target.read_bytes()
    body = f"""
    for path in ({str(target)!r}, {str(platform.admin_job_dir / "forged.json")!r}):
        try:
            with open(path, "w") as fh:
                fh.write('{{"summary": {{"total_returns": 99}}}}')
            print("PROBE wrote", path)
        except OSError as exc:
            print("PROBE denied", exc.errno)
    os.symlink({str(platform.tmp / "secret_key")!r}, "stolen.txt")
    with open("summary.json", "w") as fh:
        fh.write("{{}}")
    """
    status, log = probe(platform, "forge", body)
    assert not [line for line in _lines(log) if "wrote" in line], log
    assert target.read_bytes() == before
    assert not (platform.admin_job_dir / "forged.json").exists()
    assert status["status"] == "FINISHED"
    job_dir = next((platform.tmp / "backtest").glob(f"runs/*/{status['job_id']}"))
    assert (job_dir / "summary.json").read_text() != "{}"  # the job may not replace results
    assert not (job_dir / "stolen.txt").exists()  # symlinks never leave the sandbox


def test_a_fork_bomb_fails_with_process_limit(platform: Platform) -> None:
    body = """
    for _ in range(200):
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
    """
    status, log = probe(platform, "forks", body)
    assert status["status"] == "FAILED", (status, log)
    assert status["error"]["code"] == "PROCESS_LIMIT", status
    assert status["attempts"] == 1  # a limit is never retried


def test_allocating_past_the_memory_limit_fails_with_memory_limit(platform: Platform) -> None:
    body = """
    blocks = []
    for _ in range(40):
        blocks.append(bytearray(50 * 1024 * 1024))
    print("PROBE allocated", len(blocks) * 50, "MiB")
    """
    status, log = probe(platform, "memory", body)
    assert status["status"] == "FAILED", (status, log)
    assert status["error"]["code"] == "MEMORY_LIMIT", status
    assert str(MEMORY_MB) in status["error"]["message"]
    assert "PROBE allocated" not in log


def test_writing_past_the_disk_limit_fails_with_disk_limit(platform: Platform) -> None:
    body = """
    chunk = b"x" * (1024 * 1024)
    with open("big.bin", "wb") as fh:
        for _ in range(200):
            fh.write(chunk)
    print("PROBE wrote 200 MiB")
    """
    status, log = probe(platform, "disk", body)
    assert status["status"] == "FAILED", (status, log)
    assert status["error"]["code"] == "DISK_LIMIT", status
    assert "PROBE wrote" not in log
    assert not list((platform.tmp / "backtest").glob("runs/*/*/big.bin"))


def test_a_busy_loop_is_stopped_at_the_timeout(platform: Platform) -> None:
    started = time.monotonic()
    status, _log = probe(platform, "busy", "while True:\n    pass\n")
    assert status["status"] == "FAILED"
    assert status["error"]["code"] == "BACKTEST_TIMEOUT"
    assert time.monotonic() - started < TIMEOUT_S + 10


def test_a_setsid_daemon_does_not_outlive_its_job(platform: Platform) -> None:
    body = """
    daemon = subprocess.Popen(["sleep", "31337"], start_new_session=True)
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.execvp("sleep", ["sleep", "31338"])
        os._exit(0)
    time.sleep(0.3)
    print("PROBE daemons started", daemon.poll() is None)
    """
    status, log = probe(platform, "daemon", body)
    assert status["status"] == "FINISHED", (status, log)
    assert "PROBE daemons started True" in log
    deadline = time.monotonic() + 2
    while _pgrep("sleep 3133[78]"):
        assert time.monotonic() < deadline, "a daemon outlived its job"
        time.sleep(0.05)


def test_a_huge_log_is_cut_and_the_job_goes_on(platform: Platform) -> None:
    body = """
    line = "x" * (1024 * 1024)
    for _ in range(100):
        print(line)
    """
    status, _ = probe(platform, "chatty", body)
    assert status["status"] == "FINISHED", status
    job_dir = next((platform.tmp / "backtest").glob(f"runs/*/{status['job_id']}"))
    size = (job_dir / "run.log").stat().st_size
    assert LOG_MB * 1024 * 1024 <= size < LOG_MB * 1024 * 1024 + 64 * 1024
    text = (job_dir / "run.log").read_bytes()[-4096:].decode()
    assert "log truncated" in text and "finished on native" not in text  # cut, not rotated
    with httpx.Client(base_url=platform.server.base, timeout=30) as http:
        url = f"/api/backtest/jobs/{status['job_id']}/log"
        tail = http.get(url, params={"tail": 200}, headers=platform.researcher).json()
        assert tail["size"] == size and len(tail["content"]) <= 200


def test_a_job_that_kills_its_worker_fails_worker_lost_while_others_finish(
    platform: Platform,
) -> None:
    workers = platform.pids()
    body = """
    os.kill(os.getppid(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)
    """
    code = "def handle_bar(context, bar_dict):\n    pass\n"
    with httpx.Client(base_url=platform.server.base, timeout=30) as http:
        others = [_submit(http, platform.researcher, f"ok_{i}", code) for i in range(3)]
    status, _ = probe(platform, "killer", body)
    assert status["status"] == "FAILED", status
    assert status["error"]["code"] == "WORKER_LOST" and status["attempts"] == 3, status
    gentle = "os.kill(os.getppid(), signal.SIGTERM)\ntime.sleep(30)\n"
    status, _ = probe(platform, "gentle_killer", gentle)
    assert (status["status"], status["error"]["code"], status["attempts"]) == (
        "FAILED",
        "WORKER_LOST",
        3,
    ), status
    with httpx.Client(base_url=platform.server.base, timeout=30) as http:
        for job_id in others:
            assert _wait_final(http, platform.researcher, job_id)["status"] == "FINISHED"
    assert platform.pids() == workers


def test_the_compile_check_runs_in_the_sandbox(platform: Platform) -> None:
    with httpx.Client(base_url=platform.server.base, timeout=30) as http:
        code = "import numpy\nimport no_such_module\ndef handle_bar(context, bar_dict):\n    pass\n"
        res = http.post("/api/backtest/strategies/c1/compile", headers=platform.admin,
                        json={"code": code})  # fmt: skip
        assert res.status_code == 422, res.text
        messages = [d["message"] for d in res.json()["diagnostics"]]
        assert messages == ["dependency 'no_such_module' is not installed"]
        ok = http.post("/api/backtest/strategies/c1/compile", headers=platform.admin,
                       json={"code": "def init(context):\n    pass\n"})  # fmt: skip
        assert ok.status_code == 200, ok.text


def test_kill_9_of_the_server_group_leaves_nothing_and_the_job_resumes(
    tmp_path: Path, demo_data_dir: Path
) -> None:
    server = start_server(tmp_path, demo_data_dir, new_session=True)
    try:
        job_id = _kill_mid_job(server)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.proc.pid, signal.SIGKILL)
        server.reap()
    restarted = start_server(tmp_path, demo_data_dir)
    try:
        with httpx.Client(base_url=restarted.base, timeout=30) as http:
            admin = _login(http, ADMIN["mobile"], ADMIN["password"])
            began = time.monotonic()
            status = _wait_final(http, admin, job_id, timeout=30)
            assert status["status"] == "FINISHED", status
            assert time.monotonic() - began < 10
            assert status["attempts"] == 2
    finally:
        restarted.stop()


def _kill_mid_job(server: Server) -> str:
    """Start a slow job that also runs a child process, ``kill -9`` the server's process group
    while it runs, and check that nothing of it is left within 2 s. Returns the job's id."""
    processes = [server.proc.pid, *_descendants(server.proc.pid)]
    code = (
        "import subprocess, time\n\n"
        "def init(context):\n    subprocess.Popen(['sleep', '42424'])\n\n"
        "def handle_bar(context, bar_dict):\n    time.sleep(0.02)\n"
    )
    with httpx.Client(base_url=server.base, timeout=30) as http:
        admin = _login(http, ADMIN["mobile"], ADMIN["password"])
        res = http.post("/api/backtest/strategies/slow", headers=admin, json={"code": code})
        assert res.status_code == 200, res.text
        year = {**MONTH, "start_date": "2010-01-04", "end_date": "2010-12-31"}
        job_id = str(http.post("/api/backtest/run", headers=admin,
                               json={"strategy_id": "slow", **year}).json()["job_id"])  # fmt: skip
        deadline = time.monotonic() + 30
        while http.get(f"/api/backtest/jobs/{job_id}", headers=admin).json()["current_bar"] < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert _marker_alive()
    processes += _descendants(server.proc.pid)
    os.killpg(server.proc.pid, signal.SIGKILL)
    server.proc.wait()
    deadline = time.monotonic() + 2
    while _marker_alive() or [pid for pid in processes if _alive(pid)]:
        assert time.monotonic() < deadline, "processes outlived kill -9 of the server group"
        time.sleep(0.05)
    return job_id


def _pgrep(pattern: str) -> bool:
    found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, check=False)
    return found.returncode == 0


def _marker_alive() -> bool:
    return _pgrep("sleep 42424")


def _descendants(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    children = [int(p) for p in found.stdout.split()]
    return children + [d for c in children for d in _descendants(c)]


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "zombie" not in status


def test_garbage_on_the_events_pipe_does_not_upset_the_worker(platform: Platform) -> None:
    """Regression: deeply nested JSON on fd 3 raised RecursionError in the worker."""
    workers = platform.pids()
    body = """
    os.write(3, b"[" * 100000 + b"\\n")
    os.write(3, b"\\n" * 65536)
    os.write(3, b'{"event": "started", "pid": 1}\\n{"progress": 1e999}\\n')
    """
    status, log = probe(platform, "garbage", body)
    assert status["status"] == "FINISHED", (status, log)
    assert platform.pids() == workers


def test_hard_links_and_sparse_files_cannot_multiply_the_disk_limit(platform: Platform) -> None:
    """Regression: the copy back of results counted names, not the limit."""
    for name, body in {
        "links": """
        with open("one.bin", "wb") as fh:
            fh.write(b"x" * (8 * 1024 * 1024))
        for i in range(20):
            os.link("one.bin", f"copy{i}.bin")
        """,
        "sparse": """
        for i in range(3):  # 3 x 40 MiB apparent, no block used: within RLIMIT_FSIZE each
            with open(f"sparse{i}.bin", "wb") as fh:
                fh.truncate(40 * 1024 * 1024)
        """,
    }.items():
        status, log = probe(platform, name, body)
        assert status["status"] == "FAILED", (status, log)
        assert status["error"]["code"] == "DISK_LIMIT", status
        job_dir = next((platform.tmp / "backtest").glob(f"runs/*/{status['job_id']}"))
        assert not list(job_dir.glob("*.bin"))
