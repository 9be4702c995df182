"""Every error as the contract's body ``{"ok": false, "error": {"code", "message"}}``.

Status codes: 400 bad input, 401 unauthenticated, 403 forbidden, 404 not found (unknown routes
too), 405 wrong method, 409 conflict / result not ready, 422 unprocessable, 429 rate limited,
500 internal.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from quantdesk.core.errors import (
    Conflict,
    DataUnavailable,
    DataValidationError,
    EngineFailed,
    EngineUnavailable,
    Forbidden,
    InternalError,
    InvalidArgument,
    NotFound,
    PayloadTooLarge,
    QuantdeskError,
    StrategyError,
    TooManyRequests,
    Unauthorized,
    Unprocessable,
    describe_validation_errors,
)
from quantdesk.services.bodies import UNPROCESSABLE

log = logging.getLogger("quantdesk.api")

#: HTTP status of each error class (the most specific class in an error's MRO wins).
STATUS: dict[type[QuantdeskError], int] = {
    InvalidArgument: 400,
    DataUnavailable: 400,
    DataValidationError: 400,
    StrategyError: 400,
    EngineUnavailable: 400,
    EngineFailed: 500,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    Unprocessable: 422,
    PayloadTooLarge: 413,
    TooManyRequests: 429,
    InternalError: 500,
}

_HTTP_CODES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "UNPROCESSABLE_ENTITY",
    429: "TOO_MANY_REQUESTS",
    500: "INTERNAL_ERROR",
}


def error_body(code: str, message: str, data: Any = None) -> dict[str, Any]:
    """The contract's error body."""
    body: dict[str, Any] = {"ok": False, "error": {"code": code, "message": message}}
    if data is not None:
        body["data"] = data
    return body


#: Paths whose errors are the research format ``{"message": "..."}`` (the contract's
#: Research API, and the notebook proxy).
RESEARCH_PREFIXES = ("/api/research",)


def is_research(path: str, proxy_base: str = "") -> bool:
    """True for the Research API's paths (and the notebook proxy's, ``proxy_base``)."""
    return path.startswith(RESEARCH_PREFIXES) or bool(
        proxy_base and (path == proxy_base or path.startswith(proxy_base.rstrip("/") + "/"))
    )


def error_response(
    status: int,
    code: str,
    message: str,
    data: Any = None,
    headers: dict[str, str] | None = None,
    *,
    research: bool = False,
) -> JSONResponse:
    """A JSON error response (the research format ``{"message"}`` when ``research``)."""
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    body = {"message": message} if research else error_body(code, message, data)
    return JSONResponse(body, status_code=status, headers=headers)


def status_of(exc: QuantdeskError) -> int:
    """The HTTP status of a ``QuantdeskError``."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into the contract's error body."""

    def research(request: Request) -> bool:
        platform = getattr(request.app.state, "platform", None)
        base = platform.settings.research_notebook_proxy_base if platform is not None else ""
        return is_research(request.url.path, base)

    @app.exception_handler(QuantdeskError)
    async def _quantdesk(request: Request, exc: QuantdeskError) -> JSONResponse:
        headers = (
            {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else None
        )
        return error_response(
            status_of(exc), exc.code, exc.message, getattr(exc, "data", None), headers,
            research=research(request),
        )  # fmt: skip

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        # A body rule of type UNPROCESSABLE (the rename endpoints' ids) answers 422, not 400.
        status = 422 if errors and all(e.get("type") == UNPROCESSABLE for e in errors) else 400
        return error_response(status, _HTTP_CODES[status], describe_validation_errors(errors),
                              research=research(request))  # fmt: skip

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        status = exc.status_code
        if status == 404:
            message = f"no route {request.method} {request.url.path}"
        elif status == 405:
            message = f"method {request.method} is not allowed on {request.url.path}"
        else:
            message = str(exc.detail)
        return error_response(status, _HTTP_CODES.get(status, f"HTTP_{status}"), message,
                              research=research(request))  # fmt: skip

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, _exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "INTERNAL_ERROR", "internal server error",
                              research=research(request))  # fmt: skip
