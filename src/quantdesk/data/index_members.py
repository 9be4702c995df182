"""Index membership over time: compositions, and the rules they follow.

A composition is the members (and their weights) of an index from the day it took effect
until the next one of the same index: the members on day ``d`` are those of the latest
composition dated on or before ``d`` (RQAlpha's and rqdatac's ``index_components(
order_book_id, date)``). Before an index's first composition nothing is known, and asking is
an error rather than an empty list, which a backtest would silently take for "no members"
(survivorship bias the other way round). ``index_store.IndexMembership`` keeps them in the
catalog; files and sources produce them (``index_files``, ``index_sources``).
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from quantdesk.core.errors import DataUnavailable, InvalidArgument


@dataclass(frozen=True)
class Composition:
    """The members of an index from ``date`` until its next composition.

    Attributes:
        index_id: The index's ``order_book_id`` (``000300.XSHG``).
        date: The day it took effect.
        order_book_ids: The members, sorted; empty for an index that held nothing.
        weights: Each member's weight in percent (same order), ``None`` entries where
            unknown; ``None`` when the source gave no weights at all.
        source: Where it came from.
    """

    index_id: str
    date: dt.date
    order_book_ids: tuple[str, ...]
    weights: tuple[float | None, ...] | None = None
    source: str = "upload"

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape: ``{index_id, date, order_book_ids, weights, source}``."""
        return {
            "index_id": self.index_id,
            "date": self.date.isoformat(),
            "order_book_ids": list(self.order_book_ids),
            "weights": None if self.weights is None else list(self.weights),
            "source": self.source,
        }


@dataclass(frozen=True)
class IndexSummary:
    """What the catalog knows of one index's membership.

    Attributes:
        index_id: The index.
        first_date: Its first composition's date (nothing is known before it).
        last_date: Its latest composition's date (in effect from then on).
        compositions: How many compositions are stored.
        members: How many members the latest composition has.
        weights: Whether the latest composition has weights.
        sources: The sources its compositions came from, sorted.
    """

    index_id: str
    first_date: dt.date
    last_date: dt.date
    compositions: int
    members: int
    weights: bool
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Change:
    """One composition against the one before it: who joined, who left."""

    date: dt.date
    members: int
    added: tuple[str, ...]
    removed: tuple[str, ...]
    source: str


@dataclass
class MergeReport:
    """What a merge did (or, dry run, would do), per index.

    ``indexes`` maps each index to ``{"added": n, "replaced": n, "first": date, "last":
    date}``: compositions new to the catalog, compositions replacing one of the same date.
    """

    indexes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape, dates as ``YYYY-MM-DD``."""
        return {
            index_id: {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in d.items()}
            for index_id, d in self.indexes.items()
        }


class BeforeFirstComposition(DataUnavailable):
    """A day before an index's first stored composition.

    ``data`` has ``index_id``, ``first_date`` and the ``date`` asked (the API's error body
    carries it).
    """

    def __init__(self, index_id: str, first: dt.date, day: dt.date) -> None:
        super().__init__(f"index {index_id} membership is known from {first} on, not on {day}")
        self.data = {"index_id": index_id, "first_date": first.isoformat(),
                     "date": day.isoformat()}  # fmt: skip


def check_composition(composition: Composition, check_id: Any) -> Composition:
    """``composition`` with sorted members, after checking it.

    Args:
        composition: The composition as read from a file or a source.
        check_id: ``Catalog.check_id`` (raises ``InvalidArgument`` on an id that cannot be
            stored).

    Raises:
        InvalidArgument: a bad id, a member listed twice, weights of another length than
            the members, or a weight that is negative or not finite.
    """
    check_id(composition.index_id)
    ids = list(composition.order_book_ids)
    for oid in ids:
        check_id(oid)
    twice = sorted(oid for oid, n in Counter(ids).items() if n > 1)
    if twice:
        raise InvalidArgument(
            f"{composition.index_id} on {composition.date}: member(s) listed twice: "
            f"{', '.join(twice[:10])}"
        )
    weights = composition.weights
    if weights is not None:
        if len(weights) != len(ids):
            raise InvalidArgument(
                f"{composition.index_id} on {composition.date}: {len(weights)} weights for "
                f"{len(ids)} members"
            )
        for oid, w in zip(ids, weights, strict=True):
            if w is not None and (not math.isfinite(w) or w < 0):
                raise InvalidArgument(
                    f"{composition.index_id} on {composition.date}: weight of {oid} is {w}; "
                    "weights are percentages >= 0"
                )
        if all(w is None for w in weights):
            weights = None
    order = sorted(range(len(ids)), key=ids.__getitem__)
    return Composition(
        composition.index_id,
        composition.date,
        tuple(ids[i] for i in order),
        None if weights is None else tuple(weights[i] for i in order),
        composition.source,
    )


def compositions_from_spells(
    index_id: str,
    spells: Iterable[tuple[str, dt.date, dt.date | None]],
    source: str = "upload",
) -> list[Composition]:
    """Compositions from membership spells ``(order_book_id, start, end)``.

    ``end`` is the member's last day in the index (inclusive), ``None`` while it stays. A
    composition is made on every day membership changes (each start, each day after an
    end); when every spell has ended, the last composition is empty.

    Raises:
        InvalidArgument: a spell ending before it starts, or two spells of one member
            sharing a day.
    """
    by_member: dict[str, list[tuple[dt.date, dt.date | None]]] = {}
    for oid, start, end in spells:
        if end is not None and end < start:
            raise InvalidArgument(f"{index_id}: {oid} leaves on {end}, before it joins on {start}")
        # the last representable day ends nothing (and has no day after it)
        by_member.setdefault(oid, []).append((start, None if end == dt.date.max else end))
    days: set[dt.date] = set()
    for oid, member_spells in by_member.items():
        member_spells.sort(key=lambda s: s[0])
        for (_, end), (start, _) in itertools.pairwise(member_spells):
            if end is None or end >= start:
                raise InvalidArgument(f"{index_id}: two membership spells of {oid} overlap")
        for start, end in member_spells:
            days.add(start)
            if end is not None:
                days.add(end + dt.timedelta(days=1))
    return [
        Composition(
            index_id,
            day,
            tuple(
                sorted(
                    oid
                    for oid, member_spells in by_member.items()
                    if any(s <= day and (e is None or day <= e) for s, e in member_spells)
                )
            ),
            source=source,
        )
        for day in sorted(days)
    ]


__all__ = [
    "BeforeFirstComposition",
    "Change",
    "Composition",
    "IndexSummary",
    "MergeReport",
    "check_composition",
    "compositions_from_spells",
]
