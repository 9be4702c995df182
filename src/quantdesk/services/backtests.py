"""Backtest jobs: submit (validate, dedup, enqueue), status, result and log.

Life of a job: ``submit`` validates the request against the catalog (dates, frequency
whitelist, cash, instruments, market...), dedups it, then inserts the QUEUED row and writes the
job folder in one unit and answers with the id only after the commit. A worker claims it
(``quantdesk.jobs``), and the result is read back from ``extracted.json``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from quantdesk.backtest.run import prepare
from quantdesk.backtest.spec import BacktestSpec
from quantdesk.core.clock import iso_utc, utcnow
from quantdesk.core.errors import (
    InternalError,
    InvalidArgument,
    NotFound,
    QuantdeskError,
    ResultNotReady,
)
from quantdesk.core.jobs import JobStatus
from quantdesk.core.limits import MAX_ID
from quantdesk.core.settings import Settings
from quantdesk.data import Catalog
from quantdesk.jobs.artifacts import (
    EXTRACTED,
    RUN_LOG,
    CorruptFile,
    JobConfig,
    JobMeta,
    RunFolder,
    iter_file,
    run_dir_for,
)
from quantdesk.jobs.logs import LogChunk, read_log_chunk
from quantdesk.jobs.results import read_result_page
from quantdesk.services.auth import Principal
from quantdesk.services.strategies import StrategyService, check_strategy_id
from quantdesk.services.views_jobs import Equity, JobStatusView, Performance, ResultView
from quantdesk.storage import Database, DbSession
from quantdesk.storage import idempotency as key_store
from quantdesk.storage import jobs as job_store
from quantdesk.storage.models import JobRow

CLEANUP_EVERY_SECONDS = 600.0
MAX_PAGE_SIZE = 1000
#: The spec's fields that ``prepare`` resolves (defaults made explicit) before a job is queued.
RESOLVED = {"universe", "benchmark", "engine", "market"}


class RunRequest(BacktestSpec):
    """A backtest request (``POST /api/backtest/run``): the contract's fields and the spec's.

    ``strategy_id`` names the user's strategy; ``version`` runs a saved version of its code
    (default the latest). Validation keeps the contract's rules and messages.
    """

    strategy_id: str = Field(description="1-64 chars: CJK, letters, digits, _ or -")
    version: int | None = Field(
        None, ge=1, le=MAX_ID, description="run this saved version of the code"
    )

    @field_validator("benchmark", mode="after")
    @classmethod
    def _non_empty(cls, value: str | None) -> str | None:
        if value is not None and not value:
            raise PydanticCustomError("benchmark_empty", "benchmark must be a non-empty string")
        return value


@dataclass(frozen=True)
class LogStream:
    """The whole run log as UTF-8 bytes, in chunks.

    What the file held when it was asked for; closing ``chunks`` closes the file.
    """

    chunks: Iterator[bytes]


def request_digest(code: str, request: RunRequest) -> str:
    """SHA-256 of the code and the resolved request: identical runs have the same digest."""
    body = json.dumps({"code": code, "request": request.model_dump(mode="json")}, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()


class BacktestService:
    """Submit and read backtest jobs of the calling user."""

    def __init__(
        self, db: Database, settings: Settings, catalog: Catalog, strategies: StrategyService
    ) -> None:
        self._db = db
        self._settings = settings
        self._catalog = catalog
        self._strategies = strategies
        self._base = settings.backtest_base_dir.resolve()
        self._last_cleanup = 0.0
        #: The latest live progress of a running job (the API's hub), newer than the
        #: database's (written on each lease heartbeat); ``None`` outside an API process.
        self.live: Callable[[str], dict[str, Any] | None] | None = None

    # -- submit --------------------------------------------------------------------------------

    def submit(
        self, principal: Principal, request: RunRequest, idempotency_key: str | None = None
    ) -> str:
        """Validate, dedup and enqueue ``request``; returns the job id.

        With an ``Idempotency-Key``, the same key (per user) and the same body return the job
        it first created for ``IDEMPOTENCY_KEY_HOURS`` (24 h); the same key with another body
        is refused (422). Without a key, an identical request within
        ``BACKTEST_IDEMPOTENCY_WINDOW_SECONDS`` returns the job it created (the dedup window).

        Raises:
            InvalidArgument: a field breaks a rule (the message names it).
            NotFound: the strategy does not exist (for this user).
            DataUnavailable: the dates or instruments are outside the catalog.
            Unprocessable: the Idempotency-Key was used for another request.
        """
        key_use = None
        if idempotency_key is not None:
            if not 1 <= len(idempotency_key) <= 128 or not idempotency_key.isprintable():
                raise InvalidArgument("Idempotency-Key must be 1-128 printable characters")
            body = request.model_dump_json()
            since = utcnow() - dt.timedelta(hours=self._settings.idempotency_key_hours)
            fingerprint = hashlib.sha256(body.encode()).hexdigest()
            key_use = key_store.KeyUse(principal.user_id, idempotency_key, fingerprint, since)
            with self._db.read() as session:
                known = key_store.keyed_job(session, key_use)
            if known is not None:
                return known  # the same job, whatever happened to the strategy since
        check_strategy_id(request.strategy_id)
        allowed = self._settings.allowed_frequencies
        if request.frequency not in allowed:
            raise InvalidArgument(f"frequency must be one of {', '.join(allowed)}")
        canonical = self._strategies.resolve(principal, request.strategy_id)
        if canonical != request.strategy_id:  # an old id runs the renamed one
            request = request.model_copy(update={"strategy_id": canonical})
        code = (
            self._strategies.version(principal, request.strategy_id, request.version).code
            if request.version is not None
            else self._strategies.read_code(principal, request.strategy_id)
        )
        try:
            prepared = prepare(
                code, request, catalog=self._catalog, settings=self._settings,
                strategy_name=request.strategy_id,
            )  # fmt: skip
        except NotFound as exc:  # an unknown instrument is a bad field, not a missing resource
            raise InvalidArgument(exc.message) from None
        resolved = request.model_copy(update=prepared.spec.model_dump(include=RESOLVED))
        digest = request_digest(code, resolved)
        window = self._settings.backtest_idempotency_window_seconds
        return self.enqueue(
            principal, resolved, code, digest,
            dedup_seconds=0.0 if key_use else window, key_use=key_use,
        )  # fmt: skip

    def enqueue(
        self,
        principal: Principal,
        request: RunRequest,
        code: str,
        digest: str,
        *,
        dedup_seconds: float = 0.0,
        retry_of: str | None = None,
        key_use: key_store.KeyUse | None = None,
    ) -> str:
        """Write the job folder and insert the QUEUED row; returns the job id.

        ``request`` is resolved (its universe, benchmark and engine as they will run); its dump
        is the row's ``request`` and, with the job's id and the catalog, ``config.yml``.

        With ``key_use`` (an ``Idempotency-Key``) the job that key created is returned when it
        is remembered (422 ``Unprocessable`` for another body), else the new job is recorded
        under it. Else, with ``dedup_seconds > 0``, an identical request (same ``digest``)
        submitted within that many seconds returns the existing job instead (never a
        FAILED/CANCELLED one).
        """
        now = utcnow()
        self.cleanup(now)
        since = now - dt.timedelta(seconds=dedup_seconds)
        job_id = uuid.uuid4().hex
        folder = RunFolder(self._base, run_dir_for(job_id, now))

        def existing(session: DbSession) -> str | None:
            if key_use is not None:
                return key_store.keyed_job(session, key_use)
            if dedup_seconds > 0:
                found = job_store.recent_duplicate(session, principal.user_id, digest, since)
                return found.id if found is not None else None
            return None

        with self._db.read() as session:
            known = existing(session)
        if known is not None:
            return known
        # Files first, then a short transaction: the write lock is never held across fsyncs.
        strategy_id = request.strategy_id
        normalized = request.model_dump(mode="json")
        folder.create(
            code=code,
            config=JobConfig(
                **request.model_dump(), job_id=job_id, data_dir=str(self._catalog.root.resolve())
            ),
            meta=JobMeta(
                job_id=job_id, strategy_id=strategy_id, owner_id=principal.user_id,
                created_at=iso_utc(now) or "", request=normalized, request_hash=digest,
                retry_of=retry_of,
            ),
        )  # fmt: skip
        duplicate: str | None = None
        try:
            with self._db.write() as session:
                # Serializes identical submissions so exactly one job is created.
                lock = f"key:{key_use.key}" if key_use is not None else digest
                key_store.lock_request(session, principal.user_id, lock)
                duplicate = existing(session)
                if duplicate is None:
                    job_store.insert(
                        session,
                        id=job_id, owner_id=principal.user_id, strategy_id=strategy_id,
                        status=JobStatus.QUEUED, request=normalized, request_hash=digest,
                        run_dir=folder.relative, created_at=now, updated_at=now,
                        attempts=0, max_attempts=self._settings.job_max_attempts, fence=0,
                        progress=0.0, current_bar=0, total_bars=0, retry_of=retry_of,
                        idempotency_key=key_use.key if key_use is not None else None,
                    )  # fmt: skip
                    if key_use is not None:
                        key_store.remember_key(session, key_use, job_id, now)
        except BaseException:
            folder.remove()
            raise
        if duplicate is not None:
            folder.remove()
            return duplicate
        return job_id

    def cleanup(self, now: dt.datetime, *, force: bool = False) -> list[str]:
        """Remove date buckets of ``runs/`` older than ``BACKTEST_KEEP_DAYS``, with their jobs.

        At most every ``CLEANUP_EVERY_SECONDS`` per process unless ``force``. Only finished
        jobs go: folders of QUEUED/RUNNING jobs are kept. Also forgets expired
        Idempotency-Keys. Returns the buckets touched.
        """
        if not force and now.timestamp() - self._last_cleanup < CLEANUP_EVERY_SECONDS:
            return []
        self._last_cleanup = now.timestamp()
        with self._db.write() as session:
            key_store.forget_keys(
                session, now - dt.timedelta(hours=self._settings.idempotency_key_hours)
            )
        cutoff = (now - dt.timedelta(days=self._settings.backtest_keep_days)).date()
        runs = self._base / "runs"
        touched = []
        for bucket in sorted(runs.glob("????-??-??")) if runs.is_dir() else []:
            try:
                day = dt.date.fromisoformat(bucket.name)
            except ValueError:
                continue
            if day >= cutoff:
                continue
            with self._db.write() as session:
                kept = job_store.purge_bucket(session, bucket.name)
            for folder in bucket.iterdir():
                relative = f"runs/{bucket.name}/{folder.name}"
                if relative not in kept:
                    RunFolder(self._base, relative).remove()
            if not any(bucket.iterdir()):
                bucket.rmdir()
            touched.append(bucket.name)
        return touched

    # -- reads ---------------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Jobs per status, across users (for health checks)."""
        with self._db.read() as session:
            return job_store.count_by_status(session)

    def _job(self, principal: Principal, job_id: str) -> JobRow:
        with self._db.read() as session:
            return job_store.owned(session, job_id, principal.user_id)

    def status(self, principal: Principal, job_id: str) -> JobStatusView:
        """The job status object.

        Raises:
            NotFound: no such job of the caller.
        """
        view = JobStatusView.of(self._job(principal, job_id))
        live = self.live(job_id) if self.live is not None else None
        if view.status == JobStatus.RUNNING and live is not None:
            try:
                done, total = int(live["current_bar"]), int(live["total_bars"])
                pct = float(live["progress"])
            except (KeyError, TypeError, ValueError):
                return view
            if done >= view.current_bar:
                view = view.model_copy(
                    update={"progress": pct, "current_bar": done, "total_bars": total}
                )
        return view

    def result(
        self, principal: Principal, job_id: str, page: int | None, page_size: int | None
    ) -> ResultView:
        """The contract's result object, with ``trades`` paginated when asked.

        ``extracted.json`` is read as a stream in one pass: only the asked page of trades is
        kept (all of them without ``page``/``page_size``), the others are only counted.

        Raises:
            NotFound: no such job. ResultNotReady: not FINISHED. InvalidArgument: bad page or
            page_size. InternalError: the result file is missing or corrupt.
        """
        row = self._job(principal, job_id)
        if row.status != JobStatus.FINISHED:
            raise ResultNotReady(f"job {job_id} is {row.status}; the result exists once FINISHED")
        paged = page is not None or page_size is not None
        p = page or 1
        size = page_size or 100
        if paged and (p < 1 or not 1 <= size <= MAX_PAGE_SIZE):
            raise InvalidArgument(f"page must be >= 1 and page_size in 1..{MAX_PAGE_SIZE}")
        start, stop = ((p - 1) * size, p * size) if paged else (0, None)
        folder = RunFolder(self._base, row.run_dir)
        try:
            payload = read_result_page(folder.file(EXTRACTED), start, stop)
        except (FileNotFoundError, CorruptFile):
            raise InternalError(f"the result file of job {job_id} is missing or corrupt") from None
        equity = payload["equity"] if isinstance(payload["equity"], dict) else {}
        return ResultView(
            job_id=job_id,
            summary=payload["summary"] or {},
            equity=Equity.model_validate(
                {k: equity.get(k) or [] for k in ("dates", "nav", "returns", "benchmark_nav")}
            ),
            trades=payload["trades"],
            trade_columns=payload["trade_columns"] or [],
            trades_total=payload["trades_total"],
            raw_keys=payload["raw_keys"] or [],
            page=p if paged else None,
            page_size=size if paged else None,
        )

    def performance(self, principal: Principal, job_id: str) -> Performance:
        """The task-management performance report: ``metrics``, ``trades`` and ``portfolio``.

        ``metrics``: total_return, annual_return, max_drawdown, sharpe_ratio, win_rate,
        profit_loss_ratio, alpha, beta, plus the full summary under ``summary``.
        ``portfolio``: the daily positions.

        Raises:
            NotFound, ResultNotReady, InternalError: as ``result``.
        """
        row = self._job(principal, job_id)
        if row.status != JobStatus.FINISHED:
            raise ResultNotReady(f"job {job_id} is {row.status}; the report exists once FINISHED")
        try:
            full = RunFolder(self._base, row.run_dir).read_json("result.json")
        except ValueError:
            full = None
        if not isinstance(full, dict) or "summary" not in full:
            raise InternalError(f"the result file of job {job_id} is missing or corrupt")
        summary = full["summary"]
        names = {
            "total_return": "total_returns", "annual_return": "annualized_returns",
            "max_drawdown": "max_drawdown", "sharpe_ratio": "sharpe", "win_rate": "win_rate",
            "profit_loss_ratio": "profit_loss_ratio", "alpha": "alpha", "beta": "beta",
        }  # fmt: skip
        positions = full.get("positions") or {}
        columns = list(positions)
        rows = zip(*(positions[c] for c in columns), strict=True) if columns else iter(())
        return Performance(
            job_id=job_id,
            metrics={k: summary.get(v) for k, v in names.items()},
            summary=summary,
            trades=full.get("trades") or [],
            portfolio=[dict(zip(columns, r, strict=True)) for r in rows],
            daily=full.get("portfolio") or {},
        )

    def log(
        self, principal: Principal, job_id: str, offset: int | None, tail: int | None
    ) -> LogStream | LogChunk:
        """The run log: all of it as a stream of bytes, or a slice with ``offset`` / ``tail``.

        All of it: a ``LogStream``. With ``offset`` / ``tail``: a slice of at most ``LOG_CHUNK``
        bytes (``LogChunk``: ``content``, ``offset``, ``next_offset``, ``size``) that never
        splits a UTF-8 character. A missing log (or anything but a regular file) reads as
        empty. The file is never read whole.

        Raises:
            NotFound: no such job. InvalidArgument: negative offset or tail.
        """
        row = self._job(principal, job_id)
        if (offset is not None and offset < 0) or (tail is not None and tail < 0):
            raise InvalidArgument("offset and tail must be >= 0")
        folder = RunFolder(self._base, row.run_dir)
        try:
            path = folder.file(RUN_LOG)
            if offset is None and tail is None:
                return LogStream(iter_file(path))
            final = JobStatus(row.status).is_final  # a final job's log no longer grows
            return read_log_chunk(path, offset=offset, tail=tail, final=final)
        except FileNotFoundError:
            if offset is None and tail is None:
                return LogStream(iter(()))
            return LogChunk(content="", offset=0, next_offset=0, size=0)


__all__ = ["BacktestService", "LogChunk", "LogStream", "QuantdeskError", "RunRequest"]
