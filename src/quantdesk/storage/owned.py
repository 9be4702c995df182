"""The one lookup of an object owned by a user.

A user's jobs, API keys, strategies and their versions, research items and notebook sessions
are looked up by id through it (``storage.jobs``, ``users``, ``strategies``, ``research``), so
"another user's id answers 404" has a single implementation.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from sqlalchemy.orm import Session


class Owned(Protocol):
    """A row with an ``owner_id`` column."""

    owner_id: Any


RowT = TypeVar("RowT", bound=Owned)


def get_owned(session: Session, model: type[RowT], key: Any, owner_id: int | None) -> RowT | None:
    """The row of ``model`` with primary key ``key`` when ``owner_id`` owns it.

    Args:
        session: An open session.
        model: The mapped class (``JobRow``, ``ApiKeyRow``, ``ResearchItemRow``...).
        key: Its primary key (a tuple for composite keys).
        owner_id: The caller's user id; ``None`` skips the ownership check (admin tools).

    Returns:
        The row, or ``None`` when there is none or another user owns it.
    """
    row = session.get(model, key)
    if row is None or (owner_id is not None and row.owner_id != owner_id):
        return None
    return row
