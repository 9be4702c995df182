"""``quantdesk serve --daemon``, ``stop``, ``status``, ``restart``: the server in the background.

The server is found through its PID file (``var/run/quantdesk-<port>.pid``,
``Settings.pid_file``: one per port, so several servers may share a machine and a database).

The PID file holds the supervisor's pid and what it serves (``{"pid", "host", "port",
"started_at"}``, JSON). ``serve`` writes it when it starts (refusing to start while a live
server holds it) and removes it when it stops; a file whose process is gone is stale and
ignored.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
import psutil
import typer
from rich.table import Table

from quantdesk.cli.errors import reported_errors, stderr
from quantdesk.core.errors import Conflict
from quantdesk.core.files import atomic_write_bytes
from quantdesk.core.settings import Settings
from quantdesk.services.events.processes import ProcessMonitor
from quantdesk.storage import Database, job_queries

#: Seconds ``stop`` waits for the server to exit before it gives up (it never SIGKILLs).
STOP_SECONDS = 60.0
#: Seconds ``serve --daemon`` waits for the server to answer.
START_SECONDS = 60.0
#: LSB's exit status of ``status`` for a server that is not running.
EXIT_NOT_RUNNING = 3


@dataclass(frozen=True)
class Running:
    """A live server, as its PID file says."""

    pid: int
    host: str
    port: int
    started_at: str

    @property
    def url(self) -> str:
        """Its base URL."""
        return f"http://{self.host}:{self.port}"


def running(settings: Settings, port: int) -> Running | None:
    """The server the PID file of ``port`` names, if it is alive (``None``: not running)."""
    try:
        raw = json.loads(settings.pid_file(port).read_text())
        server = Running(int(raw["pid"]), str(raw["host"]), int(raw["port"]),
                         str(raw.get("started_at", "")))  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        proc = psutil.Process(server.pid)
        alive = proc.status() != psutil.STATUS_ZOMBIE and "serve" in " ".join(proc.cmdline())
    except psutil.Error:
        alive = False
    return server if alive else None


def claim_pid_file(settings: Settings, host: str, port: int) -> Path:
    """Write this process's PID file.

    Raises:
        Conflict: a live server already holds it.
    """
    other = running(settings, port)
    if other is not None and other.pid != os.getpid():
        raise Conflict(
            f"quantdesk is already running (pid {other.pid}, {other.url}); "
            "`quantdesk stop` first, or `quantdesk restart`"
        )
    path = settings.pid_file(port)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"pid": os.getpid(), "host": host, "port": port,
              "started_at": dt.datetime.now(dt.UTC).isoformat()}  # fmt: skip
    atomic_write_bytes(path, json.dumps(record).encode())
    return path


def release_pid_file(settings: Settings, port: int) -> None:
    """Remove the PID file of ``port`` if it is this process's."""
    path = settings.pid_file(port)
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError, AttributeError):
        pass


def start_daemon(argv: list[str], settings: Settings, host: str, port: int) -> int:
    """Start ``quantdesk serve`` (``argv`` without ``--daemon``) in the background.

    Its console output goes to ``LOG_DIR/serve.out``. Returns the supervisor's pid once the
    API answers.

    Raises:
        Conflict: a server is already running, or the new one exited or did not answer.
    """
    other = running(settings, port)
    if other is not None:
        raise Conflict(f"quantdesk is already running (pid {other.pid}, {other.url})")
    out_dir = settings.log_dir or settings.pid_file(port).parent
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "serve.out").open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "quantdesk.cli.main", "serve", *argv],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,  # not the terminal's: closing it does not stop the server
        )  # fmt: skip
    deadline = time.monotonic() + START_SECONDS
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/api/health"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Conflict(f"the server exited with status {proc.returncode}; see {out.name}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return proc.pid
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise Conflict(f"the server did not answer within {START_SECONDS:g} s; see {out.name}")


def stop_server(settings: Settings, port: int) -> int | None:
    """SIGTERM the server on ``port`` and wait for it to exit; its pid (``None``: none ran).

    Raises:
        Conflict: it is still running after ``STOP_SECONDS``.
    """
    server = running(settings, port)
    if server is None:
        settings.pid_file(port).unlink(missing_ok=True)  # stale
        return None
    os.kill(server.pid, signal.SIGTERM)
    try:
        psutil.Process(server.pid).wait(STOP_SECONDS)
    except psutil.NoSuchProcess:
        pass
    except psutil.TimeoutExpired:
        raise Conflict(f"pid {server.pid} is still running after {STOP_SECONDS:g} s") from None
    settings.pid_file(port).unlink(missing_ok=True)
    return server.pid


PortOption = Annotated[int, typer.Option(help="The server's TCP port.")]


def stop(port: PortOption = 54321) -> None:
    """Stop the server started by ``quantdesk serve`` (``--daemon`` or not)."""
    with reported_errors():
        pid = stop_server(Settings(), port)
    stderr.print(f"stopped quantdesk (pid {pid})" if pid else "quantdesk is not running")


def restart(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: PortOption = 54321,
    workers: Annotated[int | None, typer.Option(help="Local worker processes.")] = None,
) -> None:
    """Stop the server if it runs, then start it in the background."""
    with reported_errors():
        settings = Settings()
        stop_server(settings, port)
        argv = ["--host", host, "--port", str(port)]
        if workers is not None:
            argv += ["--workers", str(workers)]
        pid = start_daemon(argv, settings, host, port)
    stderr.print(f"quantdesk restarted (pid {pid}) on http://{host}:{port}")


def status(
    port: PortOption = 54321,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """Is the server running: its processes, sandbox level and job queue (exit 3 if not)."""
    settings = Settings()
    server = running(settings, port)
    report: dict[str, Any] = {"running": server is not None}
    if server is not None:
        report.update(pid=server.pid, url=server.url, started_at=server.started_at)
        report["processes"] = [p.model_dump() for p in _processes(server.pid, settings)]
    db = Database(settings.database_url)
    try:
        with db.read() as session:
            report["jobs"] = job_queries.count_by_status(session)
    except Exception as exc:  # a database that is not there yet is a status, not a crash
        report["jobs"] = {"error": str(exc).splitlines()[0]}
    finally:
        db.dispose()
    if server is not None:
        try:
            health = httpx.get(server.url + "/api/health", timeout=3).json()["data"]
            report["sandbox"] = health.get("sandbox")
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            report["sandbox"] = None
    if json_out:
        sys.stdout.write(json.dumps(report, default=str) + "\n")
    else:
        _print(report)
    if server is None:
        raise typer.Exit(EXIT_NOT_RUNNING)


def _processes(pid: int, settings: Settings) -> list[Any]:
    """The server's process tree, classified (as ``GET /api/processes`` reports it)."""
    db = Database(settings.database_url)
    try:
        return ProcessMonitor(db, settings.job_lease_seconds).sample_tree(pid).processes
    finally:
        db.dispose()


def _print(report: dict[str, Any]) -> None:
    if not report["running"]:
        stderr.print("quantdesk is not running")
    else:
        stderr.print(f"quantdesk is running: pid {report['pid']} on {report['url']} "
                     f"since {report['started_at']}")  # fmt: skip
        sandbox = report.get("sandbox") or {}
        if sandbox:
            stderr.print(f"sandbox: {sandbox.get('level')} (missing: "
                         f"{', '.join(sandbox.get('missing') or []) or 'nothing'})")  # fmt: skip
        table = Table("pid", "role", "name", "state", "MB", "job")
        for p in report["processes"]:
            table.add_row(str(p["pid"]), p["role"], p["name"], p["status"],
                          f"{p['memory_mb']:.0f}", p["job_id"] or "")  # fmt: skip
        stderr.print(table)
    stderr.print(f"jobs: {report['jobs']}")
