"""``create_app(settings)``: the FastAPI application."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from quantdesk.api import errors, jupyter_proxy, middleware, web, ws
from quantdesk.api.routes import router
from quantdesk.api.routes_data import router as data_router
from quantdesk.api.routes_events import router as events_router
from quantdesk.api.routes_jobs import router as jobs_router
from quantdesk.api.routes_research import router as research_router
from quantdesk.api.routes_users import router as users_router
from quantdesk.core.settings import Settings
from quantdesk.services.events import Hub
from quantdesk.services.events.hub import HubLogHandler
from quantdesk.services.platform import Platform, bootstrap
from quantdesk.storage.bus import receiver_for

#: Seconds between two checks for expired notebook sessions.
EXPIRY_CHECK_SECONDS = 2.0


async def _expire_sessions(platform: Platform) -> None:
    """End expired notebook sessions (stopping their kernels) every few seconds."""
    while True:
        await asyncio.sleep(EXPIRY_CHECK_SECONDS)
        try:
            await run_in_threadpool(platform.research.expire_due)
        except Exception:
            logging.getLogger("quantdesk.research").exception("expiring notebook sessions failed")


def create_app(settings: Settings | None = None, platform: Platform | None = None) -> FastAPI:
    """Build the app: checks settings, migrates the database, ensures the admin and data.

    Args:
        settings: Defaults to ``Settings()`` (environment / ``.env``).
        platform: An already bootstrapped platform (tests share one).

    Raises:
        ConfigurationError: unsafe settings outside development.
    """
    platform = platform or bootstrap(settings or Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings = platform.settings
        bus = receiver_for(settings.redis_url, settings.hub_socket)
        hub = Hub(platform.db, bus, platform.processes)
        hub.status_hooks.append(lambda: {"jobs": platform.backtests.counts()})
        app.state.hub = hub
        platform.backtests.live = hub.progress_of
        await hub.start()
        handler = HubLogHandler(hub, asyncio.get_running_loop())
        logging.getLogger().addHandler(handler)
        await run_in_threadpool(platform.research.reconcile)
        expiry = asyncio.create_task(_expire_sessions(platform))
        try:
            yield
        finally:
            expiry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await expiry
            await app.state.close_notebook_clients()
            logging.getLogger().removeHandler(handler)
            platform.backtests.live = None
            await hub.stop()
            platform.close()

    app = FastAPI(
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
    app.include_router(events_router)
    app.include_router(ws.router)
    app.include_router(research_router)
    jupyter_proxy.install(app, platform)
    web.install(app, passed=(platform.settings.research_notebook_proxy_base,))
    middleware.install(app, platform.settings)  # last: outermost, the UI's answers too
    return app
