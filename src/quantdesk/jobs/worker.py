"""A worker process: ``python -m quantdesk.jobs.worker [--slot N] [--id NAME]``.

At start: drop the secrets it never needs, start its fork server and run the sandbox
self-test, sweep its slot's leftover control groups, and requeue the jobs that a dead worker
of this host still holds (worker ids are ``host:boot_id:pid:wN@start``, ``start`` the process's
start time, so a previous incarnation is recognised at once instead of after its lease, even
when its pid was reused). Loop: requeue expired leases, claim the
oldest queued job, run it in the sandbox, repeat; idle polls every ``POLL_SECONDS``. Its start
and stop, and its fork server's starts, stops and crashes, are platform events (a dead fork
server is noticed within ``SWEEP_SECONDS`` while idle, and replaced by the next job).
SIGTERM/SIGINT stop it after releasing a running job. Settings come from the environment
(``DATABASE_URL``, ``BACKTEST_BASE_DIR``, ...).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging
import os
import signal
import socket
import threading
import time
from functools import cache
from pathlib import Path
from typing import Any

import psutil

from quantdesk.core import logs
from quantdesk.core.clock import utcnow
from quantdesk.core.events import EventKind, EventRecorder
from quantdesk.core.jobs import JobErrorCode, JobStatus
from quantdesk.core.settings import Settings
from quantdesk.jobs.forkserver import ForkServer
from quantdesk.jobs.runner import JobRunner
from quantdesk.jobs.sandbox import check_mode
from quantdesk.storage import Database
from quantdesk.storage import events as event_store
from quantdesk.storage import jobs as job_store

POLL_SECONDS = 0.2
SWEEP_SECONDS = 1.0
log = logging.getLogger("quantdesk.worker")


@cache
def boot_id() -> str:
    """This boot of the host (``/proc/sys/kernel/random/boot_id``, first 8 characters)."""
    with contextlib.suppress(OSError), open("/proc/sys/kernel/random/boot_id") as fh:
        return fh.read().strip()[:8]
    return "noboot"


#: Start times (``process_start``) of the pids this process looked up, so that the id of a
#: worker that has exited can still be given (the supervisor's crash report).
_STARTS: dict[int, int] = {}


def process_start(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks after boot (``/proc/PID/stat`` field 22).

    The last value seen for a pid that is gone; ``None`` when never seen. With the boot id and
    the pid it names one incarnation: a reused pid has a later start.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        start = int(stat[stat.rindex(")") + 2 :].split()[19])  # fields 3.. after "(comm)"
    except (OSError, ValueError, IndexError):
        return _STARTS.get(pid)
    _STARTS[pid] = start
    return start


def worker_id(slot: int, pid: int | None = None) -> str:
    """``host:boot_id:pid:wSLOT@start``: unique per incarnation, parseable by ``owner_alive``.

    ``start`` is the process's start time (``process_start``); it is left out (the format
    before it, ``host:boot_id:pid:wSLOT``) when unknown.
    """
    pid = pid or os.getpid()
    start = process_start(pid)
    tail = "" if start is None else f"@{start}"
    return f"{socket.gethostname()}:{boot_id()}:{pid}:w{slot}{tail}"


def owner_alive(owner: str) -> bool:
    """Whether the worker ``owner`` (an id of this host) may still be running.

    Same boot, and its pid is a live process that started when that worker did (with
    ``@start``; ids without it: a live quantdesk process with that pid).
    """
    parts = owner.split(":")
    if len(parts) != 4 or parts[1] != boot_id():
        return len(parts) != 4  # not our format: leave it to the lease
    _slot, _, start = parts[3].partition("@")
    try:
        pid = int(parts[2])
        if start:
            return _live(pid) and process_start(pid) == int(start)
        proc = psutil.Process(pid)
        return proc.is_running() and any("quantdesk" in part for part in proc.cmdline())
    except (ValueError, psutil.Error):
        return False


def _live(pid: int) -> bool:
    """Whether ``pid`` is a process that has not exited (a zombie has)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def without_secrets(settings: Settings) -> Settings:
    """``settings`` minus what a worker never needs (``local.WORKER_SECRETS``).

    The JWT keys (the previous one too: tokens it signed are still accepted), the admin's
    password and the external Jupyter's token.
    """
    return settings.model_copy(update={
        "secret_key": None, "secret_key_previous": None, "local_auth_password": None,
        "local_auth_password_hash": None, "research_notebook_api_token": "",
    })  # fmt: skip


def work(
    settings: Settings,
    worker_id: str,
    stop: threading.Event,
    parent: int | None = None,
    slot: int = 0,
) -> None:
    """Claim and run jobs until ``stop`` is set (or, with ``parent``, that process is gone)."""
    check_mode(settings)
    db = Database(settings.database_url)
    forkserver = ForkServer(f"forkserver[{worker_id}]", record_event=recorder(db),
                            subject=worker_id)  # fmt: skip
    runner = JobRunner(
        db, without_secrets(settings), worker_id, stop, exit_with_parent=parent is not None,
        forkserver=forkserver, slot=slot,
    )  # fmt: skip
    host = worker_id.split(":", maxsplit=1)[0]
    next_sweep = 0.0
    try:
        detection = runner.prepare()
        log.info("worker %s (slot %d): %s", worker_id, slot, detection.describe())
        _record(db, EventKind.WORKER_STARTED, worker_id, slot=slot, pid=os.getpid(),
                sandbox=str(detection.level), missing=list(detection.missing))  # fmt: skip
        while not stop.is_set():
            if parent is not None and os.getppid() != parent:
                break  # the server that started us died without stopping us
            now = time.monotonic()
            if now >= next_sweep:
                job_store.sweep_expired(db)
                for job_id, status in job_store.reclaim_orphans(db, host, owner_alive):
                    log.warning("job %s of a dead worker of this host: now %s", job_id, status)
                with db.write() as session:
                    keep = dt.timedelta(days=settings.events_keep_days)
                    event_store.purge(session, utcnow() - keep)
                forkserver.check()  # a template that died while idle: recorded now
                next_sweep = now + SWEEP_SECONDS
            known = runner.sandbox.detection
            level = str(known.level) if known is not None else None
            job = job_store.claim(db, worker_id, settings.job_lease_seconds, level)
            if job is None:
                stop.wait(POLL_SECONDS)
                continue
            try:
                runner.run(job)
            except Exception as exc:  # a bug must not take the worker (and the job) down
                log.exception("job %s: the runner failed", job.id)
                message = f"the worker failed running this job: {type(exc).__name__}: {exc}"
                job_store.finish(db, job.id, job.fence, JobStatus.FAILED,
                                 JobErrorCode.INTERNAL_ERROR, message[:2000])  # fmt: skip
    finally:
        try:
            runner.close()  # its fork server's stop is recorded before the worker's
        finally:
            with contextlib.suppress(Exception):  # a database that went away must not hide why
                _record(db, EventKind.WORKER_STOPPED, worker_id, slot=slot, pid=os.getpid())
            db.dispose()


def recorder(db: Database) -> EventRecorder:
    """Records platform-wide events (admins see them) in ``db``, each in its own transaction."""

    def record(kind: str, subject: str, data: dict[str, Any] | None = None, /) -> None:
        with db.write() as session:
            event_store.append(session, kind, subject, data=data)

    return record


def _record(db: Database, kind: EventKind, worker: str, **data: object) -> None:
    """A platform-wide event (admins see it) about this worker."""
    recorder(db)(kind, worker, data)


def main(argv: list[str] | None = None) -> None:
    """``python -m quantdesk.jobs.worker``: run jobs until SIGTERM or SIGINT.

    Options: ``--slot`` (the worker slot, its sandbox uid), ``--id`` (the lease owner id,
    default ``host:boot:pid:wN``) and ``--exit-with-parent`` (stop when the parent dies). The
    settings come from the environment, minus what a worker never needs (``without_secrets``).
    """
    parser = argparse.ArgumentParser(description="quantdesk job worker")
    parser.add_argument("--slot", type=int, default=0, help="worker slot (its sandbox uid)")
    parser.add_argument("--id", default=None, help="lease owner id (default host:boot:pid:wN)")
    parser.add_argument(
        "--exit-with-parent", action="store_true", help="stop when the parent process dies"
    )
    args = parser.parse_args(argv)
    settings = without_secrets(Settings())
    logs.configure(settings.log_dir, json_lines=settings.log_json)
    stop = threading.Event()

    def _stop(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if args.exit_with_parent:
        from quantdesk.jobs.sandbox.linux import PR_SET_PDEATHSIG, prctl

        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # a SIGKILLed server takes its workers along
    work(
        settings, args.id or worker_id(args.slot), stop,
        os.getppid() if args.exit_with_parent else None, slot=args.slot,
    )  # fmt: skip


if __name__ == "__main__":
    main()
