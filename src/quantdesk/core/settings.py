"""Settings from the environment, ``.env`` and ``.env.wsgi`` (read where an entry point needs them).

Names follow the BackQuant contract (``BACKTEST_*``, ``LOCAL_AUTH_*``, ``JWT_EXPIRES_HOURS``,
``SECRET_KEY``) with paths defaulting under ``./var`` so a fresh checkout runs without root;
quantdesk's own: ``DATA_DIR``, ``DATABASE_URL``, ``WORKERS``, ``JOB_LEASE_SECONDS``.
"""

from __future__ import annotations

import zoneinfo
from pathlib import Path

from croniter import croniter
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The development defaults that must never guard a real deployment.
DEVELOPMENT_PASSWORD = "pass123456"


class Settings(BaseSettings):
    """Process settings. Environment variable names are the field names in upper case.

    Attributes:
        config_env: ``development`` (default) or anything else (``production``): outside
            development a real ``SECRET_KEY`` and admin password are required.
        data_dir: Market-data catalog root (``DATA_DIR``).
        database_url: SQLAlchemy URL; default SQLite file ``./var/quantdesk.db``.
        backtest_base_dir: Strategies and job folders (``BACKTEST_BASE_DIR``).
        backtest_timeout: Seconds one backtest may run before it fails with
            ``BACKTEST_TIMEOUT``.
        backtest_compile_timeout: Seconds of the compile check.
        backtest_keep_days: Date buckets of ``runs/`` older than this are removed.
        backtest_idempotency_window_seconds: Dedup window of identical submissions.
        backtest_allowed_frequencies: Comma-separated whitelist of bar frequencies.
        local_auth_mobile: Login of the local admin.
        local_auth_password: Its password (development default ``pass123456``).
        local_auth_password_hash: Or its argon2 hash.
        local_auth_user_id: Its user id.
        local_auth_is_admin: Whether it is an admin.
        jwt_expires_hours: Token lifetime.
        secret_key: JWT signing key; generated and kept in ``./var/secret_key`` in development.
        workers: Local worker processes started by ``quantdesk serve``.
        job_lease_seconds: Lease of a claimed job; a worker heartbeats at a third of it.
        job_max_attempts: Attempts before a job whose worker keeps dying fails (WORKER_LOST).
        backtest_sandbox: ``strict`` (default): jobs and compile checks run only when the
            sandbox's core layers work; ``off``: no isolation (accepted only with
            ``CONFIG_ENV=development``).
        backtest_memory_mb: Memory limit of one job (MiB) → ``MEMORY_LIMIT``.
        backtest_max_procs: Processes and threads one job may have → ``PROCESS_LIMIT``.
        backtest_cpus: CPU time one job may use, in cores (a control group quota; jobs are
            single-threaded, so 1 is no slower and keeps a busy job off the other cores).
        backtest_disk_mb: Space of a job's folder (MiB) → ``DISK_LIMIT``.
        backtest_tmp_mb: Size of a job's private ``/tmp`` (MiB).
        backtest_log_mb: ``run.log`` is cut at this size (MiB) with a marker line.
        backtest_sandbox_uids: ``FIRST-LAST``: the unprivileged uid/gid of worker slot ``i``
            is ``FIRST + i``; the compile check uses ``LAST``.
        rqalpha_command: How to start RQAlpha for ``engine: rqalpha`` (``RQALPHA_COMMAND``,
            the contract's name): a path such as ``.venv-rqalpha/bin/rqalpha`` or a command
            line such as ``python -m rqalpha``. Unset: ``./.venv-rqalpha/bin/rqalpha`` when
            ``make rqalpha`` created it, else the rqalpha engine is unavailable.
        rqalpha_bundle_path: ``RQALPHA_BUNDLE_PATH`` (the contract's name): an RQAlpha data
            bundle (e.g. from ``rqalpha download-bundle``) that ``engine: rqalpha`` runs on
            instead of one built from the catalog; the result's ``summary.rqalpha_bundle``
            records which ran. Instruments and dates are still checked against the catalog.
        backtest_rename_db_path: ``BACKTEST_RENAME_DB_PATH``: accepted and ignored (logged
            once at start-up): the rename map lives in the main database, so renames stay
            transactional.
        max_request_mb: Largest request body (MiB) → 413, answered before it is read.
        data_upload_mb: Largest market-data file ``POST /api/data/import`` takes (MiB) → 413.
        data_update_timeout: Seconds a data-update job may run → ``DATA_UPDATE_TIMEOUT``.
        data_update_cron: ``DATA_UPDATE_CRON``: a 5-field cron expression (``30 17 * * 1-5``)
            at which the API queues a data update (``services.data_schedule``); unset: none.
        data_update_source: The source of scheduled updates (default ``baostock``).
        data_update_ids: Comma-separated instruments whose bars scheduled updates fetch.
        data_update_indexes: Comma-separated indexes whose membership they refresh.
        data_update_with_members: Also fetch those indexes' members' bars (default true).
        data_update_days: Days back from today each scheduled update re-fetches (merged
            over the stored bars; an instrument whose last bar is older goes back to it).
        data_update_tz: The cron expression's time zone (default: the source's market's,
            ``Asia/Shanghai`` for A-share sources, ``America/New_York`` for US ones).
        cors_origins: Comma-separated origins allowed cross-origin (empty: none, the UI is
            served from the same origin).
        idempotency_key_hours: How long an ``Idempotency-Key`` returns the job it created.
        secret_key_previous: The signing key before the last rotation: its tokens stay valid
            for one ``JWT_EXPIRES_HOURS``.
        redis_url: Redis (``redis://host:6379/0``): login limits and the live stream bus shared
            by every API process and worker.
        login_account_limits: Failed logins one account may have (``limits`` notation, tiers
            separated by ``;``): past any tier it is refused (429) until that tier's oldest
            failure ages out, except from its recent good addresses.
        login_ip_limits: Failed logins one client address may have across all accounts (429
            past it).
        login_trusted_ip_days: How long (days) an address an account logged in from stays a
            "recent good address" of it.
        events_keep_days: Platform events older than this many days are deleted.
        log_dir: Where ``quantdesk serve`` writes ``server.log`` (INFO+) and ``server.err.log``
            (ERROR+), rotated at ``log_max_mb`` keeping ``log_backups``; empty: console only.
        log_json: Log JSON objects (one per line) instead of text.
        research_public_base_url: ``RESEARCH_PUBLIC_BASE_URL``: scheme and host put before
            notebook URLs (empty: the request's own).
        research_notebook_proxy_base: ``RESEARCH_NOTEBOOK_PROXY_BASE``: the same-origin path the
            notebooks are served under (``/jupyter``).
        research_notebook_api_base: ``RESEARCH_NOTEBOOK_API_BASE``: an external Jupyter's URL;
            set, sessions are created through its REST API instead of quantdesk's own
            sandboxed servers.
        research_notebook_api_token: ``RESEARCH_NOTEBOOK_API_TOKEN``: that Jupyter's token.
        research_notebook_root_dir: ``RESEARCH_NOTEBOOK_ROOT_DIR``: where notebook files live
            (default ``./var``).
        research_notebook_default_dir: ``RESEARCH_NOTEBOOK_DEFAULT_DIR``: a directory relative
            to the root; each user's notebooks are under its ``users/<user_id>/`` (default
            ``research/notebooks``, or the root itself when the root is set).
        research_session_ttl_seconds: ``RESEARCH_SESSION_TTL_SECONDS``: a notebook session
            ends (its kernels stop) this long after it was started or last refreshed.
        research_memory_mb: Memory of one user's notebook server and kernels (MiB).
        research_max_procs: Processes and threads of one user's notebook server and kernels.
        research_sandbox_uids: ``FIRST-LAST``: user ``u``'s notebooks run as uid ``FIRST + u``.
    """

    #: ``.env``, then the contract's ``.env.wsgi`` (its values win over ``.env``'s), both
    #: optional; the process environment wins over both.
    model_config = SettingsConfigDict(env_file=(".env", ".env.wsgi"), extra="ignore")

    config_env: str = "development"
    data_dir: Path = Path("var/data")
    database_url: str = "sqlite:///var/quantdesk.db"
    backtest_base_dir: Path = Path("var/backtest")
    backtest_timeout: float = Field(900.0, gt=0)
    backtest_compile_timeout: float = Field(10.0, gt=0)
    backtest_keep_days: int = Field(30, ge=1)
    backtest_idempotency_window_seconds: float = Field(30.0, ge=0)
    backtest_allowed_frequencies: str = "1d"
    local_auth_mobile: str = "13800138000"
    local_auth_password: str | None = None
    local_auth_password_hash: str | None = None
    local_auth_user_id: int = 1
    local_auth_is_admin: bool = True
    jwt_expires_hours: float = Field(24.0, gt=0)
    secret_key: str | None = None
    workers: int = Field(2, ge=0)
    job_lease_seconds: float = Field(30.0, gt=0)
    job_max_attempts: int = Field(3, ge=1)
    rqalpha_command: str | None = None
    rqalpha_bundle_path: Path | None = None
    backtest_rename_db_path: str | None = None
    backtest_sandbox: str = Field("strict", pattern="^(strict|off)$")
    backtest_memory_mb: int = Field(2048, ge=64)
    backtest_max_procs: int = Field(64, ge=4)
    backtest_cpus: float = Field(1.0, ge=0.05, le=1024)
    backtest_disk_mb: int = Field(1024, ge=1)
    backtest_tmp_mb: int = Field(256, ge=1)
    backtest_log_mb: int = Field(20, ge=1)
    backtest_sandbox_uids: str = Field("60001-60064", pattern=r"^\d+-\d+$")
    # -- API boundary (issue 11) --
    max_request_mb: float = Field(2.0, gt=0)
    data_upload_mb: float = Field(100.0, gt=0)
    data_update_timeout: float = Field(3600.0, gt=0)
    data_update_cron: str | None = None
    data_update_source: str = "baostock"
    data_update_ids: str = ""
    data_update_indexes: str = ""
    data_update_with_members: bool = True
    data_update_days: int = Field(10, ge=1, le=3660)
    data_update_tz: str | None = None
    cors_origins: str = ""
    idempotency_key_hours: float = Field(24.0, gt=0)
    # -- accounts and tokens (issue 11) --
    secret_key_previous: str | None = None
    redis_url: str | None = None
    login_account_limits: str = "5/minute;20/hour"
    login_ip_limits: str = "20/minute"
    login_trusted_ip_days: float = Field(30.0, gt=0)
    # -- live platform (issue 12) --
    events_keep_days: int = Field(30, ge=1)
    log_dir: Path | None = Path("logs")
    log_json: bool = False
    log_max_mb: float = Field(10.0, gt=0)
    log_backups: int = Field(5, ge=0)
    # -- research workbench (issue 14) --
    research_public_base_url: str = ""
    research_notebook_proxy_base: str = Field("/jupyter", pattern=r"^/[A-Za-z0-9_\-/]*[^/]$")
    research_notebook_api_base: str = ""
    research_notebook_api_token: str = ""
    research_notebook_root_dir: Path | None = None
    research_notebook_default_dir: str | None = None
    research_session_ttl_seconds: float = Field(7200.0, gt=0)
    research_memory_mb: int = Field(2048, ge=256)
    research_max_procs: int = Field(256, ge=16)
    research_sandbox_uids: str = Field("61000-69999", pattern=r"^\d+-\d+$")

    @field_validator("backtest_sandbox_uids", "research_sandbox_uids", mode="after")
    @classmethod
    def _uid_range(cls, value: str) -> str:
        low, _, high = value.partition("-")
        if not 1 <= int(low) <= int(high) < 2**31 - 1:  # uid 0 would be root in the sandbox
            raise ValueError("a uid range must be FIRST-LAST with 1 <= FIRST <= LAST")
        return value

    @field_validator("data_update_cron", "data_update_tz", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("data_update_cron", mode="after")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None and (len(value.split()) != 5 or not croniter.is_valid(value)):
            raise ValueError(
                f"DATA_UPDATE_CRON {value!r} is not a 5-field cron expression "
                "(minute hour day-of-month month day-of-week, e.g. '30 17 * * 1-5')"
            )
        return value

    @field_validator("data_update_tz", mode="after")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                zoneinfo.ZoneInfo(value)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"DATA_UPDATE_TZ {value!r} is not an IANA time zone (Asia/Shanghai...)"
                ) from None
        return value

    @field_validator("rqalpha_command", mode="after")
    @classmethod
    def _default_rqalpha(cls, value: str | None) -> str | None:
        if value and value.strip():
            return value
        local = Path(".venv-rqalpha/bin/rqalpha")
        return str(local.resolve()) if local.is_file() else None

    @property
    def research_notebooks_dir(self) -> Path:
        """The directory whose ``users/<user_id>/`` hold each user's notebooks."""
        root = self.research_notebook_root_dir
        default = self.research_notebook_default_dir
        if default is None or not default.strip():
            default = "" if root is not None else "research/notebooks"
        if Path(default).is_absolute() or ".." in Path(default).parts:
            raise ValueError("RESEARCH_NOTEBOOK_DEFAULT_DIR must be a relative directory")
        return (root if root is not None else Path("var")) / default

    @property
    def research_uids(self) -> range:
        """``RESEARCH_SANDBOX_UIDS`` as a range (inclusive of its last uid)."""
        first, _, last = self.research_sandbox_uids.partition("-")
        return range(int(first), int(last) + 1)

    @property
    def allowed_origins(self) -> tuple[str, ...]:
        """``CORS_ORIGINS`` as a tuple."""
        return tuple(o.strip() for o in self.cors_origins.split(",") if o.strip())

    @property
    def sandbox_uids(self) -> range:
        """``BACKTEST_SANDBOX_UIDS`` as a range (inclusive of its last uid)."""
        first, _, last = self.backtest_sandbox_uids.partition("-")
        return range(int(first), int(last) + 1)

    @property
    def is_development(self) -> bool:
        """True for the embedded development default."""
        return self.config_env.strip().lower() in ("development", "dev", "")

    @property
    def allowed_frequencies(self) -> tuple[str, ...]:
        """``BACKTEST_ALLOWED_FREQUENCIES`` as a tuple."""
        return tuple(f.strip() for f in self.backtest_allowed_frequencies.split(",") if f.strip())

    @field_validator("log_dir", "rqalpha_bundle_path", mode="before")
    @classmethod
    def _no_log_dir(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def hub_socket(self) -> Path:
        """The local stream bus's socket (``var/run/hub.sock``): workers send live messages."""
        return self.backtest_base_dir.parent / "run" / "hub.sock"

    def pid_file(self, port: int) -> Path:
        """The PID file of the server on ``port`` (``var/run/quantdesk-54321.pid``)."""
        return self.backtest_base_dir.parent / "run" / f"quantdesk-{port}.pid"

    @property
    def secret_key_path(self) -> Path:
        """Where the generated development ``SECRET_KEY`` is kept (``./var/secret_key``)."""
        return self.backtest_base_dir.parent / "secret_key"
