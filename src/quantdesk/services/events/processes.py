"""The platform's processes on this host: supervisor, API, workers, fork servers and sandboxes.

Found from the API process outward with ``psutil`` (its parent when that is ``quantdesk serve``,
the supervisor's children, their children), classified by command line, and joined with the
RUNNING jobs whose lease owner (``host:boot:pid:wN``) names a worker pid: that worker's current
job and its last heartbeat (the lease's last extension).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Iterable

import psutil
from pydantic import BaseModel, Field

from quantdesk.core.clock import iso_utc
from quantdesk.storage import Database, job_queries

#: Command-line markers of each role, checked in order.
_ROLES = (
    ("quantdesk.jobs.forkserver", "forkserver"),
    ("quantdesk.jobs.worker", "worker"),
    ("quantdesk.api.process", "api"),
    ("serve", "supervisor"),
)


class ProcessView(BaseModel):
    """One process of the platform (``GET /api/processes``, channel ``system.processes``)."""

    pid: int
    ppid: int
    role: str = Field(description="supervisor | api | worker | forkserver | sandbox")
    name: str = Field(description="worker-0, api...")
    status: str = Field(description="psutil's: running, sleeping...")
    memory_mb: float = Field(description="resident set size")
    cpu_percent: float = Field(description="since the previous sample of this process")
    started_at: str | None = Field(description="ISO 8601 UTC")
    host: str
    job_id: str | None = Field(None, description="the job a worker runs")
    last_heartbeat: str | None = Field(None, description="its lease's last extension (UTC)")


class ProcessList(BaseModel):
    """``data`` of ``GET /api/processes``."""

    processes: list[ProcessView]
    total: int


def _role(proc: psutil.Process) -> tuple[str, str]:
    try:
        cmd = proc.cmdline()
    except (psutil.Error, OSError):
        return "sandbox", proc.name() if proc.is_running() else "?"
    text = " ".join(cmd)
    for marker, role in _ROLES:
        if marker in text and (role != "supervisor" or "quantdesk" in text):
            if role == "worker" and "--slot" in cmd:
                return role, f"worker-{cmd[cmd.index('--slot') + 1]}"
            return role, role
    return "sandbox", proc.name()


def _role_of_parent(proc: psutil.Process) -> str | None:
    try:
        parent = proc.parent()
    except psutil.Error:
        return None
    return _role(parent)[0] if parent is not None else None


def _tree(root: psutil.Process) -> Iterable[psutil.Process]:
    yield root
    try:
        yield from root.children(recursive=True)
    except psutil.Error:
        return


class ProcessMonitor:
    """Samples the platform's processes (keeps each ``psutil.Process`` for CPU deltas)."""

    def __init__(self, db: Database, lease_seconds: float) -> None:
        self._db = db
        self._lease = lease_seconds
        self._known: dict[int, psutil.Process] = {}
        self._host = socket.gethostname()

    def sample(self) -> ProcessList:
        """The processes of this API process's server now (blocking: run it off the loop).

        From its supervisor when ``quantdesk serve`` started it, else from itself.
        """
        me = psutil.Process()
        root = me
        try:
            parent = me.parent()
            if parent is not None and _role(parent)[0] == "supervisor":
                root = parent
        except psutil.Error:
            pass
        return self._sample(root)

    def sample_tree(self, pid: int) -> ProcessList:
        """The processes of the tree rooted at ``pid`` (a supervisor's, for the CLI)."""
        try:
            return self._sample(psutil.Process(pid))
        except psutil.Error:
            return ProcessList(processes=[], total=0)

    def _sample(self, root: psutil.Process) -> ProcessList:
        running = self._running_jobs()
        views: list[ProcessView] = []
        alive: dict[int, psutil.Process] = {}
        for found in _tree(root):
            proc = self._known.get(found.pid, found)
            try:
                with proc.oneshot():
                    role, name = _role(proc)
                    if role == "forkserver" and _role_of_parent(proc) != "worker":
                        role, name = "sandbox", "sandbox"  # a prepared or running job's
                    elif role == "sandbox" and proc.pid == os.getpid():
                        role, name = "api", "api"  # this process, started another way
                    job = running.get(proc.pid) if role == "worker" else None
                    views.append(ProcessView(
                        pid=proc.pid, ppid=proc.ppid(), role=role, name=name,
                        status=proc.status(), memory_mb=round(proc.memory_info().rss / 2**20, 1),
                        cpu_percent=proc.cpu_percent(None),
                        started_at=iso_utc(dt.datetime.fromtimestamp(proc.create_time(), dt.UTC)),
                        host=self._host, job_id=job[0] if job else None,
                        last_heartbeat=job[1] if job else None,
                    ))  # fmt: skip
                alive[proc.pid] = proc
            except psutil.Error:
                continue
        self._known = alive
        return ProcessList(processes=views, total=len(views))

    def _running_jobs(self) -> dict[int, tuple[str, str | None]]:
        """``{worker pid: (job id, last heartbeat)}`` of this host's RUNNING jobs."""
        with self._db.read() as session:
            leases = job_queries.running_leases(session)
        out: dict[int, tuple[str, str | None]] = {}
        for job_id, owner, expires in leases:
            parts = (owner or "").split(":")
            if len(parts) == 4 and parts[0] == self._host and parts[2].isdigit():
                beat = iso_utc(expires - dt.timedelta(seconds=self._lease)) if expires else None
                out[int(parts[2])] = (job_id, beat)
        return out
