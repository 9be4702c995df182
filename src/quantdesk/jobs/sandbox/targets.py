"""What a sandbox may run, by name: the fork server and the launcher accept nothing else.

Each target takes the request's JSON ``args`` and returns an exit status; it runs as the
sandboxed code (after the sandbox is entered), with fd 3 as its events pipe.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _job(args: dict[str, Any]) -> int:
    """The backtest of the job folder the sandbox put us in (its own ``/job``)."""
    import os

    from quantdesk.jobs.child import main

    return main(os.getcwd(), log_bytes=int(args.get("log_bytes") or 0) or None)


def _compile(args: dict[str, Any]) -> int:
    from quantdesk.jobs.compile_check import run

    return run(str(args["code"]))


def _jupyter(args: dict[str, Any]) -> int:
    """JupyterLab for a research session (``jobs/notebooks.py``): replaces this process.

    Listens on the Unix socket ``args["socket"]`` only (no TCP), serves under
    ``args["base_url"]``, keeps its notebooks in the working folder and talks to kernels over
    ``ipc``; the token comes in ``JUPYTER_TOKEN``.
    """
    import os
    import sys

    argv = [
        sys.executable, "-m", "jupyterlab", "--no-browser",
        f"--ServerApp.sock={args['socket']}", f"--ServerApp.base_url={args['base_url']}",
        f"--ServerApp.root_dir={os.getcwd()}", "--KernelManager.transport=ipc",
        "--ServerApp.ip=127.0.0.1",  # never bound (the socket is): skips probing TCP
        "--ServerApp.terminals_enabled=False", "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]  # fmt: skip
    sys.stdout.flush()
    os.execv(sys.executable, argv)


def _probe(args: dict[str, Any]) -> int:
    from quantdesk.jobs.sandbox.probe import probe

    return probe(args)


TARGETS: dict[str, Callable[[dict[str, Any]], int]] = {
    "job": _job,
    "compile": _compile,
    "probe": _probe,
    "jupyter": _jupyter,
}


def resolve(name: str, args: dict[str, Any]) -> Callable[[], int]:
    """The target ``name`` bound to ``args``.

    Raises:
        KeyError: no such target.
    """
    function = TARGETS[name]
    return lambda: function(args)
