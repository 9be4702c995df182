"""The notebook proxy: ``<RESEARCH_NOTEBOOK_PROXY_BASE>/<session_id>/...`` to the session's server.

HTTP (``httpx`` over the server's Unix socket, streamed both ways) and WebSockets (kernel
channels, terminals: ``websockets``' ``unix_connect``, frames relayed as they come, the
client's subprotocols negotiated with the server). The caller is the platform user the
session cookie (``routes_research.COOKIE``, set by the session API) or an ``Authorization``
header names; only the session's owner gets through (anyone else: 404, as for a missing
session). The Jupyter token is added here, on the server side only: it never reaches a
browser, an address bar or an access log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketDisconnect
from websockets.asyncio.client import unix_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from quantdesk.api.errors import status_of
from quantdesk.api.routes_research import COOKIE
from quantdesk.core.errors import NotFound, QuantdeskError, Unauthorized
from quantdesk.services.platform import Platform

log = logging.getLogger("quantdesk.api")

#: Request headers never forwarded (hop-by-hop, or ours).
_DROP_REQUEST = {"host", "connection", "keep-alive", "proxy-authorization", "te", "trailer",
                 "transfer-encoding", "upgrade", "authorization", "cookie", "accept-encoding",
                 "content-length", "x-api-key", "x-api-secret"}  # fmt: skip
#: Response headers never passed back.
_DROP_RESPONSE = {"connection", "keep-alive", "transfer-encoding", "content-length",
                  "content-encoding", "x-frame-options"}  # fmt: skip
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def install(app: FastAPI, platform: Platform) -> None:
    """Add the proxy's HTTP and WebSocket routes under the proxy base to ``app``.

    ``app.state.close_notebook_clients()`` closes its connection pools (at shutdown).
    """
    base = platform.settings.research_notebook_proxy_base.rstrip("/")
    clients: dict[str, httpx.AsyncClient] = {}
    caller = ProxyCaller(platform)

    def client_for(socket_path: Path) -> httpx.AsyncClient:
        key = str(socket_path)
        found = clients.get(key)
        if found is None:
            transport = httpx.AsyncHTTPTransport(uds=key)
            found = httpx.AsyncClient(transport=transport, base_url="http://localhost",
                                      timeout=httpx.Timeout(300.0, connect=10.0))  # fmt: skip
            clients[key] = found
        return found

    @app.api_route(base + "/{session_id}/{path:path}", methods=_METHODS, include_in_schema=False)
    async def proxy_http(session_id: str, path: str, request: Request) -> Response:
        try:
            socket_path = await run_in_threadpool(
                caller.target, session_id, request.cookies, request.headers.get("authorization")
            )
        except QuantdeskError as exc:
            return JSONResponse({"message": exc.message}, status_code=status_of(exc))
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _DROP_REQUEST]
        headers.append(("authorization", f"token {caller.token(session_id)}"))
        jupyter_cookies = [f"{k}={v}" for k, v in request.cookies.items() if k != caller.cookie]
        if jupyter_cookies:
            headers.append(("cookie", "; ".join(jupyter_cookies)))
        url = httpx.URL(path=f"{base}/{session_id}/{path}", query=request.url.query.encode())
        upstream = client_for(socket_path).build_request(
            request.method, url, headers=headers, content=request.stream()
        )
        try:
            answer = await client_for(socket_path).send(upstream, stream=True)
        except httpx.HTTPError as exc:
            return JSONResponse({"message": f"the notebook server did not answer: {exc}"},
                                status_code=502)  # fmt: skip
        kept = [(k, v) for k, v in answer.headers.multi_items() if k.lower() not in _DROP_RESPONSE]
        response = StreamingResponse(
            answer.aiter_raw(), status_code=answer.status_code,
            headers={k: v for k, v in kept if k.lower() != "set-cookie"},
            background=BackgroundTask(answer.aclose),
        )  # fmt: skip
        for key, value in kept:  # Jupyter's own cookies (_xsrf...), one header each
            if key.lower() == "set-cookie":
                response.raw_headers.append((b"set-cookie", value.encode("latin-1")))
        return response

    @app.websocket(base + "/{session_id}/{path:path}")
    async def proxy_ws(websocket: WebSocket, session_id: str, path: str) -> None:
        try:
            socket_path = await run_in_threadpool(
                caller.target, session_id, websocket.cookies,
                websocket.headers.get("authorization"),
            )  # fmt: skip
        except QuantdeskError:
            await websocket.close(code=4404)
            return
        query = websocket.url.query
        uri = f"ws://localhost{base}/{session_id}/{path}" + (f"?{query}" if query else "")
        wanted = [p.strip() for p in websocket.headers.get("sec-websocket-protocol", "").split(",")
                  if p.strip()]  # fmt: skip
        extra = {"Authorization": f"token {caller.token(session_id)}"}
        cookies = [f"{k}={v}" for k, v in websocket.cookies.items() if k != caller.cookie]
        if cookies:
            extra["Cookie"] = "; ".join(cookies)
        try:
            upstream = await unix_connect(
                str(socket_path), uri, additional_headers=extra,
                subprotocols=wanted or None,
                max_size=None, open_timeout=20, ping_interval=None,
            )  # fmt: skip
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            log.warning("notebook WebSocket %s failed: %s", path, exc)
            await websocket.close(code=1011)
            return
        await websocket.accept(subprotocol=upstream.subprotocol)
        await _relay(websocket, upstream)

    async def close() -> None:
        for found in clients.values():
            await found.aclose()
        clients.clear()

    app.state.close_notebook_clients = close


async def _relay(websocket: WebSocket, upstream: Any) -> None:
    """Copy frames both ways until either side closes."""

    async def down() -> None:
        async for message in upstream:
            if isinstance(message, bytes):
                await websocket.send_bytes(message)
            else:
                await websocket.send_text(message)

    async def up() -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("bytes") is not None:
                await upstream.send(message["bytes"])
            elif message.get("text") is not None:
                await upstream.send(message["text"])

    tasks = [asyncio.create_task(down()), asyncio.create_task(up())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed,
                                     WebSocketDisconnect, RuntimeError):  # fmt: skip
                await task
        await upstream.close()
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await websocket.close()


class ProxyCaller:
    """Who may reach a session through the proxy, and with which Jupyter token."""

    cookie = COOKIE

    def __init__(self, platform: Platform) -> None:
        self._platform = platform

    def target(self, session_id: str, cookies: dict[str, str], authorization: str | None) -> Path:
        """The session's socket when the caller owns the running session.

        The caller comes from the session cookie, else an ``Authorization`` header.

        Raises:
            Unauthorized: neither names a valid login (401).
            NotFound: not the caller's session, or not running (404).
        """
        platform = self._platform
        token = cookies.get(self.cookie)
        if token:
            principal = platform.auth.authenticate_notebook(token, session_id)
        elif authorization and authorization.strip():
            scheme, _, rest = authorization.strip().partition(" ")
            raw = rest.strip() if rest and scheme.lower() == "bearer" else authorization.strip()
            principal = platform.auth.authenticate(raw)
        else:
            raise Unauthorized("log in and open the notebook from its research item")
        try:
            return platform.research.proxy_target(principal.user_id, session_id)
        except NotFound:
            raise NotFound("no such notebook session") from None

    def token(self, session_id: str) -> str:
        """The session's Jupyter token (added to each proxied request)."""
        return self._platform.research.server_token(session_id)


__all__ = ["ProxyCaller", "install"]
