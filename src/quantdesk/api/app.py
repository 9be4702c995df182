"""``create_app(settings)``: the FastAPI application."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from quantdesk.api import errors, jupyter_proxy, middleware, web, ws
from quantdesk.api.routes import router
from quantdesk.api.routes_analysis import router as analysis_router
from quantdesk.api.routes_data import router as data_router
from quantdesk.api.routes_events import router as events_router
from quantdesk.api.routes_indexes import router as indexes_router
from quantdesk.api.routes_jobs import router as jobs_router
from quantdesk.api.routes_research import router as research_router
from quantdesk.api.routes_seed_data import router as seed_data_router
from quantdesk.api.routes_sources import router as sources_router
from quantdesk.api.routes_users import router as users_router
from quantdesk.core.settings import Settings
from quantdesk.services.data_schedule import TICK_SECONDS, UpdateScheduler, safe_tick
from quantdesk.services.events import Hub
from quantdesk.services.events.samples import HubLogHandler
from quantdesk.services.platform import Platform, bootstrap
from quantdesk.storage.bus import receiver_for

#: Seconds between two checks for expired notebook sessions.
EXPIRY_CHECK_SECONDS = 2.0
#: Seconds between two purges of events older than ``EVENTS_KEEP_DAYS`` (the first at start).
EVENT_PURGE_SECONDS = 3600.0


async def _expire_sessions(platform: Platform, stopping: asyncio.Event) -> None:
    """End expired notebook sessions (stopping their kernels) every few seconds.

    Stopped by ``stopping``, never cancelled: cancelling would leave the check running in its
    thread, on a connection the platform then closes under it (and the connection leaks).
    """
    while not stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), EXPIRY_CHECK_SECONDS)
        if stopping.is_set():
            return
        try:
            await run_in_threadpool(platform.research.expire_due)
        except Exception:
            logging.getLogger("quantdesk.research").exception("expiring notebook sessions failed")


async def _purge_events(platform: Platform, stopping: asyncio.Event) -> None:
    """Delete events older than ``EVENTS_KEEP_DAYS`` at start, then hourly until ``stopping``.

    Workers purge too, but a server without workers (``WORKERS=0``) has only this. Stopped by
    ``stopping``, never cancelled: a purge in its thread ends before the database is closed.
    """
    log = logging.getLogger("quantdesk.events")
    while not stopping.is_set():
        try:
            purged = await run_in_threadpool(platform.events.purge)
            if purged:
                log.info("purged %d events older than %d days", purged,
                         platform.settings.events_keep_days)  # fmt: skip
        except Exception:
            log.exception("purging old events failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), EVENT_PURGE_SECONDS)


async def _scheduled_updates(scheduler: UpdateScheduler, stopping: asyncio.Event) -> None:
    """Queue the data updates ``DATA_UPDATE_CRON`` asks for (``services.data_schedule``).

    Checks every ``TICK_SECONDS`` until ``stopping``; returns at once when the schedule is off.
    """
    while scheduler.enabled and not stopping.is_set():
        await run_in_threadpool(safe_tick, scheduler)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), TICK_SECONDS)


class QuantdeskAPI(FastAPI):
    """The app; its OpenAPI document also describes the frames of ``/api/ws`` (``ws.document``)."""

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI document, built once, with the WebSocket frames in its components."""
        built = self.openapi_schema is not None
        document = super().openapi()
        if not built:
            ws.document(document)
        return document


def create_app(
    settings: Settings | None = None, platform: Platform | None = None, *, announce: bool = True
) -> FastAPI:
    """Build the app: checks settings, migrates the database, ensures the admin and data.

    Args:
        settings: Defaults to ``Settings()`` (environment, ``.env``, ``.env.wsgi``).
        platform: An already bootstrapped platform (tests share one).
        announce: Log the start-up notes (``bootstrap``); ``quantdesk serve``'s API process
            does not (its supervisor did).

    Raises:
        ConfigurationError: unsafe settings outside development.
    """
    platform = platform or bootstrap(settings or Settings(), announce=announce)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings = platform.settings
        bus = receiver_for(settings.redis_url, settings.hub_socket)
        hub = Hub(platform.db, bus, platform.processes, platform.backtests.counts)
        app.state.hub = hub
        platform.backtests.live = hub.progress_of
        await hub.start()
        handler = HubLogHandler(hub, asyncio.get_running_loop())
        logging.getLogger().addHandler(handler)
        await run_in_threadpool(platform.research.reconcile)
        stopping = asyncio.Event()
        expiry = asyncio.create_task(_expire_sessions(platform, stopping))
        purge = asyncio.create_task(_purge_events(platform, stopping))
        app.state.update_scheduler = UpdateScheduler(platform.db, settings, platform.catalog)
        schedule = asyncio.create_task(_scheduled_updates(app.state.update_scheduler, stopping))
        try:
            yield
        finally:
            stopping.set()
            for task in (expiry, purge, schedule):  # each ends its thread's work first
                with contextlib.suppress(Exception):
                    await task
            await app.state.close_notebook_clients()
            logging.getLogger().removeHandler(handler)
            platform.backtests.live = None
            await hub.stop()
            platform.close()

    app = QuantdeskAPI(
        title="quantdesk",
        summary="Self-hosted backtests on real market data (BackQuant-compatible API).",
        version="0.1.0",
        lifespan=lifespan,
        # Operation ids are the route functions' names (``run``, ``job_status``...): what a
        # generated client calls them.
        generate_unique_id_function=lambda route: route.name,
    )
    app.state.platform = platform
    errors.install(app)
    app.include_router(router)
    app.include_router(jobs_router)
    app.include_router(users_router)
    app.include_router(data_router)
    app.include_router(analysis_router)
    app.include_router(sources_router)
    app.include_router(indexes_router)
    app.include_router(events_router)
    app.include_router(ws.router)
    app.include_router(research_router)
    app.include_router(seed_data_router)  # last: its {source}/{symbol} must not shadow others
    jupyter_proxy.install(app, platform)
    web.install(app, passed=(platform.settings.research_notebook_proxy_base,))
    middleware.install(app, platform.settings)  # last: outermost, the UI's answers too
    return app
