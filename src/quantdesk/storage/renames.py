"""The strategy rename map: old id -> current id, per owner, kept chain-compressed."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from quantdesk.storage.models import StrategyRenameRow


def mapping(session: Session, owner_id: int) -> dict[str, str]:
    """``{old_id: current_id}`` of ``owner_id``."""
    rows = session.scalars(
        select(StrategyRenameRow)
        .where(StrategyRenameRow.owner_id == owner_id)
        .order_by(StrategyRenameRow.from_id)
    ).all()
    return {r.from_id: r.to_id for r in rows}


def resolve(session: Session, owner_id: int, strategy_id: str) -> str | None:
    """The current id an old id maps to (``None`` when it is not an old id)."""
    row = session.get(StrategyRenameRow, (owner_id, strategy_id))
    return row.to_id if row is not None else None


def add(
    session: Session,
    owner_id: int,
    from_id: str,
    to_id: str,
    now: dt.datetime,
    *,
    target_is_live: bool,
) -> None:
    """Record ``from_id -> to_id`` and compress chains.

    Every ``X -> from_id`` becomes ``X -> to_id`` (``A->B`` then ``B->C`` gives ``A->C``,
    ``B->C``). When ``to_id`` is a live strategy (a rename) it stops being an old id; when it
    is itself an old id (a hand-made entry), the entry points at what it resolves to.
    Self-maps are dropped.
    """
    if target_is_live:
        session.execute(
            delete(StrategyRenameRow).where(
                StrategyRenameRow.owner_id == owner_id, StrategyRenameRow.from_id == to_id
            )
        )
    else:
        to_id = resolve(session, owner_id, to_id) or to_id
    session.execute(
        update(StrategyRenameRow)
        .where(StrategyRenameRow.owner_id == owner_id, StrategyRenameRow.to_id == from_id)
        .values(to_id=to_id)
    )
    row = session.get(StrategyRenameRow, (owner_id, from_id))
    if row is None:
        session.add(
            StrategyRenameRow(owner_id=owner_id, from_id=from_id, to_id=to_id, created_at=now)
        )
    else:
        row.to_id = to_id
    session.execute(
        delete(StrategyRenameRow).where(
            StrategyRenameRow.owner_id == owner_id,
            StrategyRenameRow.from_id == StrategyRenameRow.to_id,
        )
    )
    session.flush()  # (constraint errors surface here, inside the caller's clean-up)


def forget(session: Session, owner_id: int, strategy_id: str) -> list[str]:
    """Remove every entry mapping to ``strategy_id`` (and it as an old id); returns old ids."""
    old = [
        r.from_id
        for r in session.scalars(
            select(StrategyRenameRow).where(
                StrategyRenameRow.owner_id == owner_id, StrategyRenameRow.to_id == strategy_id
            )
        )
    ]
    session.execute(
        delete(StrategyRenameRow).where(
            StrategyRenameRow.owner_id == owner_id,
            (StrategyRenameRow.to_id == strategy_id) | (StrategyRenameRow.from_id == strategy_id),
        )
    )
    return old
