"""Run one claimed job in the sandbox and commit its final state under its fence.

The job is forked from the worker's fork server; the runner heartbeats its lease and enforces
its limits.

Final states: FINISHED (exit 0 with ``extracted.json``); FAILED with ``MEMORY_LIMIT`` /
``PROCESS_LIMIT`` / ``DISK_LIMIT`` (a limit was hit: never retried), ``BACKTEST_TIMEOUT`` /
``RQALPHA_TIMEOUT``, the run's own code (``STRATEGY_ERROR``...), ``SANDBOX_UNAVAILABLE``
(strict mode without the core layers) or ``INTERNAL_ERROR``; CANCELLED; or back to QUEUED
when the job's process was killed from inside (a poison pill) until ``JOB_MAX_ATTEMPTS``,
then FAILED ``WORKER_LOST``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from typing import Any

from quantdesk.core.clock import utcnow
from quantdesk.core.events import StreamMessage, job_channel
from quantdesk.core.jobs import JobErrorCode, JobStatus
from quantdesk.core.settings import Settings
from quantdesk.data import Catalog
from quantdesk.jobs.artifacts import (
    EXTRACTED,
    RUN_LOG,
    CorruptFile,
    JobFailure,
    JobStatusFile,
    RunFolder,
)
from quantdesk.jobs.forkserver import ForkServer, ForkServerError
from quantdesk.jobs.reports import equity_points, error_event, progress_event
from quantdesk.jobs.results import read_json_members
from quantdesk.jobs.sandbox import Detection, Level, LiveLog, Outcome, Sandbox, SandboxRun
from quantdesk.jobs.updates import DATA_UPDATE, run_update_job
from quantdesk.storage import Database
from quantdesk.storage import jobs as job_store
from quantdesk.storage.bus import BusSender, sender_for
from quantdesk.storage.job_meta import headline_metrics

#: How often a running job checks whether it was cancelled (cancel must land within 2 s).
CANCEL_POLL_SECONDS = 0.25
#: Signals that, ending a job from inside its sandbox (not by a limit), count as a lost
#: worker: the job is retried, then fails WORKER_LOST. Others (SIGSEGV...) are crashes.
KILL_SIGNALS = frozenset({signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGHUP,
                          signal.SIGQUIT})  # fmt: skip
#: Longest log line sent live (the file keeps it whole).
LIVE_LINE_CHARS = 2000
#: Equity points per live message (under the bus's datagram size).
EQUITY_BATCH = 1000
#: Characters of log lines per live message (under the bus's datagram size).
LIVE_BATCH_CHARS = 40_000
#: Progress reaches the database at most this often (and with every lease heartbeat).
PROGRESS_SECONDS = 1.0
#: Inputs copied into the job's private folder.
INPUTS = ("strategy.py", "config.yml")


def child_env(settings: Settings | None = None) -> dict[str, str]:
    """The whole environment of a job.

    No proxies, no credentials, deterministic hashing, one thread per pool; plus
    ``RQALPHA_COMMAND`` and ``RQALPHA_BUNDLE_PATH`` from ``settings`` (the external engine a
    job may run and its data).
    """
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
    }
    if settings is not None and settings.rqalpha_command:
        env["RQALPHA_COMMAND"] = settings.rqalpha_command
    if settings is not None and settings.rqalpha_bundle_path is not None:
        env["RQALPHA_BUNDLE_PATH"] = str(settings.rqalpha_bundle_path.resolve())
    return env


def _metrics(folder: RunFolder) -> dict[str, float | None] | None:
    """The headline metrics of a finished job's summary (its own file: checked, never trusted).

    ``None`` when the summary cannot be read (the job still FINISHED; the list shows blanks).
    """
    try:
        summary = read_json_members(folder.file(EXTRACTED), ("summary",))["summary"]
    except (OSError, CorruptFile):
        return None
    return headline_metrics(summary) if isinstance(summary, dict) else None


def _timeout_error(folder: RunFolder, seconds: float) -> tuple[JobErrorCode, str]:
    """The contract's timeout error: ``RQALPHA_TIMEOUT`` when the job ran on RQAlpha."""
    try:
        engine = folder.read_config().engine
    except (OSError, ValueError):
        engine = None
    if engine == "rqalpha":
        return JobErrorCode.RQALPHA_TIMEOUT, f"rqalpha timeout after {seconds:g}s; see run.log"
    return JobErrorCode.BACKTEST_TIMEOUT, f"backtest timeout after {seconds:g}s; see run.log"


class JobRunner:
    """Runs claimed jobs for one worker slot.

    Args:
        db: The job database.
        settings: Timeouts, limits, lease length and the base dir.
        worker_id: Recorded as the lease owner.
        stop: Set to ask a running job to stop (the job is released back to the queue).
        exit_with_parent: Also stop (and release the job) when the parent process dies.
        slot: The worker slot (its sandbox uid is ``BACKTEST_SANDBOX_UIDS`` first + slot).
        forkserver: The slot's template (created on first use when not given).
        bus: Where live progress and log lines go (default: ``REDIS_URL``'s bus, else the
            local socket of the API's hub); lossy, never blocks the job.
    """

    def __init__(
        self,
        db: Database,
        settings: Settings,
        worker_id: str,
        stop: threading.Event,
        *,
        exit_with_parent: bool = False,
        slot: int = 0,
        forkserver: ForkServer | None = None,
        bus: BusSender | None = None,
    ) -> None:
        self.exit_with_parent = exit_with_parent
        self.bus = bus if bus is not None else sender_for(settings.redis_url, settings.hub_socket)
        self.db = db
        self.settings = settings
        self.worker_id = worker_id
        self.stop = stop
        self.slot = slot
        self.forkserver = forkserver or ForkServer(f"forkserver[{worker_id}]")
        self.sandbox = Sandbox(settings, self.forkserver)
        self._timings: dict[str, float] = {}
        self._usage: dict[str, float] = {}

    def prepare(self) -> Detection:
        """Start the template, sweep the slot's leftover control groups, run the sandbox self-test.

        Done once; ``run`` calls it when needed.
        """
        if self.sandbox.detection is None:
            self.sandbox.sweep(prefix=f"s{self.slot}-")
            Catalog(self.settings.data_dir).make_readable()
            self.forkserver.warm(str(self.settings.data_dir.resolve()))
            try:
                self.sandbox.detect(self.slot)
            except ForkServerError as exc:  # not kept: the next job tries again
                return Detection(frozenset(), Level.WEAK, (f"the fork server failed: {exc}",))
        assert self.sandbox.detection is not None
        return self.sandbox.detection

    def close(self) -> None:
        """Stop the fork server and close the bus."""
        self.forkserver.close()
        self.bus.close()

    def _publish(self, job_id: str, event: str, data: dict[str, Any]) -> None:
        """A live message on ``job.{job_id}`` (see ``quantdesk.core.events``)."""
        payload = {"job_id": job_id, "task_id": job_id, **data}
        self.bus.send(StreamMessage(job_channel(job_id), event, payload))

    def run(self, job: job_store.ClaimedJob) -> JobStatus | None:
        """Run ``job`` to a final state.

        ``None`` when the lease was lost, the job was released, or it went back to the queue.
        """
        settings = self.settings
        self._timings = {"claimed": time.time()}
        self._usage = {}
        if job.request.get("kind") == DATA_UPDATE:
            return self._run_update(job)
        detection = self.prepare()
        folder = RunFolder(settings.backtest_base_dir.resolve(), job.run_dir)
        folder.clear_outputs()
        folder.append_log(
            f"=== attempt {job.attempts} on {self.worker_id} at {utcnow().isoformat()} "
            f"({detection.describe()}) ==="
        )
        if job.sandbox_level != detection.level:  # (a worker records it with the claim)
            job_store.record_sandbox(self.db, job.id, job.fence, str(detection.level))
        if not detection.runnable:
            message = (
                "BACKTEST_SANDBOX=strict refuses to run user code: the sandbox lacks "
                f"{', '.join(detection.missing)} on this worker (see README, Security model)"
            )
            folder.append_log(f"ERROR {JobErrorCode.SANDBOX_UNAVAILABLE}: {message}")
            return self._finish(folder, job, JobStatus.FAILED,
                                JobErrorCode.SANDBOX_UNAVAILABLE, message)  # fmt: skip
        progress: dict[str, Any] = {}
        reported: dict[str, str] = {}

        def on_event(message: dict[str, Any]) -> None:
            update = progress_event(message)
            if update is not None:
                progress.update(update)
                self._publish(job.id, "progress", {**update, "pct": update["progress"]})
                points = equity_points(message)
                for i in range(0, len(points), EQUITY_BATCH):
                    self._publish(job.id, "equity", {"points": points[i : i + EQUITY_BATCH]})
            error = error_event(message)
            if error is not None:
                reported.update(error)
            for key, name in (("sandbox_ready_at", "ready"), ("started_at", "init")):
                value = message.get(key)
                if isinstance(value, float) and name not in self._timings:
                    self._timings[name] = min(value, time.time())

        policy = self.sandbox.policy(
            self.slot, work_dir=folder.path, inputs=INPUTS, env=child_env(settings),
            cgroup=f"s{self.slot}-",
        )  # fmt: skip
        log_bytes = settings.backtest_log_mb * 2**20
        log = LiveLog(folder.path / RUN_LOG, log_bytes)
        try:
            run = self.forkserver.spawn(policy, "job", {"log_bytes": log_bytes}, log, on_event)
        except (OSError, ForkServerError) as exc:
            log.close()
            message = f"the sandbox could not start the job: {exc}"
            folder.append_log(f"ERROR {JobErrorCode.INTERNAL_ERROR}: {message}")
            return self._finish(folder, job, JobStatus.FAILED, JobErrorCode.INTERNAL_ERROR, message)
        self._timings["spawned"] = time.time()
        self._status(folder, job, JobStatus.RUNNING)  # after the fork: not on the job's clock
        try:
            return self._supervise(folder, job, run, progress, reported, log)
        except BaseException:
            self._stop(run)  # never leave a job running unsupervised
            raise
        finally:
            run.close()
            log.close()

    def _stop(self, run: SandboxRun) -> None:
        """Kill the run, and remove its control group should its monitor not have."""
        run.kill()
        if run.cgroup:
            group = self.sandbox.cgroup(run.cgroup)
            if group is not None:
                group.remove()

    def _supervise(
        self,
        folder: RunFolder,
        job: job_store.ClaimedJob,
        run: SandboxRun,
        progress: dict[str, Any],
        reported: dict[str, str],
        log: LiveLog,
    ) -> JobStatus | None:
        settings = self.settings
        lease = settings.job_lease_seconds
        beat_every = max(lease / 3, 0.05)
        parent = _parent()
        deadline = time.monotonic() + settings.backtest_timeout
        next_beat = time.monotonic() + beat_every
        next_cancel_check = time.monotonic() + CANCEL_POLL_SECONDS
        last_write, written = time.monotonic(), dict(progress)
        while True:
            now = time.monotonic()
            ended = run.wait(
                max(0.0, min(next_beat, next_cancel_check, deadline, now + 0.25) - now)
            )
            self._publish_log(job.id, log)
            if ended:
                break
            now = time.monotonic()
            if self.stop.is_set() or (self.exit_with_parent and _parent() != parent):
                self._stop(run)
                folder.append_log("worker stopping: job released back to the queue")
                job_store.release(self.db, job.id, job.fence)
                return None
            if now >= next_cancel_check:
                next_cancel_check = now + CANCEL_POLL_SECONDS
                if job_store.cancel_requested(self.db, job.id):
                    self._stop(run)
                    folder.append_log("CANCELLED: stopped at the user's request")
                    return self._finish(folder, job, JobStatus.CANCELLED, None, None, progress)
            if now >= deadline:
                self._stop(run)
                code, message = _timeout_error(folder, settings.backtest_timeout)
                folder.append_log(f"ERROR {code}: {message}")
                return self._finish(folder, job, JobStatus.FAILED, code, message, progress)
            moved = progress and progress != written and now >= last_write + PROGRESS_SECONDS
            if now >= next_beat or moved:
                next_beat = now + beat_every
                last_write, written = now, dict(progress)
                if not job_store.heartbeat(self.db, job.id, job.fence, lease, progress or None):
                    self._stop(run)
                    folder.append_log("lease lost: another worker owns this job now")
                    return None
        return self._conclude(folder, job, run.outcome or Outcome(error="no outcome"),
                              progress, reported)  # fmt: skip

    def _run_update(self, job: job_store.ClaimedJob) -> JobStatus | None:
        """A data-update job (``jobs.updates``): no sandbox, the worker's own process."""
        folder = RunFolder(self.settings.backtest_base_dir.resolve(), job.run_dir)
        folder.append_log(
            f"=== attempt {job.attempts} on {self.worker_id} at {utcnow().isoformat()} ==="
        )
        self._status(folder, job, JobStatus.RUNNING)
        outcome = run_update_job(
            self.db, self.settings, job, folder, stop=self.stop,
            publish=lambda event, data: self._publish(job.id, event, data),
        )  # fmt: skip
        if outcome is None:
            return None
        status, code, message, progress = outcome
        return self._finish(folder, job, status, code, message, progress)

    def _conclude(
        self,
        folder: RunFolder,
        job: job_store.ClaimedJob,
        outcome: Outcome,
        progress: dict[str, Any],
        reported: dict[str, str],
    ) -> JobStatus | None:
        """The final state from what the monitor saw (trusted) and the job said (not)."""
        s = self.settings
        self._usage = {"peak_memory_mb": round(outcome.peak_memory / 2**20, 1),
                       "oom_kills": outcome.oom_kills,
                       "pids_limit_hits": outcome.pids_limit_hits}  # fmt: skip
        failure: tuple[str, str] | None = None
        if outcome.error:
            failure = (JobErrorCode.INTERNAL_ERROR, f"sandbox: {outcome.error}")
        elif outcome.oom_kills:
            failure = (JobErrorCode.MEMORY_LIMIT,
                       f"the job used more than BACKTEST_MEMORY_MB={s.backtest_memory_mb} MiB "
                       "of memory and was killed")  # fmt: skip
        elif outcome.pids_limit_hits:
            failure = (JobErrorCode.PROCESS_LIMIT,
                       f"the job tried to run more than BACKTEST_MAX_PROCS={s.backtest_max_procs} "
                       "processes/threads")  # fmt: skip
        elif outcome.disk_full and outcome.exit_code != 0:
            folder_full = outcome.full.startswith("the job folder")
            size = s.backtest_disk_mb if folder_full else s.backtest_tmp_mb
            setting = "BACKTEST_DISK_MB" if folder_full else "BACKTEST_TMP_MB"
            failure = (JobErrorCode.DISK_LIMIT,
                       f"{outcome.full} is full ({setting}={size} MiB)")  # fmt: skip
        elif outcome.exit_code == 0 and (folder.path / EXTRACTED).is_file():
            return self._finish(
                folder, job, JobStatus.FINISHED, None, None, progress, _metrics(folder)
            )
        elif outcome.signal in KILL_SIGNALS:
            name = signal.Signals(outcome.signal).name
            folder.append_log(f"the job's process (or its parent) was killed ({name}) from inside")
            return self._lost(folder, job)
        elif reported:
            failure = (reported["code"], reported["message"])
        else:
            how = (f"signal {_signal_name(outcome.signal)}" if outcome.signal is not None
                   else f"status {outcome.exit_code}")  # fmt: skip
            failure = (JobErrorCode.INTERNAL_ERROR, f"the backtest process exited with {how}; "
                                                    "see run.log")  # fmt: skip
        code, message = failure
        if not reported or reported.get("code") != code:
            folder.append_log(f"ERROR {code}: {message}")
        return self._finish(folder, job, JobStatus.FAILED, code, message, progress)

    def _publish_log(self, job_id: str, log: LiveLog) -> None:
        """Send the lines the job wrote since the last call, in batches under the bus's size."""
        lines = log.take_lines()
        batch: list[str] = []
        size = 0
        for whole in lines:
            line = whole[:LIVE_LINE_CHARS]
            if batch and size + len(line) > LIVE_BATCH_CHARS:
                self._publish(job_id, "log", {"lines": batch})
                batch, size = [], 0
            batch.append(line)
            size += len(line) + 8
        if batch:
            self._publish(job_id, "log", {"lines": batch})

    def _lost(self, folder: RunFolder, job: job_store.ClaimedJob) -> JobStatus | None:
        status = job_store.requeue_lost(self.db, job.id, job.fence)
        if status is None:
            folder.append_log("lease lost before commit: discarded")
            return None
        if status == JobStatus.FAILED:
            row_error = "the job's process died on every attempt"
            self._status(folder, job, status, JobErrorCode.WORKER_LOST, row_error)
            return status
        folder.append_log("requeued for another attempt")
        self._status(folder, job, JobStatus.QUEUED)
        return None

    def _finish(
        self,
        folder: RunFolder,
        job: job_store.ClaimedJob,
        status: JobStatus,
        code: str | None,
        message: str | None,
        progress: dict[str, Any] | None = None,
        metrics: dict[str, float | None] | None = None,
    ) -> JobStatus | None:
        if not job_store.finish(
            self.db, job.id, job.fence, status, code, message, progress, metrics
        ):
            folder.append_log(f"lease lost before commit: {status} discarded")
            return None
        if code is not None:
            with contextlib.suppress(OSError):
                folder.write_error(JobFailure(code=code, message=message))
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
        detection = self.sandbox.detection
        folder.write_status(
            JobStatusFile(
                job_id=job.id,
                status=status,
                error=JobFailure(code=code, message=message) if code else None,
                attempt=job.attempts,
                worker=self.worker_id,
                sandbox=detection.as_dict() if detection else None,
                startup_ms=_startup_ms(self._timings),
                usage=self._usage,
                updated_at=utcnow().isoformat(),
            )
        )


def _startup_ms(timings: dict[str, float]) -> dict[str, float]:
    """Milliseconds from the claim to each later moment of the job's start.

    The fork server's reply (``claim_to_spawned``), the sandbox entered (``claim_to_ready``),
    the strategy's ``init`` (``claim_to_init``).
    """
    claimed = timings.get("claimed")
    if claimed is None:
        return {}
    return {
        f"claim_to_{name}": round((value - claimed) * 1000, 2)
        for name, value in timings.items()
        if name != "claimed"
    }


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _parent() -> int:
    return os.getppid()
