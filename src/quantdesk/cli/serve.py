"""``quantdesk serve``: a supervisor that runs the API process and N local workers.

The supervisor binds the listening socket itself and hands it to the API process
(``python -m quantdesk.api.process FD``), so a restarted API answers on the same port at
once; it restarts a dead API process or worker with back-off (``jobs/local.py``) and stops
all of them on SIGTERM/SIGINT. Workers get the server's settings without its secrets.
"""

from __future__ import annotations

import signal
import socket
import sys
import threading
from typing import Annotated

import typer

from quantdesk.cli.daemon import claim_pid_file, release_pid_file, start_daemon
from quantdesk.cli.errors import reported_errors, stderr
from quantdesk.core import logs
from quantdesk.core.settings import DEVELOPMENT_PASSWORD, Settings
from quantdesk.services.platform import bootstrap, supervise_platform


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 54321,
    workers: Annotated[
        int | None, typer.Option(help="Local worker processes (default $WORKERS or 2).")
    ] = None,
    daemon: Annotated[
        bool,
        typer.Option(
            help="Run in the background (PID file var/run/quantdesk-<port>.pid; "
            "`quantdesk stop` / `status` / `restart`)."
        ),
    ] = False,
) -> None:
    """Start the HTTP API and N local backtest workers (Ctrl-C stops both)."""
    with reported_errors():
        settings = Settings()
        if daemon:
            argv = ["--host", host, "--port", str(port)]
            if workers is not None:
                argv += ["--workers", str(workers)]
            pid = start_daemon(argv, settings, host, port)
            stderr.print(f"quantdesk started in the background (pid {pid}) on "
                         f"http://{host}:{port}; `quantdesk stop` stops it")  # fmt: skip
            return
        claim_pid_file(settings, host, port)  # refuses while a server runs on this port
        logs.configure(settings.log_dir, json_lines=settings.log_json, rotating=True,
                       max_mb=settings.log_max_mb, backups=settings.log_backups)  # fmt: skip
        if workers is not None:
            if workers < 0:
                raise typer.BadParameter("--workers must be >= 0")
            settings = settings.model_copy(update={"workers": workers})
        platform = bootstrap(settings)  # migrations, the admin, the sandbox sweep, then workers
        platform.close()
        listener = socket.create_server((host, port), reuse_port=False, backlog=2048)
        listener.set_inheritable(True)
        api = [sys.executable, "-m", "quantdesk.api.process", str(listener.fileno())]
        supervisor = supervise_platform(settings, api, listener.fileno())
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
        stopping = threading.Event()

        def _terminate(_signum: int, _frame: object) -> None:
            stopping.set()

        signal.signal(signal.SIGTERM, _terminate)
        signal.signal(signal.SIGINT, _terminate)
        try:
            ticks = 0
            while not stopping.wait(0.5):
                ticks += 1
                if ticks % 10 == 0:
                    logs.rotate()
        finally:
            supervisor.stop()
            listener.close()
            release_pid_file(settings, port)
