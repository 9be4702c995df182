"""The stream bus: live messages (``core.events.StreamMessage``) from workers to the API's hub.

Two transports, chosen by ``bus_for(settings)``:

* **local** (default, one host): a Unix datagram socket that the API process binds
  (``Settings.hub_socket``, mode 0600, under ``var/run/``; a path too long for a socket
  address becomes an abstract name). Workers send with ``MSG_DONTWAIT``: when no API listens
  or its buffer is full, the message is dropped and counted, never waited for. Jobs cannot
  reach it: their sandbox sees neither ``var/`` nor the host's network namespace.
* **redis** (``REDIS_URL``): ``PUBLISH`` on one Redis channel that every API process
  subscribes to, so workers on other hosts and several API processes share one stream. A
  sender that cannot reach Redis drops the message and retries the connection after a
  back-off; a receiver reconnects with back-off and never stops the API.

Both are lossy by design (live progress and log lines; the job's files and the database stay
the truth), and neither ever blocks a job.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import hashlib
import json
import logging
import os
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

from quantdesk.core.events import StreamMessage

log = logging.getLogger(__name__)

#: The Redis pub/sub channel every API process subscribes to.
REDIS_CHANNEL = "quantdesk:stream"
#: Largest encoded message (a datagram this size always fits the default socket buffers).
MAX_MESSAGE = 60_000
#: Seconds a Redis sender waits before trying a lost connection again.
REDIS_RETRY_SECONDS = 5.0
#: Longest filesystem path usable as a Unix socket address (``sun_path`` is 108 bytes).
MAX_SOCKET_PATH = 100


def encode(message: StreamMessage) -> bytes | None:
    """The message as UTF-8 JSON; ``None`` when it exceeds ``MAX_MESSAGE`` bytes."""
    data = json.dumps(message.to_wire(), separators=(",", ":"), default=str).encode()
    return data if len(data) <= MAX_MESSAGE else None


def decode(data: bytes) -> StreamMessage | None:
    """A message from its encoding; ``None`` for anything else (logged at debug)."""
    try:
        raw = json.loads(data)
        return StreamMessage.from_wire(raw) if isinstance(raw, dict) else None
    except ValueError as exc:
        log.debug("dropped a malformed bus message: %s", exc)
        return None


class BusSender(Protocol):
    """Where a producer (a job runner, an API process) sends live messages."""

    dropped: int

    def send(self, message: StreamMessage) -> None:
        """Send ``message`` without blocking; drop it (counting) when it cannot go now."""

    def close(self) -> None:
        """Release the connection."""


class BusReceiver(Protocol):
    """What a hub reads live messages from."""

    def messages(self) -> AsyncIterator[StreamMessage]:
        """Every message received from now on, until ``close``."""

    async def close(self) -> None:
        """Stop receiving."""


def socket_address(path: Path) -> str:
    """The local bus address: ``path`` itself, or an abstract name when it is too long."""
    text = str(path.resolve())
    if len(text.encode()) <= MAX_SOCKET_PATH:
        return text
    return "\0quantdesk-hub-" + hashlib.sha256(text.encode()).hexdigest()[:24]


@functools.cache
def _datagram_socket() -> socket.socket:
    """The process's one unbound datagram socket (``sendto`` is thread-safe; closed at exit)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    atexit.register(sock.close)
    return sock


class LocalSender:
    """Sends datagrams to the API's socket (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self._address = socket_address(path)
        self.dropped = 0

    def send(self, message: StreamMessage) -> None:
        """Send ``message``; dropped when too big, nobody listens, or the buffer is full."""
        data = encode(message)
        if data is None:
            self.dropped += 1
            return
        try:
            _datagram_socket().sendto(data, socket.MSG_DONTWAIT, self._address)
        except OSError:
            self.dropped += 1

    def close(self) -> None:
        """Nothing to release: the process's socket is shared and stays open."""


class LocalReceiver:
    """Binds the API's socket and reads its datagrams on the event loop."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._address = socket_address(path)
        if not self._address.startswith("\0"):
            path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # a previous API process's socket
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self._sock.bind(self._address)
        if not self._address.startswith("\0"):
            os.chmod(self._address, 0o600)
        self._sock.setblocking(False)
        self._closed = asyncio.Event()

    async def messages(self) -> AsyncIterator[StreamMessage]:
        """Datagrams as messages until ``close`` (malformed ones are skipped)."""
        loop = asyncio.get_running_loop()
        while not self._closed.is_set():
            try:
                data = await loop.sock_recv(self._sock, MAX_MESSAGE + 1)
            except OSError:
                if self._closed.is_set():
                    return
                raise
            message = decode(data)
            if message is not None:
                yield message

    async def close(self) -> None:
        """Close and remove the socket."""
        self._closed.set()
        self._sock.close()
        if not self._address.startswith("\0"):
            with contextlib.suppress(FileNotFoundError):
                self._path.unlink()


class RedisSender:
    """Publishes on ``REDIS_CHANNEL``; a lost connection is retried after a back-off."""

    def __init__(self, url: str) -> None:
        import redis

        self._client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._down_until = 0.0
        self.dropped = 0

    def send(self, message: StreamMessage) -> None:
        """Publish ``message``; dropped while Redis is unreachable (then retried in 5 s)."""
        import redis

        data = encode(message)
        if data is None or time.monotonic() < self._down_until:
            self.dropped += 1
            return
        try:
            self._client.publish(REDIS_CHANNEL, data)
        except redis.RedisError as exc:
            self.dropped += 1
            self._down_until = time.monotonic() + REDIS_RETRY_SECONDS
            log.warning("the stream bus cannot reach Redis (%s); live messages are dropped", exc)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


class RedisReceiver:
    """Subscribes to ``REDIS_CHANNEL``, reconnecting with back-off (1 s doubling to 30 s)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._closed = asyncio.Event()
        self.connected = False

    async def messages(self) -> AsyncIterator[StreamMessage]:
        """Messages until ``close``; while Redis is down, none (and it keeps retrying)."""
        import redis.asyncio as aioredis
        from redis.exceptions import RedisError

        delay = 1.0
        while not self._closed.is_set():
            client = aioredis.Redis.from_url(self._url, socket_connect_timeout=2)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(REDIS_CHANNEL)
                    self.connected, delay = True, 1.0
                    while not self._closed.is_set():
                        item = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
                        if item is not None and isinstance(item.get("data"), bytes):
                            message = decode(item["data"])
                            if message is not None:
                                yield message
            except (RedisError, OSError) as exc:
                if self.connected:
                    log.warning("lost Redis (%s); the hub reconnects", exc)
                self.connected = False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closed.wait(), delay)
                delay = min(delay * 2, 30.0)
            finally:
                self.connected = False
                await client.aclose()

    async def close(self) -> None:
        """Stop receiving."""
        self._closed.set()


def sender_for(redis_url: str | None, socket_path: Path) -> BusSender:
    """The bus a producer sends on: Redis when ``redis_url``, else the local socket."""
    return RedisSender(redis_url) if redis_url else LocalSender(socket_path)


def receiver_for(redis_url: str | None, socket_path: Path) -> BusReceiver:
    """The bus a hub reads: Redis when ``redis_url``, else it binds the local socket."""
    return RedisReceiver(redis_url) if redis_url else LocalReceiver(socket_path)
