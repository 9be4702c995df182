"""Strategy metadata rows (the code itself is a file, see ``services.strategies``)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from quantdesk.storage.models import StrategyRow, StrategyVersionRow
from quantdesk.storage.owned import get_owned


def get(session: Session, owner_id: int, strategy_id: str) -> StrategyRow | None:
    """One strategy of ``owner_id``."""
    return get_owned(session, StrategyRow, (owner_id, strategy_id), owner_id)


def save(
    session: Session,
    *,
    owner_id: int,
    strategy_id: str,
    size: int,
    code_sha256: str,
    now: dt.datetime,
    created_at: dt.datetime | None,
) -> StrategyRow:
    """Insert or update a strategy's metadata; ``created_at`` is kept once set."""
    row = get(session, owner_id, strategy_id)
    if row is None:
        row = StrategyRow(
            owner_id=owner_id, id=strategy_id, created_at=created_at, name="", description="",
            tags=[], version=0,
        )  # fmt: skip
        session.add(row)
    row.updated_at = now
    row.size = size
    row.code_sha256 = code_sha256
    return row


def set_metadata(
    row: StrategyRow,
    *,
    name: str | None = None,
    description: str | None = None,
    tags: list[str] | None = None,
) -> None:
    """Set the given descriptive fields of ``row`` (``None``: unchanged)."""
    if name is not None:
        row.name = name
    if description is not None:
        row.description = description
    if tags is not None:
        row.tags = list(tags)


def copy_metadata(source: StrategyRow, target: StrategyRow) -> None:
    """Give ``target`` the name, description, tags and version number of ``source`` (a rename)."""
    target.name, target.description = source.name, source.description
    target.tags, target.version = list(source.tags or []), source.version


def add_version(
    session: Session, row: StrategyRow, code: str, code_sha256: str, now: dt.datetime
) -> int:
    """Keep ``code`` as the next version of ``row``; returns its number (1, 2, ...)."""
    row.version = (row.version or 0) + 1
    session.add(
        StrategyVersionRow(
            owner_id=row.owner_id, strategy_id=row.id, version=row.version, code=code,
            code_sha256=code_sha256, size=len(code.encode()), created_at=now,
        )
    )  # fmt: skip
    return row.version


def versions(session: Session, owner_id: int, strategy_id: str) -> list[StrategyVersionRow]:
    """Every version of a strategy, newest first."""
    return list(
        session.scalars(
            select(StrategyVersionRow)
            .where(
                StrategyVersionRow.owner_id == owner_id,
                StrategyVersionRow.strategy_id == strategy_id,
            )
            .order_by(StrategyVersionRow.version.desc())
        )
    )


def version(
    session: Session, owner_id: int, strategy_id: str, number: int
) -> StrategyVersionRow | None:
    """One version of a strategy."""
    return get_owned(session, StrategyVersionRow, (owner_id, strategy_id, number), owner_id)


def move_versions(session: Session, owner_id: int, from_id: str, to_id: str) -> None:
    """Give a renamed strategy its history."""
    session.execute(
        update(StrategyVersionRow)
        .where(StrategyVersionRow.owner_id == owner_id, StrategyVersionRow.strategy_id == from_id)
        .values(strategy_id=to_id)
    )


def delete_versions(session: Session, owner_id: int, strategy_id: str) -> None:
    """Drop a strategy's history."""
    session.execute(
        delete(StrategyVersionRow).where(
            StrategyVersionRow.owner_id == owner_id, StrategyVersionRow.strategy_id == strategy_id
        )
    )


def search(
    session: Session, owner_id: int, q: str | None, limit: int, offset: int
) -> tuple[list[StrategyRow], int]:
    """Strategies of ``owner_id`` whose id contains ``q``, newest update first, and the total."""
    where = [StrategyRow.owner_id == owner_id]
    if q:
        escaped = q.replace("!", "!!").replace("%", "!%").replace("_", "!_")
        where.append(StrategyRow.id.like(f"%{escaped}%", escape="!"))
    total = session.scalar(select(func.count()).select_from(StrategyRow).where(*where)) or 0
    rows = session.scalars(
        select(StrategyRow)
        .where(*where)
        .order_by(StrategyRow.updated_at.desc(), StrategyRow.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), int(total)


def ids(session: Session, owner_id: int) -> set[str]:
    """Every strategy id of ``owner_id``."""
    return set(session.scalars(select(StrategyRow.id).where(StrategyRow.owner_id == owner_id)))


def delete_row(session: Session, row: StrategyRow) -> None:
    """Delete the strategy metadata ``row`` (its versions and code file are the caller's)."""
    session.delete(row)
    session.flush()
