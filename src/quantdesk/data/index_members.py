"""Index membership over time: which instruments an index held on a given day.

Layout: ``DATA_DIR/index_components.parquet``, one row per member of each composition::

    index_id       string   000300.XSHG
    date           date32   the day this composition took effect
    order_book_id  string   a member (null in the single row of an empty composition)
    weight         float64  its weight in percent, null when the source gave none
    source         string   where the composition came from (upload, baostock, akshare)

A composition stays in effect until the next one of the same index: the members on day
``d`` are those of the latest composition dated on or before ``d`` (RQAlpha's and rqdatac's
``index_components(order_book_id, date)``). Before an index's first composition nothing is
known, and asking is an error rather than an empty list, which a backtest would silently
take for "no members" (survivorship bias the other way round).

Compositions are merged by ``(index_id, date)``: one arriving for a date already stored
replaces it whole; other dates are kept. Writes are atomic and taken under the catalog's
write lock (``Catalog.write_lock``), so an upload and an update job never lose each other's
rows.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from quantdesk.core.errors import DataUnavailable, InvalidArgument, NotFound
from quantdesk.core.files import atomic_writer
from quantdesk.data.parquet import file_stamp, read_parquet

FILE_NAME = "index_components.parquet"

MEMBERSHIP_SCHEMA = pa.schema(
    [  # type: ignore[arg-type]  # pyarrow-stubs: DataType factories are typed as object
        ("index_id", pa.string()),
        ("date", pa.date32()),
        ("order_book_id", pa.string()),
        ("weight", pa.float64()),
        ("source", pa.string()),
    ]
)


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
        by_member.setdefault(oid, []).append((start, end))
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


def _composition(
    index_id: str, day: dt.date, members: np.ndarray, weights: np.ndarray, source: str
) -> Composition:
    """A composition from its stored member rows (weights NaN where unknown)."""
    known = ~np.isnan(weights)
    return Composition(
        index_id, day, tuple(str(m) for m in members),
        tuple(float(w) if k else None for w, k in zip(weights, known, strict=True))
        if known.any() else None,
        source,
    )  # fmt: skip


class IndexMembership:
    """Read and merge the index compositions under ``root`` (``DATA_DIR``)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._frame: pd.DataFrame | None = None
        self._stamp: tuple[int, ...] | None = None
        self._by_index: dict[str, tuple[list[dt.date], list[Composition]]] = {}

    @property
    def path(self) -> Path:
        """``DATA_DIR/index_components.parquet``."""
        return self.root / FILE_NAME

    def frame(self) -> pd.DataFrame:
        """Every stored row (``MEMBERSHIP_SCHEMA``, ``date`` as ``datetime.date``).

        Sorted by index, date and member; re-read when another process changed the file.
        """
        stamp = file_stamp(self.path)
        if self._frame is None or stamp != self._stamp:
            table = (
                read_parquet(self.path) if stamp is not None else MEMBERSHIP_SCHEMA.empty_table()
            )
            self._frame = table.to_pandas(date_as_object=True)
            self._stamp = stamp
            self._by_index = {}
        return self._frame

    # -- reading --------------------------------------------------------------------------

    def indexes(self) -> list[IndexSummary]:
        """Every index with stored membership, sorted by id."""
        out = []
        for index_id, rows in self.frame().groupby("index_id", sort=True):
            dates = sorted(set(rows["date"]))
            latest = rows[rows["date"] == dates[-1]]
            out.append(IndexSummary(
                str(index_id), dates[0], dates[-1], len(dates),
                int(latest["order_book_id"].notna().sum()), bool(latest["weight"].notna().any()),
                tuple(sorted(set(map(str, rows["source"])))),
            ))  # fmt: skip
        return out

    def _series(self, index_id: str) -> tuple[list[dt.date], list[Composition]]:
        """The compositions of ``index_id`` oldest first, with their dates for ``bisect``.

        Built once per index and file version: a backtest asks every session, and filtering
        the whole table each time cost ~25 ms a call on 20 years of two indexes
        (``bench/index_members.py``).

        Raises:
            NotFound: no membership stored for the index.
        """
        frame = self.frame()
        hit = self._by_index.get(index_id)
        if hit is not None:
            return hit
        rows = frame[frame["index_id"] == index_id]
        if rows.empty:
            known = sorted(set(frame["index_id"]))
            listing = ", ".join(known[:20]) if known else "none"
            raise NotFound(
                f"no membership stored for index {index_id!r} (indexes with membership: "
                f"{listing}); upload it (POST /api/data/indexes/import, `quantdesk data "
                "import-index`) or update it from a source that provides index_constituents"
            )
        rows = rows.sort_values(["date", "order_book_id"], na_position="first", kind="stable")
        days = np.array(rows["date"].tolist(), dtype="datetime64[D]")
        cuts = [0, *(np.flatnonzero(days[1:] != days[:-1]) + 1).tolist(), len(days)]
        members = rows["order_book_id"].to_numpy(dtype=object)
        present = rows["order_book_id"].notna().to_numpy()
        weights = rows["weight"].to_numpy(dtype=np.float64)
        sources = rows["source"].to_numpy(dtype=object)
        comps = [
            _composition(
                index_id,
                days[a].item(),
                members[a:b][present[a:b]],
                weights[a:b][present[a:b]],
                str(sources[a]),
            )
            for a, b in itertools.pairwise(cuts)
        ]
        hit = ([c.date for c in comps], comps)
        self._by_index[index_id] = hit
        return hit

    def composition_on(self, index_id: str, day: dt.date) -> Composition:
        """The composition of ``index_id`` in effect on ``day``.

        Raises:
            NotFound: no membership stored for the index.
            DataUnavailable: ``day`` is before its first composition.
        """
        dates, comps = self._series(index_id)
        at = bisect.bisect_right(dates, day)
        if at == 0:
            raise BeforeFirstComposition(index_id, dates[0], day)
        return comps[at - 1]

    def compositions(
        self, index_id: str, start: dt.date | None = None, end: dt.date | None = None
    ) -> list[Composition]:
        """The compositions of ``index_id`` in effect at some day of ``[start, end]``.

        Oldest first: the one in effect on ``start`` (if any) and every later one up to
        ``end``.

        Raises:
            NotFound: no membership stored for the index.
        """
        dates, comps = self._series(index_id)
        first = 0 if start is None else max(bisect.bisect_right(dates, start) - 1, 0)
        last = len(dates) if end is None else bisect.bisect_right(dates, end)
        return comps[first:last]

    def changes(
        self, index_id: str, start: dt.date | None = None, end: dt.date | None = None
    ) -> list[Change]:
        """``compositions(index_id, start, end)`` as changes against the previous one.

        The first is compared with the composition before it, if one is stored.

        Raises:
            NotFound: no membership stored for the index.
        """
        comps = self.compositions(index_id, start, end)
        if not comps:
            return []
        everything = self.compositions(index_id)
        at = next(i for i, c in enumerate(everything) if c.date == comps[0].date)
        previous = set(everything[at - 1].order_book_ids) if at > 0 else set()
        out = []
        for comp in comps:
            now = set(comp.order_book_ids)
            out.append(Change(comp.date, len(now), tuple(sorted(now - previous)),
                              tuple(sorted(previous - now)), comp.source))  # fmt: skip
            previous = now
        return out

    def spells(self, index_id: str) -> list[tuple[str, dt.date, dt.date | None]]:
        """Membership spells ``(order_book_id, start, end)`` of ``index_id``.

        Sorted by member then start; ``end`` is the last day in the index (the day before
        the composition without it), ``None`` while in the latest composition.
        ``compositions_from_spells`` inverts it.

        Raises:
            NotFound: no membership stored for the index.
        """
        comps = self.compositions(index_id)
        open_since: dict[str, dt.date] = {}
        out: list[tuple[str, dt.date, dt.date | None]] = []
        for comp in comps:
            now = set(comp.order_book_ids)
            for oid in sorted(set(open_since) - now):
                out.append((oid, open_since.pop(oid), comp.date - dt.timedelta(days=1)))
            for oid in sorted(now - set(open_since)):
                open_since[oid] = comp.date
        out.extend((oid, start, None) for oid, start in open_since.items())
        return sorted(out, key=lambda s: (s[0], s[1]))

    # -- writing --------------------------------------------------------------------------

    def merge(self, compositions: list[Composition], *, dry_run: bool = False) -> MergeReport:
        """Store ``compositions``, replacing stored ones of the same index and date.

        The caller checked them (``check_composition``). The file is rewritten once.

        The caller holds the catalog's write lock (``Catalog.write_lock``).
        """
        self._frame = None  # under the lock: read what is on disk now
        stored = self.frame()
        keys = {(c.index_id, c.date) for c in compositions}
        present = set(zip(stored["index_id"], stored["date"], strict=True))
        report = MergeReport()
        for comp in sorted(compositions, key=lambda c: (c.index_id, c.date)):
            entry = report.indexes.setdefault(
                comp.index_id, {"added": 0, "replaced": 0, "first": comp.date, "last": comp.date}
            )
            entry["replaced" if (comp.index_id, comp.date) in present else "added"] += 1
            entry["first"] = min(entry["first"], comp.date)
            entry["last"] = max(entry["last"], comp.date)
        if dry_run or not compositions:
            return report
        keep = stored[[k not in keys for k in zip(stored["index_id"], stored["date"],
                                                  strict=True)]]  # fmt: skip
        new_rows = [
            {"index_id": c.index_id, "date": c.date, "order_book_id": oid, "weight": w,
             "source": c.source}
            for c in compositions
            for oid, w in (
                zip(c.order_book_ids, c.weights or [None] * len(c.order_book_ids), strict=True)
                if c.order_book_ids else [(None, None)]
            )
        ]  # fmt: skip
        merged = pd.concat([keep, pd.DataFrame(new_rows, columns=MEMBERSHIP_SCHEMA.names)],
                           ignore_index=True)  # fmt: skip
        merged = merged.sort_values(["index_id", "date", "order_book_id"], na_position="first")
        table = pa.Table.from_pandas(merged, schema=MEMBERSHIP_SCHEMA, preserve_index=False)
        with atomic_writer(self.path) as fh:
            pq.write_table(table, fh, compression="zstd")
        self._frame = None
        return report


__all__ = [
    "FILE_NAME",
    "MEMBERSHIP_SCHEMA",
    "BeforeFirstComposition",
    "Change",
    "Composition",
    "IndexMembership",
    "IndexSummary",
    "MergeReport",
    "check_composition",
    "compositions_from_spells",
]
