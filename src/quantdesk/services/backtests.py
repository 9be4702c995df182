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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import Field, field_validator, model_validator
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
from quantdesk.jobs.results import read_json_members, read_result_page
from quantdesk.services.auth import Principal
from quantdesk.services.retention import JobRetention
from quantdesk.services.strategies import (
    StrategyService,
    check_inline_code,
    check_strategy_id,
)
from quantdesk.services.views_jobs import Equity, JobStatusView, Performance, ResultView
from quantdesk.storage import Database, DbSession, job_queries
from quantdesk.storage import idempotency as key_store
from quantdesk.storage import jobs as job_store
from quantdesk.storage.models import JobRow

MAX_PAGE_SIZE = 1000
#: The spec's fields that ``prepare`` resolves (defaults made explicit) before a job is queued.
RESOLVED = {"universe", "benchmark", "engine", "market"}


class RunRequest(BacktestSpec):
    """A backtest request (``POST /api/backtest/run``): the contract's fields and the spec's.

    ``strategy_id`` names the user's strategy; ``version`` runs a saved version of its code
    (default the latest). Or, as zquant does, ``strategy_code`` runs inline code (with an
    optional ``strategy_name``): it is checked like a saved strategy and snapshotted with the
    job, and never kept in the request's dump. Validation keeps the contract's rules and
    messages.
    """

    strategy_id: str | None = Field(None, description="1-64 chars: CJK, letters, digits, _ or -")
    version: int | None = Field(
        None, ge=1, le=MAX_ID, description="run this saved version of the code"
    )
    strategy_code: str | None = Field(
        None, exclude=True, description="inline code to run instead of a saved strategy"
    )
    strategy_name: str | None = Field(
        None, max_length=200, description="the inline run's name (a saved strategy's own name)"
    )

    @model_validator(mode="after")
    def _one_strategy(self) -> RunRequest:
        if self.strategy_code is not None and self.strategy_id is not None:
            raise PydanticCustomError(
                "strategy_ambiguous", "give strategy_id or strategy_code, not both"
            )
        if self.strategy_code is not None and self.version is not None:
            raise PydanticCustomError(
                "version_inline", "version applies to a saved strategy, not to strategy_code"
            )
        return self

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


def _of_type(value: Any, kind: type[dict[str, Any]] | type[list[Any]]) -> Any:
    """``value`` when it is a ``kind`` (dict or list), else an empty one."""
    return value if isinstance(value, kind) else kind()


def _strings(value: Any) -> list[str]:
    """The strings of ``value`` when it is a list, else ``[]``."""
    return [v for v in _of_type(value, list) if isinstance(v, str)]


def _equity(value: Any) -> Equity:
    """The result's ``equity`` arrays; missing arrays (or non-numbers in them) come back empty."""
    equity = _of_type(value, dict)

    def numbers(key: str) -> list[float | None]:
        return [
            float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None
            for v in _of_type(equity.get(key), list)
        ]

    dates = [str(d) for d in _of_type(equity.get("dates"), list)]
    return Equity(
        dates=dates, nav=numbers("nav"), returns=numbers("returns"),
        benchmark_nav=numbers("benchmark_nav"),
    )  # fmt: skip


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
        self._retention = JobRetention(db, settings)
        #: The latest live progress of a running job (the API's hub), newer than the
        #: database's (written on each lease heartbeat); ``None`` outside an API process.
        self.live: Callable[[str], Mapping[str, Any] | None] | None = None

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
        code_version: int | None = None  # inline code has no saved version
        if request.strategy_code is not None:
            code = check_inline_code(request.strategy_code)
        else:
            strategy_id = check_strategy_id(request.strategy_id)
            canonical = self._strategies.resolve(principal, strategy_id)
            code = (
                self._strategies.version(principal, canonical, request.version).code
                if request.version is not None
                else self._strategies.read_code(principal, canonical)
            )  # an old id runs the renamed one
            name, latest = self._strategies.name_and_version(principal, canonical)
            request = request.model_copy(
                update={"strategy_id": canonical, "strategy_name": name or None}
            )
            code_version = request.version or latest
        allowed = self._settings.allowed_frequencies
        if request.frequency not in allowed:
            raise InvalidArgument(f"frequency must be one of {', '.join(allowed)}")
        try:
            prepared = prepare(
                code, request, catalog=self._catalog, settings=self._settings,
                strategy_name=request.strategy_id or request.strategy_name or "inline",
            )  # fmt: skip
        except NotFound as exc:  # an unknown instrument is a bad field, not a missing resource
            raise InvalidArgument(exc.message) from None
        resolved = request.model_copy(update=prepared.spec.model_dump(include=RESOLVED))
        digest = request_digest(code, resolved)
        window = self._settings.backtest_idempotency_window_seconds
        return self.enqueue(
            principal, resolved, code, digest,
            dedup_seconds=0.0 if key_use else window, key_use=key_use, code_version=code_version,
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
        code_version: int | None = None,
    ) -> str:
        """Write the job folder and insert the QUEUED row; returns the job id.

        ``request`` is resolved (its universe, benchmark and engine as they will run); its dump
        is the row's ``request`` and, with the job's id and the catalog, ``config.yml``.

        With ``key_use`` (an ``Idempotency-Key``) the job that key created is returned when it
        is remembered (422 ``Unprocessable`` for another body), else the new job is recorded
        under it. Else, with ``dedup_seconds > 0``, an identical request (same ``digest``)
        submitted within that many seconds returns the existing job instead (never a
        FAILED/CANCELLED one). ``code_version`` is the saved version the code is (``None`` for
        inline code).
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
                found = job_queries.recent_duplicate(session, principal.user_id, digest, since)
                return found.id if found is not None else None
            return None

        with self._db.read() as session:
            known = existing(session)
        if known is not None:
            return known
        # Files first, then a short transaction: the write lock is never held across fsyncs.
        strategy_id = request.strategy_id or ""  # "" marks an inline run
        normalized = request.model_dump(mode="json")
        config = JobConfig(
            **{**request.model_dump(), "strategy_id": strategy_id},
            job_id=job_id, data_dir=str(self._catalog.root.resolve()),
        )  # fmt: skip
        folder.create(
            code=code,
            config=config,
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
                        strategy_name=request.strategy_name or "", status=JobStatus.QUEUED,
                        request=normalized, request_hash=digest,
                        run_dir=folder.relative, created_at=now, updated_at=now,
                        attempts=0, max_attempts=self._settings.job_max_attempts, fence=0,
                        progress=0.0, current_bar=0, total_bars=0, retry_of=retry_of,
                        idempotency_key=key_use.key if key_use is not None else None,
                        strategy_version=code_version,
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
        """Remove old date buckets now (``JobRetention.run``); the buckets removed."""
        return self._retention.run(now, force=force)

    # -- reads ---------------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Jobs per status, across users (for health checks)."""
        with self._db.read() as session:
            return job_queries.count_by_status(session)

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
        # A field the file lacks (or holds in another shape) comes back empty (the contract).
        return ResultView(
            job_id=job_id,
            summary=_of_type(payload["summary"], dict),
            equity=_equity(payload["equity"]),
            trades=[t for t in payload["trades"] if isinstance(t, dict)],
            trade_columns=_strings(payload["trade_columns"]),
            trades_total=payload["trades_total"],
            raw_keys=_strings(payload["raw_keys"]),
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
        members = ("summary", "trades", "positions", "portfolio")
        try:  # streamed: never the whole file (it is the job's, up to BACKTEST_DISK_MB)
            path = RunFolder(self._base, row.run_dir).file("result.json")
            full = read_json_members(path, members)
        except (FileNotFoundError, CorruptFile):
            raise InternalError(f"the result file of job {job_id} is missing or corrupt") from None
        summary = _of_type(full["summary"], dict)
        names = {
            "total_return": "total_returns", "annual_return": "annualized_returns",
            "max_drawdown": "max_drawdown", "sharpe_ratio": "sharpe", "win_rate": "win_rate",
            "profit_loss_ratio": "profit_loss_ratio", "alpha": "alpha", "beta": "beta",
        }  # fmt: skip
        positions = {
            c: v for c, v in _of_type(full["positions"], dict).items() if isinstance(v, list)
        }
        columns = list(positions)
        rows = zip(*(positions[c] for c in columns), strict=False) if columns else iter(())
        metrics = {k: summary.get(v) for k, v in names.items()}
        return Performance(
            job_id=job_id,
            metrics={
                k: v if isinstance(v, int | float) and not isinstance(v, bool) else None
                for k, v in metrics.items()
            },
            summary=summary,
            trades=[t for t in _of_type(full["trades"], list) if isinstance(t, dict)],
            portfolio=[dict(zip(columns, r, strict=True)) for r in rows],
            daily=_of_type(full["portfolio"], dict),
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
