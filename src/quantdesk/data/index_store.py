"""The catalog's index compositions: stored, read by day, merged.

Layout: ``DATA_DIR/index_components.parquet``, one row per member of each composition::

    index_id       string   000300.XSHG
    date           date32   the day this composition took effect
    order_book_id  string   a member (null in the single row of an empty composition)
    weight         float64  its weight in percent, null when the source gave none
    source         string   where the composition came from (upload, baostock, akshare)

What a composition means is ``index_members``'s.

Compositions are merged by ``(index_id, date)``: one arriving for a date already stored
replaces it whole; other dates are kept. Writes are atomic and taken under the catalog's
write lock (``Catalog.write_lock``), so an upload and an update job never lose each other's
rows.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from quantdesk.core.errors import NotFound
from quantdesk.core.files import atomic_writer
from quantdesk.data.index_members import (
    BeforeFirstComposition,
    Change,
    Composition,
    IndexSummary,
    MergeReport,
)
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
        # the API reads from a thread pool: one thread at a time loads the file and builds an
        # index's series, so a series built from an older file is never kept for a newer one
        self._lock = threading.RLock()

    @property
    def path(self) -> Path:
        """``DATA_DIR/index_components.parquet``."""
        return self.root / FILE_NAME

    def frame(self) -> pd.DataFrame:
        """Every stored row (``MEMBERSHIP_SCHEMA``, ``date`` as ``datetime.date``).

        Sorted by index, date and member; re-read when another process changed the file.
        """
        with self._lock:
            stamp = file_stamp(self.path)
            if self._frame is None or stamp != self._stamp:
                table = (
                    read_parquet(self.path)
                    if stamp is not None
                    else MEMBERSHIP_SCHEMA.empty_table()
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
        with self._lock:
            frame = self.frame()
            hit = self._by_index.get(index_id)
            if hit is None:
                hit = self._build(frame, index_id)
                self._by_index[index_id] = hit
            return hit

    @staticmethod
    def _build(frame: pd.DataFrame, index_id: str) -> tuple[list[dt.date], list[Composition]]:
        """``index_id``'s compositions from ``frame`` (``_series``).

        Raises:
            NotFound: no membership stored for the index.
        """
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
        return [c.date for c in comps], comps

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
        with self._lock:
            self._frame = None  # under the write lock: read what is on disk now
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


__all__ = ["FILE_NAME", "MEMBERSHIP_SCHEMA", "IndexMembership"]
