"""A worker process: ``python -m quantdesk.jobs.worker [--id NAME]``.

Loop: requeue jobs whose lease expired, claim the oldest queued job, run it in a subprocess,
repeat; idle polls every ``POLL_SECONDS``. SIGTERM/SIGINT stop it after releasing a running job.
Settings come from the environment (``DATABASE_URL``, ``BACKTEST_BASE_DIR``, ...).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import threading
import time

from quantdesk.core.settings import Settings
from quantdesk.jobs.runner import JobRunner
from quantdesk.storage import Database
from quantdesk.storage import jobs as job_store

POLL_SECONDS = 0.2
SWEEP_SECONDS = 1.0


def work(
    settings: Settings, worker_id: str, stop: threading.Event, parent: int | None = None
) -> None:
    """Claim and run jobs until ``stop`` is set (or, with ``parent``, that process is gone)."""
    db = Database(settings.database_url)
    runner = JobRunner(db, settings, worker_id, stop, exit_with_parent=parent is not None)
    next_sweep = 0.0
    try:
        while not stop.is_set():
            if parent is not None and os.getppid() != parent:
                break  # the server that started us died without stopping us
            now = time.monotonic()
            if now >= next_sweep:
                job_store.sweep_expired(db)
                next_sweep = now + SWEEP_SECONDS
            job = job_store.claim(db, worker_id, settings.job_lease_seconds)
            if job is None:
                stop.wait(POLL_SECONDS)
                continue
            runner.run(job)
    finally:
        db.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="quantdesk job worker")
    parser.add_argument("--id", default=f"{socket.gethostname()}:{os.getpid()}")
    parser.add_argument(
        "--exit-with-parent", action="store_true", help="stop when the parent process dies"
    )
    args = parser.parse_args(argv)
    stop = threading.Event()

    def _stop(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    work(Settings(), args.id, stop, os.getppid() if args.exit_with_parent else None)


if __name__ == "__main__":
    main()
