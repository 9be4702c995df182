"""``quantdesk serve``: the API plus local worker processes."""

from __future__ import annotations

import logging
import signal
from typing import Annotated

import typer
import uvicorn

from quantdesk.cli.errors import reported_errors, stderr
from quantdesk.core.settings import DEVELOPMENT_PASSWORD, Settings
from quantdesk.services.platform import bootstrap, start_local_workers


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 54321,
    workers: Annotated[
        int | None, typer.Option(help="Local worker processes (default $WORKERS or 2).")
    ] = None,
) -> None:
    """Start the HTTP API and N local backtest workers (Ctrl-C stops both)."""
    with reported_errors():
        settings = Settings()
        if workers is not None:
            if workers < 0:
                raise typer.BadParameter("--workers must be >= 0")
            settings = settings.model_copy(update={"workers": workers})
        platform = bootstrap(settings)  # migrations and the admin before any worker starts
        platform.close()
        pool = start_local_workers(settings, settings.workers)
        password = settings.local_auth_password or (
            DEVELOPMENT_PASSWORD
            if settings.is_development and not settings.local_auth_password_hash
            else "(LOCAL_AUTH_PASSWORD)"
        )
        stderr.print(
            f"quantdesk on http://{host}:{port}  (API docs: http://{host}:{port}/docs)\n"
            f"log in with mobile={settings.local_auth_mobile} password={password}\n"
            f"{settings.workers} workers · database {platform.db.url.render_as_string()} · "
            f"data {settings.data_dir} · jobs {settings.backtest_base_dir}",
            markup=False,
        )
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        # The API is imported by name: cli and api are sibling layers (DESIGN §3). The factory
        # builds the app from the same environment settings.
        config = uvicorn.Config(
            "quantdesk.api.app:create_app", factory=True, host=host, port=port, log_level="info"
        )
        server = uvicorn.Server(config)
        # uvicorn shuts down gracefully on SIGTERM and then re-raises it; with the default
        # handler that would end the process before the workers are stopped.
        signal.signal(signal.SIGTERM, _terminate)
        signal.signal(signal.SIGINT, _terminate)
        try:
            server.run()
        except _Terminated:
            pass
        finally:
            pool.stop()


class _Terminated(Exception):
    """SIGTERM or SIGINT arrived (after uvicorn's graceful shutdown)."""


def _terminate(_signum: int, _frame: object) -> None:
    raise _Terminated
