"""Time helpers: tz-aware UTC now, and the API's ISO 8601 form."""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    """The current time, tz-aware UTC."""
    return dt.datetime.now(dt.UTC)


def iso_utc(value: dt.datetime | None) -> str | None:
    """``value`` as ISO 8601 UTC with a ``Z`` suffix (``None`` stays ``None``)."""
    return None if value is None else value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
