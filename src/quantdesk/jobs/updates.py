"""Data-update jobs on the worker pool: a library source into the catalog.

A job whose request has ``"kind": "data_update"`` (``services.data_updates``) runs here, in
the worker's own process rather than the sandbox: the code is quantdesk's adapters (no user
code) and it needs the network, which the sandbox never grants. It has the lifecycle of any
job: lease and heartbeats with progress (instruments done of total), cancel, a timeout
(``DATA_UPDATE_TIMEOUT``), and a fenced final state. ``data.update.run_update`` writes only
after every instrument was fetched and validated, so a failure or a cancel changes nothing.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from quantdesk.core.errors import QuantdeskError
from quantdesk.core.jobs import JobErrorCode, JobStatus
from quantdesk.core.settings import Settings
from quantdesk.data.catalog import Catalog
from quantdesk.data.update import UpdateCancelled, UpdateReport, run_update
from quantdesk.jobs.artifacts import RunFolder, write_json
from quantdesk.storage import Database
from quantdesk.storage import jobs as job_store

#: ``request["kind"]`` of a data-update job.
DATA_UPDATE = "data_update"
#: The report a finished update leaves in its folder.
UPDATE_REPORT = "update_report.json"
#: How often the monitor looks at the update thread, the cancel flag and the clock (s).
POLL_SECONDS = 0.25
#: The code of an update that ran out of ``DATA_UPDATE_TIMEOUT``.
TIMEOUT_CODE = "DATA_UPDATE_TIMEOUT"


@dataclass
class _Outcome:
    report: UpdateReport | None = None
    error: BaseException | None = None


def run_update_job(
    db: Database,
    settings: Settings,
    job: job_store.ClaimedJob,
    folder: RunFolder,
    *,
    stop: threading.Event,
    publish: Callable[[str, dict[str, Any]], None],
    client: Any = None,
) -> tuple[JobStatus, str | None, str | None, dict[str, Any]] | None:
    """Run the update of ``job``; its final ``(status, error code, message, progress)``.

    ``None`` when the lease was lost or the worker is stopping (the job is released back to
    the queue). ``publish(event, data)`` sends live messages on the job's channel.
    """
    request = job.request
    ids = [str(i) for i in request.get("order_book_ids") or []]
    index_ids = [str(i) for i in request.get("index_ids") or []]
    start = dt.date.fromisoformat(str(request["start_date"]))
    end = dt.date.fromisoformat(str(request["end_date"]))
    progress: dict[str, Any] = {"progress": 0.0, "current_bar": 0,
                                "total_bars": len(ids) + len(index_ids)}  # fmt: skip
    cancel = threading.Event()
    outcome = _Outcome()

    def on_progress(done: int, total: int) -> None:
        progress.update(progress=round(100.0 * done / max(total, 1), 1), current_bar=done,
                        total_bars=total)  # fmt: skip
        publish("progress", {**progress, "pct": progress["progress"]})

    def on_log(line: str) -> None:
        folder.append_log(line)
        publish("log", {"lines": [line]})

    def stopped() -> bool:  # asked between instruments: a cancel never waits for the monitor
        return cancel.is_set() or job_store.cancel_requested(db, job.id)

    def work() -> None:
        try:
            outcome.report = run_update(
                Catalog(settings.data_dir), str(request["source"]), ids, start, end,
                index_ids=index_ids, with_members=bool(request.get("with_members")),
                client=client, progress=on_progress, cancelled=stopped, log=on_log,
            )  # fmt: skip
        except BaseException as exc:  # reported by the monitor below
            outcome.error = exc

    what = f"{len(ids)} instrument(s)" + (f" and index(es) {', '.join(index_ids)}"
                                          + (" with their members" if request.get("with_members")
                                             else "") if index_ids else "")  # fmt: skip
    on_log(f"updating {what} from {request['source']} ({start}..{end})")
    thread = threading.Thread(target=work, name=f"update-{job.id}", daemon=True)
    thread.start()
    lease = settings.job_lease_seconds
    deadline = time.monotonic() + settings.data_update_timeout
    next_beat = time.monotonic() + lease / 3
    timed_out = cancelled = False
    while thread.is_alive():
        thread.join(POLL_SECONDS)
        now = time.monotonic()
        if stop.is_set():
            cancel.set()
            thread.join()
            folder.append_log("worker stopping: update released back to the queue")
            job_store.release(db, job.id, job.fence)
            return None
        if not cancelled and job_store.cancel_requested(db, job.id):
            cancelled = True
            cancel.set()
        if not timed_out and now >= deadline:
            timed_out = True
            cancel.set()
        if now >= next_beat:
            next_beat = now + lease / 3
            if not job_store.heartbeat(db, job.id, job.fence, lease, progress):
                cancel.set()
                folder.append_log("lease lost: another worker owns this update now")
                return None
    if outcome.report is not None:
        write_json(folder.path / UPDATE_REPORT, outcome.report.as_dict())
        on_log(
            f"updated {len(outcome.report.reports)} instrument(s) and "
            f"{len(outcome.report.indexes)} index(es)"
        )
        return JobStatus.FINISHED, None, None, progress
    status, code, message = _failure(outcome.error, timed_out, settings.data_update_timeout)
    on_log(f"CANCELLED: {message}" if code is None else f"ERROR {code}: {message}")
    return status, code, message if code is not None else None, progress


def _failure(
    error: BaseException | None, timed_out: bool, timeout: float
) -> tuple[JobStatus, str | None, str]:
    """The final state of an update that wrote nothing: ``(status, code, message)``."""
    if isinstance(error, UpdateCancelled) and timed_out:
        return (
            JobStatus.FAILED,
            TIMEOUT_CODE,
            f"data update timeout after {timeout:g}s; nothing written",
        )
    if isinstance(error, UpdateCancelled):
        return JobStatus.CANCELLED, None, error.message
    if isinstance(error, QuantdeskError):
        return JobStatus.FAILED, error.code, error.message
    return JobStatus.FAILED, JobErrorCode.INTERNAL_ERROR, f"{type(error).__name__}: {error}"
