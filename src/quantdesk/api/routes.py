"""The contract's routes: login, strategies, run, job status, result and log."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Body, Form, Header, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field, model_validator
from pydantic_core import PydanticCustomError
from starlette.datastructures import FormData

from quantdesk.api.boundary import CheckedRequest, CheckedRoute, CompileRoute
from quantdesk.api.deps import PlatformDep, PrincipalDep, client_ip
from quantdesk.api.params import (
    ByteOffset,
    Offset,
    OptionalPage,
    StrategyLimit,
    TailBytes,
    VersionPath,
)
from quantdesk.api.schemas import (
    ERROR_RESPONSES,
    AddRename,
    CompileRequest,
    CompileResult,
    Envelope,
    FromTemplate,
    Health,
    JobStatusView,
    LoginResponse,
    LogSlice,
    Performance,
    Renamed,
    RenameMap,
    RenameStrategy,
    ResultView,
    RunResponse,
    SandboxHealth,
    SavedStrategy,
    SaveStrategy,
    Strategy,
    StrategyList,
    StrategyMeta,
    StrategyParams,
    StrategyVersion,
    StrategyVersions,
    TemplateList,
)
from quantdesk.services.backtests import LogStream, RunRequest

router = APIRouter(prefix="/api", route_class=CheckedRoute, responses=ERROR_RESPONSES)

#: Listing limits (the contract's).
STRATEGY_LIMIT_DEFAULT, STRATEGY_LIMIT_MAX = 100, 500


class Credentials(BaseModel):
    """``POST /api/login``: ``mobile`` and ``password``, as form fields or a JSON object.

    Anything but two non-empty strings is refused with the one message the contract gives
    (400 ``mobile and password are required``).
    """

    mobile: str = Field(min_length=1)
    password: str = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _required(cls, data: Any) -> dict[str, Any]:
        """Both fields as non-empty strings (extra fields are ignored).

        Raises:
            PydanticCustomError: either is missing, empty or not a string.
        """
        fields = data if isinstance(data, dict) else {}
        given = {name: fields.get(name) for name in ("mobile", "password")}
        if not all(isinstance(value, str) and value for value in given.values()):
            raise PydanticCustomError("invalid", "mobile and password are required")
        return given


class CredentialsRequest(CheckedRequest):
    """The login's request: a JSON body is read as the form it stands for.

    ``form()`` of an ``application/json`` body holds the object's string members (other
    members, or a body that is no object, hold nothing, so ``Credentials`` refuses them).
    """

    async def _get_form(
        self,
        *,
        max_files: int | float = 1000,
        max_fields: int | float = 1000,
        max_part_size: int = 1024 * 1024,
    ) -> FormData:
        """The form fields (starlette's parser), or the string members of a JSON object.

        Starlette's ``form()``, which FastAPI awaits for a ``Form()`` body, reads the body here.

        Raises:
            json.JSONDecodeError: the body is not JSON (``the body is not valid JSON``).
            HTTPException: 400 for what ``CheckedRequest.json`` refuses.
        """
        if not self.headers.get("content-type", "").startswith("application/json"):
            return await super()._get_form(
                max_files=max_files, max_fields=max_fields, max_part_size=max_part_size
            )
        try:
            body = await self.json()
        except ValueError as exc:  # not UTF-8 either: the same answer as other bad JSON
            raise json.JSONDecodeError("the body is not valid JSON", "", 0) from exc
        fields = body if isinstance(body, dict) else {}
        return FormData([(key, value) for key, value in fields.items() if isinstance(value, str)])


class LoginRoute(CheckedRoute):
    """The login's route: its handler gets a ``CredentialsRequest`` (form or JSON)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler for this route, given a ``CredentialsRequest``."""
        handler = APIRoute.get_route_handler(self)

        async def login_handler(request: Request) -> Response:
            return await handler(CredentialsRequest(request.scope, request.receive))

        return login_handler


async def login(
    credentials: Annotated[Credentials, Form()], request: Request, platform: PlatformDep
) -> LoginResponse:
    """Log in with form fields ``mobile`` and ``password`` (JSON is accepted too).

    Errors: 401 unknown mobile or wrong password; 403 ``USER_DISABLED`` the right password of
    a disabled account; 429 (with ``Retry-After``, seconds) too many failed logins from this
    client address or for this account (an account's recent good addresses are not refused).
    """
    # argon2 verification is CPU-bound: keep it off the event loop.
    result = await anyio.to_thread.run_sync(
        platform.auth.login, credentials.mobile, credentials.password, client_ip(request)
    )
    return LoginResponse.of(result)


router.add_api_route(
    "/login",
    login,
    methods=["POST"],
    response_model=LoginResponse,
    tags=["auth"],
    # the form is FastAPI's; the same fields as a JSON object are accepted too
    openapi_extra={"requestBody": {"content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/Credentials"}},
    }}},
    route_class_override=LoginRoute,
)  # fmt: skip


@router.get("/backtest/strategies", response_model=StrategyList, tags=["strategies"])
def list_strategies(
    platform: PlatformDep,
    principal: PrincipalDep,
    q: Annotated[str | None, Query(description="substring of the strategy id")] = None,
    limit: StrategyLimit = 100,
    offset: Offset = 0,
) -> StrategyList:
    """The caller's strategies, most recently updated first."""
    return platform.strategies.list(principal, q, min(limit, STRATEGY_LIMIT_MAX), offset)


@router.get("/backtest/strategies/{strategy_id}", response_model=Strategy, tags=["strategies"])
def get_strategy(strategy_id: str, platform: PlatformDep, principal: PrincipalDep) -> Strategy:
    """One strategy with its ``code``."""
    return platform.strategies.get(principal, strategy_id)


@router.post(
    "/backtest/strategies/{strategy_id}", response_model=SavedStrategy, tags=["strategies"]
)
def save_strategy(
    strategy_id: str, body: SaveStrategy, platform: PlatformDep, principal: PrincipalDep
) -> SavedStrategy:
    """Create or update a strategy's code."""
    data = platform.strategies.save(
        principal, strategy_id, body.code, name=body.name, description=body.description,
        tags=body.tags,
    )  # fmt: skip
    return SavedStrategy(data=data)


@router.put(
    "/backtest/strategies/{strategy_id}",
    response_model=SavedStrategy,
    tags=["strategies"],
    operation_id="put_strategy",
)
def put_strategy(
    strategy_id: str, body: SaveStrategy, platform: PlatformDep, principal: PrincipalDep
) -> SavedStrategy:
    """Create or update a strategy's code: the same as ``POST`` (seed 003's REST shape)."""
    return save_strategy(strategy_id, body, platform, principal)


@router.get(
    "/backtest/strategies/{strategy_id}/params",
    response_model=Envelope[StrategyParams],
    tags=["strategies"],
)
def strategy_params(
    strategy_id: str, platform: PlatformDep, principal: PrincipalDep
) -> Envelope[StrategyParams]:
    """The parameter schema of the saved code: ``PARAMS`` read statically (never run)."""
    return Envelope(data=platform.strategies.params(principal, strategy_id))


@router.get(
    "/backtest/strategies/{strategy_id}/versions",
    response_model=Envelope[StrategyVersions],
    tags=["strategies"],
)
def strategy_versions(
    strategy_id: str, platform: PlatformDep, principal: PrincipalDep
) -> Envelope[StrategyVersions]:
    """Every saved version, newest first."""
    return Envelope(data=platform.strategies.versions(principal, strategy_id))


@router.get(
    "/backtest/strategies/{strategy_id}/versions/{version}",
    response_model=Envelope[StrategyVersion],
    tags=["strategies"],
)
def strategy_version(
    strategy_id: str, version: VersionPath, platform: PlatformDep, principal: PrincipalDep
) -> Envelope[StrategyVersion]:
    """One old version with its code."""
    return Envelope(data=platform.strategies.version(principal, strategy_id, version))


@router.get("/backtest/templates", response_model=Envelope[TemplateList], tags=["strategies"])
def templates(platform: PlatformDep, _principal: PrincipalDep) -> Envelope[TemplateList]:
    """The template library (the bundled examples) with their parameter schemas."""
    return Envelope(data=TemplateList(templates=platform.strategies.templates()))


@router.post(
    "/backtest/strategies/{strategy_id}/from-template",
    response_model=Envelope[StrategyMeta],
    tags=["strategies"],
)
def from_template(
    strategy_id: str,
    platform: PlatformDep,
    principal: PrincipalDep,
    body: Annotated[FromTemplate, Body(examples=[{"template": "sma_crossover"}])],
) -> Envelope[StrategyMeta]:
    """Create a strategy from a template (409 if the id exists)."""
    return Envelope(data=platform.strategies.from_template(principal, strategy_id, body.template))


@router.post(
    "/backtest/strategies/{from_id}/rename", response_model=Envelope[Renamed], tags=["strategies"]
)
def rename_strategy(
    from_id: str,
    platform: PlatformDep,
    principal: PrincipalDep,
    body: Annotated[RenameStrategy, Body(examples=[{"to_id": "alpha"}])],
) -> Envelope[Renamed]:
    """Rename (§2.1): ``{"to_id", "code"?}`` → ``{from_id, to_id, deleted_old, warning}``.

    422 for a missing or invalid id.
    """
    return Envelope(data=platform.strategies.rename(principal, from_id, body.to_id, body.code))


def compile_strategy(
    strategy_id: str,
    platform: PlatformDep,
    principal: PrincipalDep,
    response: Response,
    body: Annotated[CompileRequest | None, Body()] = None,
) -> CompileResult:
    """Compile check (§3, admins): ``{"code"?}``; blank code checks the saved code.

    Every outcome answers this shape: 200 passed, 422 syntax error or missing dependency
    (``diagnostics``), and 400 (a bad body too), 403 (not an admin) or 500 with ``error``.
    """
    code = body.code if body is not None else None
    response.status_code, result = platform.compiler.check(principal, strategy_id, code)
    return result


router.add_api_route(
    "/backtest/strategies/{strategy_id}/compile",
    compile_strategy,
    methods=["POST"],
    response_model=CompileResult,
    response_model_exclude_none=True,  # no ``error`` when the check passed, as the contract has it
    tags=["strategies"],
    responses={
        200: {"description": "the check passed (``error`` absent)"},
        422: {"model": CompileResult, "description": "a syntax error or a missing dependency"},
    },
    route_class_override=CompileRoute,
)


@router.get("/backtest/strategy-renames", response_model=Envelope[RenameMap], tags=["strategies"])
def get_renames(platform: PlatformDep, principal: PrincipalDep) -> Envelope[RenameMap]:
    """The rename map (§2.2): ``{"ok": true, "data": {"map": {old: current}}}``."""
    return Envelope(data=platform.strategies.rename_map(principal))


@router.post("/backtest/strategy-renames", response_model=Envelope[RenameMap], tags=["strategies"])
def add_rename(
    platform: PlatformDep,
    principal: PrincipalDep,
    body: Annotated[AddRename, Body(examples=[{"from_id": "legacy", "to_id": "current"}])],
) -> Envelope[RenameMap]:
    """Add a rename map entry (§2.2); answers with the whole map (422 for an invalid id)."""
    return Envelope(data=platform.strategies.add_rename(principal, body.from_id, body.to_id))


@router.post("/backtest/run", response_model=RunResponse, tags=["jobs"])
def run(
    body: RunRequest,
    platform: PlatformDep,
    principal: PrincipalDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            max_length=128,
            description="per user, for 24 h: the same key and body return the job it first "
            "created; the same key with another body is refused (422)",
        ),
    ] = None,
) -> RunResponse:
    """Validate and enqueue a backtest.

    With an ``Idempotency-Key`` the key decides (IETF draft, Stripe's semantics); without one,
    identical requests within the dedup window (``BACKTEST_IDEMPOTENCY_WINDOW_SECONDS``) return
    the same ``job_id``.
    """
    job_id = platform.backtests.submit(principal, body, idempotency_key)
    return RunResponse(job_id=job_id, jobId=job_id)


@router.get("/backtest/jobs/{job_id}", response_model=JobStatusView, tags=["jobs"])
def job_status(job_id: str, platform: PlatformDep, principal: PrincipalDep) -> JobStatusView:
    """A job's state and, when FAILED, its ``error``."""
    return platform.backtests.status(principal, job_id)


@router.get("/backtest/jobs/{job_id}/result", response_model=ResultView, tags=["jobs"])
def job_result(
    job_id: str,
    platform: PlatformDep,
    principal: PrincipalDep,
    page: OptionalPage = None,
    page_size: Annotated[int | None, Query(ge=1, le=1000)] = None,
) -> ResultView:
    """The result (409 ``RESULT_NOT_READY`` until FINISHED); ``page``/``page_size`` page trades."""
    return platform.backtests.result(principal, job_id, page, page_size)


@router.get("/backtest/jobs/{job_id}/performance", response_model=Performance, tags=["jobs"])
def job_performance(job_id: str, platform: PlatformDep, principal: PrincipalDep) -> Performance:
    """Performance report: ``metrics``, ``trades``, ``portfolio`` (daily positions)."""
    return platform.backtests.performance(principal, job_id)


@router.get(
    "/backtest/jobs/{job_id}/log",
    tags=["jobs"],
    responses={
        200: {
            "model": LogSlice,
            "description": "JSON with ``offset`` or ``tail``, else the whole log as text",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
def job_log(
    job_id: str,
    platform: PlatformDep,
    principal: PrincipalDep,
    offset: ByteOffset = None,
    tail: TailBytes = None,
) -> Response:
    """The run log: plain text (streamed), or JSON with ``offset`` or ``tail``.

    The JSON is ``{content, offset, next_offset, size}``, at most 1 MiB per answer: fetch again
    from ``next_offset`` while it is below ``size``.
    """
    out = platform.backtests.log(principal, job_id, offset, tail)
    if isinstance(out, LogStream):
        return StreamingResponse(out.chunks, media_type="text/plain; charset=utf-8")
    return JSONResponse(
        LogSlice(
            content=out.content, offset=out.offset, next_offset=out.next_offset, size=out.size
        ).model_dump()
    )


@router.get("/health", response_model=Envelope[Health], tags=["system"])
def health(platform: PlatformDep) -> Envelope[Health]:
    """Liveness, job counts per status, and the sandbox as this host's self-test found it.

    The sandbox: ``level`` (strong | standard | weak | off), the working ``layers``, what is
    ``missing``. No authentication.
    """
    sandbox = SandboxHealth.model_validate(
        {**platform.compiler.sandbox().as_dict(), "mode": platform.settings.backtest_sandbox}
    )
    return Envelope(data=Health(status="ok", jobs=platform.backtests.counts(), sandbox=sandbox))
