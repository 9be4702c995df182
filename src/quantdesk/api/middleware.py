"""The HTTP boundary every request crosses before a route.

A body size cap (413 before the body is read), a last-resort 500 that keeps the connection,
security headers, CORS and gzip.

Order (outermost first): ``SecurityHeaders`` → ``CatchAll`` → ``BodyLimit`` → CORS → gzip →
the web UI → the routes. Errors use the contract's body (``api/errors.py``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from quantdesk.api.errors import error_body, is_research
from quantdesk.core.settings import Settings

log = logging.getLogger("quantdesk.api")

#: Responses smaller than this are sent as they are (gzip costs more than it saves).
GZIP_MIN_BYTES = 1024
#: The UI's policy: its own scripts only; inline styles (charts set them); API calls and the
#: WebSocket to this origin; never framed.
UI_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self' ws: wss:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
#: The market-data upload: its body may be up to ``DATA_UPLOAD_MB``, not ``MAX_REQUEST_MB``.
UPLOAD_PATH = "/api/data/import"
#: The index-membership import (``routes_indexes.IMPORT_PATH``), with the same limit.
INDEX_UPLOAD_PATH = "/api/data/indexes/import"
#: Request headers a cross-origin client may send.
CORS_HEADERS = ("Authorization", "Content-Type", "Idempotency-Key", "X-API-Key", "X-API-Secret")
#: JSON and text answers are never documents to render.
API_CSP = "default-src 'none'; frame-ancestors 'none'"
#: The Research API's and the notebook proxy's (Jupyter sets its own fuller policy).
FRAMED_CSP = "frame-ancestors 'self'"
_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


async def _send_error(
    send: Send, status: int, code: str, message: str, *, research: bool = False
) -> None:
    payload = {"message": message} if research else error_body(code, message)
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
    ]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


class CatchAll:
    """Answers an unhandled exception with the contract's 500 body and swallows it.

    Starlette's own handler re-raises after answering, and the server then closes the
    connection: a client's keep-alive connection would be dropped by one bad request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app; an exception it raises is logged and answered with 500 ``INTERNAL_ERROR``.

        Non-HTTP scopes pass through untouched. Once the response has started, the exception
        is re-raised instead (the server then closes the connection).
        """
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise  # half an answer was sent: only closing the connection is honest
            await _send_error(send, 500, "INTERNAL_ERROR", "internal server error",
                              research=is_research(scope.get("path", "")))  # fmt: skip


class BodyLimit:
    """Refuses a request body over ``limit`` bytes with 413 ``PAYLOAD_TOO_LARGE``.

    At once when ``Content-Length`` says so (nothing is read), else as soon as the chunks
    received pass it (chunked bodies), so no route ever holds more than ``limit`` bytes of one.

    Hand-written instead of Starlette's ``RequestBodyLimitMiddleware`` (which FastAPI's
    ``max_body_size`` uses): that one answers in plain text, not the contract's error body, and
    only once a route reads the body, so a route that refuses a caller first never says 413.
    """

    def __init__(
        self,
        app: ASGIApp,
        limit: int,
        exempt: tuple[str, ...] = (),
        larger: Mapping[str, tuple[int, str]] | None = None,
    ) -> None:
        self.app = app
        self.limit = limit
        self.exempt = tuple(p.rstrip("/") + "/" for p in exempt)
        #: Routes allowed bigger bodies (uploads): path -> (bytes, the setting's name).
        self.larger = dict(larger or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app unless the body is too large (413) or ``Content-Length`` is invalid (400).

        A chunked body is counted as the app reads it: the chunk that passes ``limit`` raises
        ``HTTPException(413)`` inside the route's body parsing. Non-HTTP scopes pass through.
        """
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if scope["type"] != "http" or path.startswith(self.exempt):
            await self.app(scope, receive, send)  # (the notebook proxy streams its bodies)
            return
        research = is_research(path)
        limit, setting = self.larger.get(path.rstrip("/"), (self.limit, "MAX_REQUEST_MB"))
        declared = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                declared = value
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                length = -1
            if length < 0:
                await _send_error(send, 400, "INVALID_ARGUMENT", "invalid Content-Length",
                                  research=research)  # fmt: skip
                return
            if length > limit:
                await _send_error(send, 413, "PAYLOAD_TOO_LARGE", _too_large(limit, setting),
                                  research=research)  # fmt: skip
                return
        received = 0

        async def counting() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Raised inside the route's body parsing: FastAPI lets HTTPException
                    # through to the error handlers, which answer 413.
                    raise HTTPException(413, _too_large(limit, setting))
            return message

        await self.app(scope, counting, send)


def _too_large(limit: int, setting: str) -> str:
    return f"the request body is larger than {limit} bytes ({setting}={limit / 2**20:g})"


class SecurityHeaders:
    """Security headers on every answer.

    ``nosniff``, ``Referrer-Policy``, ``X-Frame-Options``, and a ``Content-Security-Policy``:
    the UI's for HTML, ``default-src 'none'`` for the rest.
    """

    def __init__(self, app: ASGIApp, proxy_base: str = "/jupyter") -> None:
        self.app = app
        self.proxy_base = proxy_base

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app, adding to its response start the security headers it did not set.

        The Research API and the notebook proxy may be framed by this origin (the contract:
        ``frame-ancestors 'self'``, no ``X-Frame-Options``). Non-HTTP scopes pass through.
        """
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        framed = is_research(scope.get("path", ""), self.proxy_base)

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[Any] = list(message.get("headers", ()))
                if framed:
                    headers = [(n, v) for n, v in headers if n.lower() != b"x-frame-options"]
                present = {name.lower() for name, _ in headers}
                kind = next((v for n, v in headers if n.lower() == b"content-type"), b"")
                if framed:
                    extra = [*_HEADERS[:2], (b"content-security-policy", FRAMED_CSP.encode())]
                else:
                    csp = UI_CSP if kind.startswith(b"text/html") else API_CSP
                    extra = [*_HEADERS, (b"content-security-policy", csp.encode())]
                headers += [(n, v) for n, v in extra if n not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)


def install(app: FastAPI, settings: Settings) -> None:
    """Add the boundary middleware to ``app`` (the last added runs first)."""
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MIN_BYTES)
    if settings.allowed_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.allowed_origins),
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=list(CORS_HEADERS),
            max_age=600,
        )
    upload = (int(settings.data_upload_mb * 2**20), "DATA_UPLOAD_MB")
    app.add_middleware(BodyLimit, limit=int(settings.max_request_mb * 2**20),
                       exempt=(settings.research_notebook_proxy_base,),
                       larger={UPLOAD_PATH: upload, INDEX_UPLOAD_PATH: upload})  # fmt: skip
    app.add_middleware(CatchAll)
    app.add_middleware(SecurityHeaders, proxy_base=settings.research_notebook_proxy_base)
