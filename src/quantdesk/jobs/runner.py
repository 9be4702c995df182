"""Run one claimed job in a fresh subprocess, heartbeat its lease, commit its final state."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from quantdesk.core.clock import utcnow
from quantdesk.core.jobs import JobErrorCode, JobStatus
from quantdesk.core.settings import Settings
from quantdesk.jobs.artifacts import EXTRACTED, RUN_LOG, RunFolder
from quantdesk.storage import Database
from quantdesk.storage import jobs as job_store

#: How often a running job checks whether it was cancelled (cancel must land within 2 s).
CANCEL_POLL_SECONDS = 0.25


def child_command(run_dir: Path) -> list[str]:
    """The backtest subprocess: an isolated interpreter (``-I``: no env vars, no user site)."""
    return [sys.executable, "-I", "-m", "quantdesk.jobs.child", str(run_dir)]


def child_env(settings: Settings | None = None) -> dict[str, str]:
    """A minimal environment: no proxies, no credentials, deterministic hashing; plus
    ``RQALPHA_COMMAND`` from ``settings`` (the external engine a job may run)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
    }
    if settings is not None and settings.rqalpha_command:
        env["RQALPHA_COMMAND"] = settings.rqalpha_command
    return env


def _timeout_error(folder: RunFolder, seconds: float) -> tuple[JobErrorCode, str]:
    """The contract's timeout error: ``RQALPHA_TIMEOUT`` when the job ran on RQAlpha."""
    try:
        engine = folder.read_config().get("engine")
    except (OSError, ValueError):
        engine = None
    if engine == "rqalpha":
        return JobErrorCode.RQALPHA_TIMEOUT, f"rqalpha timeout after {seconds:g}s; see run.log"
    return JobErrorCode.BACKTEST_TIMEOUT, f"backtest timeout after {seconds:g}s; see run.log"


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the subprocess and everything it started, then reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


class JobRunner:
    """Runs claimed jobs for one worker.

    Args:
        db: The job database.
        settings: Timeouts, lease length and the base dir.
        worker_id: Recorded as the lease owner.
        stop: Set to ask a running job to stop (the job is released back to the queue).
        exit_with_parent: Also stop (and release the job) when the parent process dies.
    """

    def __init__(
        self,
        db: Database,
        settings: Settings,
        worker_id: str,
        stop: threading.Event,
        *,
        exit_with_parent: bool = False,
    ) -> None:
        self.exit_with_parent = exit_with_parent
        self.db = db
        self.settings = settings
        self.worker_id = worker_id
        self.stop = stop

    def run(self, job: job_store.ClaimedJob) -> JobStatus | None:
        """Run ``job`` to a final state; ``None`` when the lease was lost or it was released."""
        settings = self.settings
        folder = RunFolder(settings.backtest_base_dir.resolve(), job.run_dir)
        folder.clear_outputs()
        started = utcnow()
        folder.append_log(
            f"=== attempt {job.attempts} on {self.worker_id} at {started.isoformat()} ==="
        )
        self._status(folder, job, JobStatus.RUNNING)
        lease = settings.job_lease_seconds
        beat_every = max(lease / 3, 0.05)
        with (folder.path / RUN_LOG).open("ab") as log:
            proc = subprocess.Popen(
                child_command(folder.path),
                cwd=folder.path,
                env=child_env(settings),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        parent = os.getppid()
        deadline = time.monotonic() + settings.backtest_timeout
        next_beat = time.monotonic() + beat_every
        next_cancel_check = time.monotonic() + CANCEL_POLL_SECONDS
        while True:
            try:
                rc = proc.wait(timeout=0.05)
                break
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if self.stop.is_set() or (self.exit_with_parent and os.getppid() != parent):
                kill_group(proc)
                folder.append_log("worker stopping: job released back to the queue")
                job_store.release(self.db, job.id, job.fence)
                return None
            if now >= next_cancel_check:
                next_cancel_check = now + CANCEL_POLL_SECONDS
                if job_store.cancel_requested(self.db, job.id):
                    kill_group(proc)
                    folder.append_log("CANCELLED: stopped at the user's request")
                    return self._finish(folder, job, JobStatus.CANCELLED, None, None)
            if now >= deadline:
                kill_group(proc)
                code, message = _timeout_error(folder, settings.backtest_timeout)
                folder.append_log(f"ERROR {code}: {message}")
                return self._finish(folder, job, JobStatus.FAILED, code, message)
            if now >= next_beat:
                next_beat = now + beat_every
                progress = self._progress(folder)
                if not job_store.heartbeat(self.db, job.id, job.fence, lease, progress):
                    kill_group(proc)
                    folder.append_log("lease lost: another worker owns this job now")
                    return None
        if rc == 0 and (folder.path / EXTRACTED).is_file():
            return self._finish(folder, job, JobStatus.FINISHED, None, None)
        error = self._error(folder, rc)
        return self._finish(folder, job, JobStatus.FAILED, error["code"], error["message"])

    def _progress(self, folder: RunFolder) -> dict[str, Any] | None:
        try:
            progress = folder.read_json("progress.json")
        except ValueError:
            return None
        return progress if isinstance(progress, dict) else None

    def _error(self, folder: RunFolder, rc: int) -> dict[str, str]:
        try:
            error = folder.read_json("error.json")
        except ValueError:
            error = None
        if isinstance(error, dict) and "code" in error:
            return {"code": str(error["code"]), "message": str(error.get("message", ""))}
        return {
            "code": JobErrorCode.INTERNAL_ERROR,
            "message": f"the backtest process exited with status {rc}; see run.log",
        }

    def _finish(
        self,
        folder: RunFolder,
        job: job_store.ClaimedJob,
        status: JobStatus,
        code: str | None,
        message: str | None,
    ) -> JobStatus | None:
        progress = self._progress(folder)
        if not job_store.finish(self.db, job.id, job.fence, status, code, message, progress):
            folder.append_log(f"lease lost before commit: {status} discarded")
            return None
        self._status(folder, job, status, code, message)
        return status

    def _status(
        self,
        folder: RunFolder,
        job: job_store.ClaimedJob,
        status: JobStatus,
        code: str | None = None,
        message: str | None = None,
    ) -> None:
        folder.write_status(
            {
                "job_id": job.id,
                "status": str(status),
                "error": {"code": code, "message": message} if code else None,
                "attempt": job.attempts,
                "worker": self.worker_id,
                "updated_at": utcnow().isoformat(),
            }
        )
