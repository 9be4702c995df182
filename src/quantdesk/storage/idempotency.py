"""Idempotency keys of ``POST /api/backtest/run`` (table ``idempotency_keys``).

A key is per user and remembered for ``IDEMPOTENCY_KEY_HOURS``: the same key and body return
the job it first created; the same key with another body is refused (422). Submissions of the
same request or key are serialized by ``lock_request`` inside the inserting transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from sqlalchemy import delete, text
from sqlalchemy.orm import Session

from quantdesk.core.errors import Unprocessable
from quantdesk.storage.models import IdempotencyKeyRow, JobRow


@dataclass(frozen=True)
class KeyUse:
    """One use of an ``Idempotency-Key``: per owner, remembered from ``since`` on.

    ``IETF draft-ietf-httpapi-idempotency-key-header``, Stripe's semantics.
    """

    owner_id: int
    key: str
    fingerprint: str
    since: dt.datetime


def keyed_job(session: Session, use: KeyUse) -> str | None:
    """The job the key created, if it is remembered and that job still exists.

    Raises:
        Unprocessable: the key was first used with a different request body.
    """
    row = session.get(IdempotencyKeyRow, (use.owner_id, use.key))
    if row is None or row.created_at < use.since or session.get(JobRow, row.job_id) is None:
        return None
    if row.fingerprint is not None and row.fingerprint != use.fingerprint:
        raise Unprocessable(
            "this Idempotency-Key was already used with a different request body; "
            "use a new key for a new request"
        )
    return row.job_id


def remember_key(session: Session, use: KeyUse, job_id: str, now: dt.datetime) -> None:
    """Record that ``use`` created ``job_id`` (replacing an expired use of the same key)."""
    session.execute(
        delete(IdempotencyKeyRow).where(
            IdempotencyKeyRow.owner_id == use.owner_id, IdempotencyKeyRow.key == use.key
        )
    )
    session.add(IdempotencyKeyRow(owner_id=use.owner_id, key=use.key,
                                  fingerprint=use.fingerprint, job_id=job_id,
                                  created_at=now))  # fmt: skip


def forget_keys(session: Session, before: dt.datetime) -> int:
    """Delete key uses older than ``before``; returns how many."""
    result = session.execute(delete(IdempotencyKeyRow).where(IdempotencyKeyRow.created_at < before))
    return int(getattr(result, "rowcount", 0) or 0)


def lock_request(session: Session, owner_id: int, name: str) -> None:
    """Serialize transactions submitting the same request (or key) until they end.

    PostgreSQL: a transaction-scoped advisory lock on (owner, name). SQLite: nothing to do,
    write transactions already run one at a time (BEGIN IMMEDIATE).
    """
    if session.get_bind().dialect.name == "postgresql":
        digest = hashlib.sha256(f"{owner_id}:{name}".encode()).digest()
        key = int.from_bytes(digest[:8], "big", signed=True)
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
