"""The API process ``quantdesk serve`` supervises: ``python -m quantdesk.api.process FD``.

Serves the app with uvicorn on the listening socket the supervisor opened and passed as file
descriptor ``FD`` (so a restarted API answers on the same port at once). The socket is
wrapped with its real family: uvicorn's own ``--fd`` assumes a UNIX socket, which leaves
Nagle's algorithm on for TCP and costs every response a 40 ms delayed ACK.
"""

from __future__ import annotations

import os
import signal
import socket
import sys

import uvicorn
from fastapi import FastAPI

from quantdesk.api.app import create_app
from quantdesk.core import logs
from quantdesk.core.settings import Settings
from quantdesk.jobs.sandbox.linux import PR_SET_PDEATHSIG, prctl


def main(argv: list[str] | None = None) -> None:
    """Serve the API on the listening socket whose descriptor is ``argv[0]`` (``sys.argv[1:]``).

    Stops at once (and when the supervisor dies later, by ``SIGTERM``) if the supervisor that
    started this process is already gone.
    """
    args = sys.argv[1:] if argv is None else argv
    parent = os.getppid()
    prctl(PR_SET_PDEATHSIG, signal.SIGTERM)  # the supervisor gone (even by SIGKILL): stop too
    if os.getppid() != parent:
        return
    sock = socket.socket(fileno=int(args[0]))
    settings = Settings()
    logs.configure(settings.log_dir, json_lines=settings.log_json)
    config = uvicorn.Config(
        "quantdesk.api.process:create_checked_app", factory=True, log_level="info", backlog=2048,
        log_config=None,  # uvicorn's loggers go to ours (console, server.log, the logs channel)
    )  # fmt: skip
    uvicorn.Server(config).run(sockets=[sock])


def create_checked_app() -> FastAPI:
    """The app, after the sandbox self-test (logged at start, and shown by ``/api/health``)."""
    app = create_app(announce=False)  # the supervisor logged the start-up notes
    app.state.platform.compiler.sandbox()
    return app


if __name__ == "__main__":
    main()
