"""What a job reports on its events pipe, checked: the pipe is written by untrusted code.

Each line is a JSON object (``jobs/sandbox/handle.py`` parses it); these functions keep only
what is well formed: progress (``JobProgress``), the new equity points, and an error.
"""

from __future__ import annotations

import math
from typing import Any

from quantdesk.core.jobs import JobErrorCode
from quantdesk.jobs.artifacts import JobFailure, JobProgress

#: Equity points kept from one events line.
MAX_EQUITY_POINTS = 100_000


def progress_event(message: dict[str, Any]) -> dict[str, Any] | None:
    """A validated ``{progress, current_bar, total_bars}`` from an events line (untrusted)."""
    try:
        update = JobProgress.model_validate(message)
    except ValueError:
        return None
    return update.model_dump(include={"progress", "current_bar", "total_bars"})


def equity_points(message: dict[str, Any]) -> list[list[Any]]:
    """The ``[date, nav]`` points of an events line (malformed ones are dropped)."""
    raw = message.get("equity")
    if not isinstance(raw, list):
        return []
    points = []
    for item in raw[:MAX_EQUITY_POINTS]:
        if (
            isinstance(item, list) and len(item) == 2
            and isinstance(item[0], str) and len(item[0]) == 10
            and isinstance(item[1], int | float) and not isinstance(item[1], bool)
            and math.isfinite(item[1])
        ):  # fmt: skip
            points.append([item[0], float(item[1])])
    return points


def error_event(message: dict[str, Any]) -> dict[str, str] | None:
    """A validated ``{code, message}`` from an events line (untrusted)."""
    try:
        error = JobFailure.model_validate(message.get("error"))
    except ValueError:
        return None
    if not error.code.isupper():
        return None
    if error.code in (JobErrorCode.WORKER_LOST, JobErrorCode.SANDBOX_UNAVAILABLE):
        return None  # only the runner decides those
    return {"code": error.code, "message": str(error.message)[:4000]}
