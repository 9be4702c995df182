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


def _probe(args: dict[str, Any]) -> int:
    from quantdesk.jobs.sandbox.probe import probe

    return probe(args)


TARGETS: dict[str, Callable[[dict[str, Any]], int]] = {
    "job": _job,
    "compile": _compile,
    "probe": _probe,
}


def resolve(name: str, args: dict[str, Any]) -> Callable[[], int]:
    """The target ``name`` bound to ``args``.

    Raises:
        KeyError: no such target.
    """
    function = TARGETS[name]
    return lambda: function(args)
