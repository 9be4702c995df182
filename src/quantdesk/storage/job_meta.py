"""What a user writes about a job (title, notes) and what the platform records of its result.

Apart from ``storage.jobs`` (the job's lifecycle: leases, fences, states): these writes never
touch a job's state and take no fence.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from quantdesk.storage.jobs import HEADLINE_COLUMNS, owned
from quantdesk.storage.models import JobRow

#: The summary metrics kept as columns of ``jobs`` (sortable in the jobs list).
HEADLINE_METRICS = HEADLINE_COLUMNS


def annotate(
    session: Session, job_id: str, owner_id: int, *, title: str | None, notes: str | None
) -> JobRow:
    """Set the title and/or notes of the caller's job (``None`` leaves one as it is).

    Raises:
        NotFound: no such job of ``owner_id``.
    """
    row = owned(session, job_id, owner_id)
    if title is not None:
        row.title = title
    if notes is not None:
        row.notes = notes
    session.flush()
    return row


def headline_metrics(summary: Mapping[str, Any]) -> dict[str, float | None]:
    """``HEADLINE_METRICS`` of a result summary: finite numbers, else ``None``.

    The summary comes from the job's own file (untrusted): anything but a finite number is
    ``None``.
    """
    out: dict[str, float | None] = {}
    for key in HEADLINE_METRICS:
        value = summary.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            out[key] = None
        else:
            out[key] = float(value) if math.isfinite(value) else None
    return out
