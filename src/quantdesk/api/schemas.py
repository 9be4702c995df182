"""Request and response bodies (kept apart from the SQL tables)."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from quantdesk.core.jobs import JobStatus
from quantdesk.services.auth import LoginResult


class LoginResponse(BaseModel):
    """``POST /api/login``."""

    token: str
    userid: int
    is_admin: bool
    expires_at: str = Field(description="ISO 8601 UTC expiry of the token")

    @classmethod
    def of(cls, result: LoginResult) -> LoginResponse:
        """The answer for an issued token."""
        return cls(token=result.token, userid=result.userid, is_admin=result.is_admin,
                   expires_at=result.expires_at.isoformat())  # fmt: skip


class StrategyMeta(BaseModel):
    """One strategy in a listing."""

    id: str
    name: str = ""
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    version: int = Field(0, description="number of the latest saved version")
    created_at: str | None = Field(description="ISO 8601 UTC; null for legacy files")
    updated_at: str | None
    size: int = Field(description="bytes of code")


class StrategyList(BaseModel):
    """``GET /api/backtest/strategies``."""

    strategies: list[StrategyMeta]
    total: int


class ParamSpec(BaseModel):
    """One entry of a strategy's parameter schema (read statically from ``PARAMS``)."""

    name: str
    type: str = Field(description="int, float, bool, str, list or any")
    default: Any = None


class Strategy(StrategyMeta):
    """``GET /api/backtest/strategies/{id}``."""

    code: str
    params_schema: list[ParamSpec] = Field(default_factory=list)


class SaveStrategy(BaseModel):
    """``POST /api/backtest/strategies/{id}``."""

    model_config = ConfigDict(extra="forbid")
    code: str
    name: str | None = None
    description: str | None = None
    tags: list[str] | None = None


class SavedStrategy(BaseModel):
    """Answer of a save."""

    ok: bool = True
    data: StrategyMeta


class RunResponse(BaseModel):
    """Answer of ``POST /api/backtest/run`` (``jobId``: the contract's legacy alias)."""

    job_id: str
    jobId: str | None = None  # noqa: N815 - the contract's legacy spelling


class JobError(BaseModel):
    """``error`` of a FAILED job."""

    code: str
    message: str | None


class JobStatusView(BaseModel):
    """``GET /api/backtest/jobs/{job_id}``."""

    job_id: str
    status: JobStatus
    error: JobError | None
    error_message: str | None
    strategy_id: str
    created_at: str | None
    updated_at: str | None
    started_at: str | None
    finished_at: str | None
    attempts: int
    progress: float = Field(description="0-100")
    current_bar: int
    total_bars: int
    sandbox_level: str | None = Field(
        None, description="strong | standard | weak | off: the sandbox the job last ran in"
    )


class Equity(BaseModel):
    """Daily equity arrays."""

    dates: list[str]
    nav: list[float | None]
    returns: list[float | None]
    benchmark_nav: list[float | None]


class ResultView(BaseModel):
    """``GET /api/backtest/jobs/{job_id}/result``."""

    job_id: str
    summary: dict[str, Any]
    equity: Equity
    trades: list[dict[str, Any]]
    trade_columns: list[str]
    trades_total: int
    raw_keys: list[str]
    page: int | None = None
    page_size: int | None = None


class LogSlice(BaseModel):
    """``GET .../log?offset=`` or ``?tail=``."""

    content: str
    offset: int
    next_offset: int
    size: int


class ErrorDetail(BaseModel):
    """What went wrong: a stable upper-case ``code`` and a human ``message``."""

    code: str = Field(examples=["INVALID_ARGUMENT"])
    message: str


class ErrorBody(BaseModel):
    """The contract's error body, for every status >= 400."""

    ok: bool = Field(False, description="always false")
    error: ErrorDetail
    data: Any | None = Field(None, description="details, for some codes")


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


#: The error answers every route may give (documented once for the whole API).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _error("INVALID_ARGUMENT and other bad input (the message names the field)"),
    401: _error("UNAUTHORIZED: missing, invalid, expired or revoked credentials"),
    403: _error("FORBIDDEN (role) or USER_DISABLED"),
    404: _error("NOT_FOUND: no such object of the caller"),
    409: _error("CONFLICT, or RESULT_NOT_READY before a job finished"),
    413: _error("PAYLOAD_TOO_LARGE: the body is over MAX_REQUEST_MB"),
    422: _error("UNPROCESSABLE_ENTITY, e.g. an Idempotency-Key reused with another body"),
    429: _error("TOO_MANY_REQUESTS (login limits), with Retry-After"),
}


DataT = TypeVar("DataT")


class Envelope(BaseModel, Generic[DataT]):
    """The contract's success shape: ``{"ok": true, "data": ...}``."""

    ok: bool = Field(True, description="always true")
    data: DataT


class UserView(BaseModel):
    """A user as the API shows it (never the password hash)."""

    userid: int
    mobile: str
    role: str = Field(description="admin, researcher or viewer")
    is_admin: bool
    disabled: bool
    created_at: str | None = Field(description="ISO 8601 UTC")


class UserList(BaseModel):
    """``GET /api/admin/users``."""

    users: list[UserView]
    total: int


class ApiKeyView(BaseModel):
    """An API key without its secret."""

    key: str = Field(description="send as X-API-Key")
    name: str
    created_at: str | None = Field(description="ISO 8601 UTC")
    last_used_at: str | None = Field(description="ISO 8601 UTC; null if never used")


class ApiKeyList(BaseModel):
    """``GET /api/keys``."""

    keys: list[ApiKeyView]
    total: int


class NewApiKey(BaseModel):
    """``POST /api/keys``: the secret is shown this once."""

    key: str
    secret: str = Field(description="send as X-API-Secret; never shown again")
    name: str
    created_at: str = Field(description="ISO 8601 UTC")


class KeyDeleted(BaseModel):
    """``DELETE /api/keys/{key}``."""

    key: str
    deleted: bool


class TokensRevoked(BaseModel):
    """``POST /api/logout-all``."""

    userid: int
    tokens_revoked: bool


class JobList(BaseModel):
    """``GET /api/backtest/jobs``."""

    jobs: list[JobStatusView]
    total: int


class HistoryItem(BaseModel):
    """One job of a strategy's history (the contract's §4)."""

    job_id: str
    strategy_id: str
    status: JobStatus
    error: JobError | None
    created_at: str | None
    updated_at: str | None
    params: dict[str, Any] = Field(description="start_date, end_date, cash, benchmark, frequency")


class StrategyJobs(BaseModel):
    """``GET /api/backtest/strategies/{strategy_id}/jobs``."""

    strategy_id: str
    jobs: list[HistoryItem]
    total: int


class JobDeleted(BaseModel):
    """``DELETE /api/backtest/jobs/{job_id}``."""

    job_id: str
    deleted: bool


class StrategyDeleted(BaseModel):
    """``DELETE /api/backtest/strategies/{strategy_id}``."""

    strategy_id: str
    deleted_jobs: int


class RenameMap(BaseModel):
    """The rename map (§2.2): old id → current id."""

    map: dict[str, str]


class Renamed(BaseModel):
    """``POST /api/backtest/strategies/{from_id}/rename`` (§2.1)."""

    from_id: str
    to_id: str
    deleted_old: bool
    warning: str = Field(description="empty, or why nothing moved (noop: ...)")


class SandboxHealth(BaseModel):
    """The sandbox as this host's self-test found it."""

    level: str = Field(description="strong | standard | weak | off")
    layers: list[str]
    missing: list[str]
    mode: str = Field(description="BACKTEST_SANDBOX: strict or off")


class Health(BaseModel):
    """``GET /api/health``."""

    status: str
    jobs: dict[str, int] = Field(description="job counts per status")
    sandbox: SandboxHealth


class VersionInfo(BaseModel):
    """One saved version of a strategy's code (without the code)."""

    version: int
    created_at: str | None = Field(description="ISO 8601 UTC")
    size: int = Field(description="bytes of code")
    sha256: str


class StrategyVersions(BaseModel):
    """``GET /api/backtest/strategies/{strategy_id}/versions``: newest first."""

    strategy_id: str
    versions: list[VersionInfo]


class StrategyVersion(BaseModel):
    """``GET /api/backtest/strategies/{strategy_id}/versions/{version}``."""

    strategy_id: str
    version: int
    code: str
    created_at: str | None = Field(description="ISO 8601 UTC")
    size: int = Field(description="bytes of code")
    params_schema: list[ParamSpec]


class Template(BaseModel):
    """A bundled example strategy."""

    id: str
    description: str
    params_schema: list[ParamSpec]
    code: str


class TemplateList(BaseModel):
    """``GET /api/backtest/templates``."""

    templates: list[Template]


class Performance(BaseModel):
    """``GET /api/backtest/jobs/{job_id}/performance`` (not enveloped: the seed's shape)."""

    job_id: str
    metrics: dict[str, float | int | None] = Field(
        description="total_return, annual_return, max_drawdown, sharpe_ratio, win_rate, "
        "profit_loss_ratio, alpha, beta"
    )
    summary: dict[str, Any] = Field(description="the whole summary of the result")
    trades: list[dict[str, Any]] = Field(description="every fill")
    portfolio: list[dict[str, Any]] = Field(description="daily positions, one row each")
    daily: dict[str, Any] = Field(description="daily portfolio columns")
