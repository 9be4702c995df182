"""``/api/ws``: the one WebSocket endpoint (authenticate, subscribe, forward the hub's frames).

Authentication, as the HTTP API's (never in the URL): the subprotocols ``["quantdesk",
"<token>"]`` (a browser's ``new WebSocket(url, ["quantdesk", token])``; the server answers
``quantdesk``; the markers ``bearer``, ``access_token`` and ``token`` are accepted too and
answered the same way), or ``Authorization`` / ``X-API-Key`` + ``X-API-Secret`` headers on the
handshake, or a first message ``{"action": "auth", "token": "..."}`` within ``AUTH_SECONDS``.

Client messages (JSON; ``services/events/frames.py`` types them and every server frame)::

    {"action": "subscribe", "channel": "job.<id>", "after": 12, "epoch": "..."}
    {"action": "subscribe", "channel": "backtest", "task_id": "<id>"}   # = job.<id> (seed 003)
    {"action": "unsubscribe", "channel": "..."}
    {"action": "ping"}                                                     # -> {"event": "pong"}

Server frames: the hub's ``{channel, seq, event, data, ts}`` (``progress``, ``log``,
``status``, ``event``, ``tick``, ``reset``), plus ``{"event": "connected", "data": {user_id,
epoch}}``, ``{"event": "subscribed", "channel", "seq", "epoch"}``, ``{"event": "error",
"channel"?, "error": {code, message}}`` (another user's job is ``NOT_FOUND``, as over HTTP)
and ``{"event": "heartbeat", "ts"}`` every ``HEARTBEAT_SECONDS``. A subscriber that cannot keep
up is closed with code 1013.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError
from starlette.websockets import WebSocketState

from quantdesk.core.errors import Forbidden, InvalidArgument, QuantdeskError, Unauthorized
from quantdesk.core.events import JOB_CHANNEL, Channel
from quantdesk.services.auth import Principal
from quantdesk.services.events import Hub, Subscriber
from quantdesk.services.events.frames import (
    CLIENT_ACTION,
    AuthAction,
    ConnectedData,
    ConnectedFrame,
    ErrorFrame,
    FrameError,
    HeartbeatFrame,
    Outgoing,
    PingAction,
    PongFrame,
    SubscribedFrame,
    UnsubscribeAction,
    UnsubscribedFrame,
    channel_of,
    json_schemas,
)
from quantdesk.services.events.hub import ADMIN_CHANNELS
from quantdesk.services.platform import Platform

router = APIRouter()

#: Seconds a client has to authenticate by its first message.
AUTH_SECONDS = 10.0
#: Seconds between two heartbeats sent to an idle client.
HEARTBEAT_SECONDS = 15.0
#: Longest client message accepted (bytes).
MAX_CLIENT_MESSAGE = 4096
SUBPROTOCOL = "quantdesk"
#: Offered subprotocols that mark the next one as the token (never a token themselves); the
#: server answers the first one offered (a browser fails a handshake answered with none).
MARKERS = (SUBPROTOCOL, "bearer", "access_token", "token")
#: Token candidates tried from the subprotocols at most.
MAX_CANDIDATES = 2


#: The answer to a client message that is not an action.
NOT_AN_ACTION = "use {action: subscribe|unsubscribe, channel} or {action: ping}"


def document(openapi: dict[str, Any]) -> None:
    """Add the frames of ``/api/ws`` to an OpenAPI document's ``components/schemas``.

    FastAPI leaves WebSocket routes out of the document; with the frames in it, the web
    client's generated types name them (``ServerFrame``, ``ClientAction``, ``JobProgressData``...).

    Models the HTTP API answers too (``ProcessList``, ``JobStatus``) keep its rendering.

    Raises:
        RuntimeError: a frame's schema has the name of a different schema of the HTTP API.
    """
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in json_schemas("#/components/schemas/{model}").items():
        known = schemas.setdefault(name, schema)
        if _shape(known) != _shape(schema):
            raise RuntimeError(f"/api/ws's schema {name} differs from the HTTP API's {name}")


def _shape(schema: dict[str, Any]) -> tuple[object, ...]:
    """What two renderings of one schema agree on (FastAPI's omits defaults, for one)."""
    fields = schema.get("properties", {})
    return sorted(fields), sorted(schema.get("required", [])), schema.get("enum")


def _error(code: str, message: str, channel: str | None = None) -> ErrorFrame:
    frame = ErrorFrame(event="error", error=FrameError(code=code, message=message))
    if channel is not None:
        frame["channel"] = channel
    return frame


async def _authenticate(ws: WebSocket, platform: Platform) -> Principal | None:
    """The caller from the handshake, else from its first message.

    ``None`` when it fails (the socket is then closed with 1008).
    """
    protocols = [p.strip() for p in ws.scope.get("subprotocols", [])]
    candidates = [p for p in protocols if p and p.lower() not in MARKERS][:MAX_CANDIDATES]
    token = candidates[0] if candidates else None
    headers = ws.headers
    try:
        if len(candidates) > 1:  # e.g. ["bearer", token, "v2"]: the first that authenticates
            principal = await asyncio.to_thread(_first_valid, platform, candidates)
            await ws.accept(subprotocol=_answer(protocols))
            return principal
        if token is None and headers.get("x-api-key"):
            key, secret = headers["x-api-key"].strip(), headers.get("x-api-secret", "").strip()
            principal = await asyncio.to_thread(platform.users.authenticate_key, key, secret)
            await ws.accept()
            return principal
        if token is None and headers.get("authorization"):
            scheme, _, rest = headers["authorization"].strip().partition(" ")
            token = rest.strip() if rest and scheme.lower() == "bearer" else scheme
        if token is not None:
            principal = await asyncio.to_thread(platform.auth.authenticate, token)
            await ws.accept(subprotocol=_answer(protocols))
            return principal
        await ws.accept()
        raw = await asyncio.wait_for(ws.receive_text(), AUTH_SECONDS)
        message = json.loads(raw) if len(raw) <= MAX_CLIENT_MESSAGE else None
        try:
            auth = AuthAction.model_validate(message)
        except ValidationError:
            await _refuse(ws, "UNAUTHORIZED", 'send {"action": "auth", "token": ...} first')
            return None
        return await asyncio.to_thread(platform.auth.authenticate, auth.token)
    except QuantdeskError as exc:
        await _refuse(ws, exc.code, exc.message)
    except (TimeoutError, ValueError):
        await _refuse(ws, "UNAUTHORIZED", "no credentials: authenticate first")
    return None


def _answer(offered: list[str]) -> str | None:
    """The subprotocol the server answers: the first marker offered (``None``: none was)."""
    return next((p for p in offered if p.lower() in MARKERS), None)


def _first_valid(platform: Platform, candidates: list[str]) -> Principal:
    """The caller of the first candidate token that authenticates.

    Raises:
        Unauthorized: none does (the last candidate's error). UserDisabled: a disabled user.
    """
    for token in candidates[:-1]:
        with contextlib.suppress(Unauthorized):
            return platform.auth.authenticate(token)
    return platform.auth.authenticate(candidates[-1])


async def _refuse(ws: WebSocket, code: str, message: str) -> None:
    """Send an error frame and close with 1008.

    The handshake is accepted first, with the offered subprotocol, so that a browser sees the
    frame instead of a failed handshake.
    """
    if ws.client_state == WebSocketState.CONNECTING:
        offered = [p.strip() for p in ws.scope.get("subprotocols", [])]
        await ws.accept(subprotocol=_answer(offered))
    with contextlib.suppress(Exception):
        await ws.send_json(_error(code, message))
        await ws.close(code=1008, reason=code)


def _check_channel(platform: Platform, principal: Principal, channel: str) -> None:
    """Raise unless ``principal`` may subscribe to ``channel``.

    Raises:
        InvalidArgument: unknown channel. Forbidden: an admin channel. NotFound: another
        user's (or no) job.
    """
    match = JOB_CHANNEL.fullmatch(channel)
    if match is not None:
        platform.backtests.status(principal, match.group(1))  # NotFound for another user's
        return
    if channel not in {str(c) for c in Channel}:
        raise InvalidArgument(
            f"unknown channel {channel!r}; use job.<id>, jobs, events, system.status, "
            "system.processes or logs"
        )
    if channel in ADMIN_CHANNELS and not principal.is_admin:
        raise Forbidden(f"channel {channel} is for admins")


async def _handle(
    hub: Hub, platform: Platform, sub: Subscriber, principal: Principal, raw: str
) -> None:
    try:
        message = json.loads(raw) if len(raw) <= MAX_CLIENT_MESSAGE else None
    except ValueError:
        message = None
    if not isinstance(message, dict):
        sub.offer(_error("INVALID_ARGUMENT", "messages are JSON objects with an action"))
        return
    if message.get("action") == "auth":
        return  # already authenticated (on the handshake): nothing to do
    try:
        action = CLIENT_ACTION.validate_python(message)
    except ValidationError as exc:
        sub.offer(_refusal(message, exc))
        return
    if isinstance(action, AuthAction):
        return
    if isinstance(action, PingAction):
        sub.offer(PongFrame(event="pong", ts=time.time()))
        return
    channel = action.channel
    if isinstance(action, UnsubscribeAction):
        hub.unsubscribe(sub, channel)
        sub.offer(UnsubscribedFrame(event="unsubscribed", channel=channel))
        return
    after, epoch = action.after, action.epoch
    try:
        await asyncio.to_thread(_check_channel, platform, principal, channel)
    except QuantdeskError as exc:
        sub.offer(_error(exc.code, exc.message, channel))
        return
    seq = hub.seq_of(channel)
    missed = await hub.subscribe(sub, channel, after, epoch)
    sub.offer(SubscribedFrame(event="subscribed", channel=channel, seq=seq, epoch=hub.epoch))
    for frame in missed:
        sub.offer(frame)


def _refusal(message: dict[str, Any], exc: ValidationError) -> ErrorFrame:
    """The error frame for a message that is not a valid action."""
    channel = channel_of(message)
    bad_after = all(error["loc"][-1:] == ("after",) for error in exc.errors())
    if bad_after and isinstance(channel, str):
        return _error("INVALID_ARGUMENT", "after must be an integer >= 0", channel)
    return _error("INVALID_ARGUMENT", NOT_AN_ACTION)


@router.websocket("/api/ws")
async def websocket(ws: WebSocket) -> None:
    """The live channels (see the module docstring)."""
    platform: Platform = ws.app.state.platform
    hub: Hub = ws.app.state.hub
    principal = await _authenticate(ws, platform)
    if principal is None:
        return
    sub = Subscriber(principal.user_id, principal.is_admin)
    connected = ConnectedData(user_id=principal.user_id, epoch=hub.epoch)
    sub.offer(ConnectedFrame(event="connected", data=connected))

    async def reader() -> None:
        while True:
            raw = await ws.receive_text()
            await _handle(hub, platform, sub, principal, raw)

    async def writer() -> None:
        while True:
            frame: Outgoing
            try:
                frame = await asyncio.wait_for(sub.queue.get(), HEARTBEAT_SECONDS)
            except TimeoutError:
                frame = HeartbeatFrame(event="heartbeat", ts=time.time())
            await ws.send_json(frame)

    async def watchdog() -> None:
        await sub.dropped.wait()
        with contextlib.suppress(Exception):
            await ws.close(code=1013, reason="too slow: reconnect and resume")

    tasks = [asyncio.create_task(t()) for t in (reader, writer, watchdog)]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    except WebSocketDisconnect:
        pass
    finally:
        hub.unsubscribe(sub)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, Exception):
                await task
        with contextlib.suppress(Exception):
            if ws.application_state != WebSocketState.DISCONNECTED:
                await ws.close()
