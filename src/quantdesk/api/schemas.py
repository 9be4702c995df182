"""Request and response bodies of the API (kept apart from the SQL tables).

The models of what services take and answer live with the services (``services.bodies`` and
``services.views*``) and are re-exported here: their class names are the OpenAPI component
names the web client's generated types use. Defined here: the envelopes, the error body, and
the answers only the API builds.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from quantdesk.services.auth import LoginResult
from quantdesk.services.bodies import (
    AddRename,
    CompileRequest,
    FromTemplate,
    NewKey,
    NewUser,
    PasswordChange,
    RenameStrategy,
    UserChanges,
)
from quantdesk.services.views import CompileResult, Diagnostic, DiagnosticLevel, ErrorDetail
from quantdesk.services.views_data import (
    Bars,
    InstrumentList,
    InstrumentStats,
    LastRun,
    LastRuns,
    MarketOption,
    PositionPage,
    RunInfo,
    RunOptions,
    TradePage,
)
from quantdesk.services.views_jobs import (
    Equity,
    HistoryItem,
    JobDeleted,
    JobError,
    JobList,
    JobStatusView,
    Performance,
    ResultView,
    StrategyDeleted,
    StrategyJobs,
)
from quantdesk.services.views_strategies import (
    ParamSpec,
    Renamed,
    RenameMap,
    Strategy,
    StrategyList,
    StrategyMeta,
    StrategyParams,
    StrategyVersion,
    StrategyVersions,
    Template,
    TemplateList,
    VersionInfo,
)
from quantdesk.services.views_users import (
    ApiKeyList,
    ApiKeyView,
    KeyDeleted,
    NewApiKey,
    Role,
    TokensRevoked,
    UserList,
    UserView,
)


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


class SaveStrategy(BaseModel):
    """``POST /api/backtest/strategies/{id}``."""

    model_config = ConfigDict(extra="forbid")
    code: str
    name: str | None = None
    description: str | None = None
    tags: list[str] | None = None


class SavedStrategy(BaseModel):
    """``POST /api/backtest/strategies/{id}``: the saved strategy's metadata."""

    ok: bool = True
    data: StrategyMeta


class RunResponse(BaseModel):
    """Answer of ``POST /api/backtest/run`` (``jobId``: the contract's legacy alias)."""

    job_id: str
    jobId: str | None = None  # noqa: N815 - the contract's legacy spelling


class LogSlice(BaseModel):
    """``GET /api/backtest/jobs/{job_id}/log`` with ``offset`` or ``tail``."""

    content: str
    offset: int
    next_offset: int
    size: int


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


__all__ = [
    "ERROR_RESPONSES", "AddRename", "ApiKeyList", "ApiKeyView", "Bars", "CompileRequest",
    "CompileResult", "Diagnostic", "DiagnosticLevel", "Envelope", "Equity", "ErrorBody",
    "ErrorDetail", "FromTemplate", "Health", "HistoryItem", "InstrumentList", "InstrumentStats",
    "JobDeleted", "JobError", "JobList", "JobStatusView", "KeyDeleted", "LastRun", "LastRuns",
    "LogSlice", "LoginResponse", "MarketOption", "NewApiKey", "NewKey", "NewUser", "ParamSpec",
    "PasswordChange", "Performance", "PositionPage", "RenameMap", "RenameStrategy", "Renamed",
    "ResultView", "Role", "RunInfo", "RunOptions", "RunResponse", "SandboxHealth",
    "SaveStrategy", "SavedStrategy", "Strategy", "StrategyDeleted", "StrategyJobs",
    "StrategyList", "StrategyMeta", "StrategyParams", "StrategyVersion", "StrategyVersions",
    "Template",
    "TemplateList", "TokensRevoked", "TradePage", "UserChanges", "UserList", "UserView",
    "VersionInfo",
]  # fmt: skip
