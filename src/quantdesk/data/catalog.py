"""The Parquet catalog under ``DATA_DIR``.

Layout::

    DATA_DIR/instruments.parquet           one row per instrument (+ bar statistics);
                                           columns in ``instruments_table.INSTRUMENT_SCHEMA``
    DATA_DIR/bars/1d/<order_book_id>.parquet   date, open, high, low, close, volume, adj_close
                                               [, limit_up] [, limit_down]

Bar prices are stored as traded. ``adj_close`` is the source's adjusted close (the
adjustment factor is derived from it when reading); ``limit_up``/``limit_down`` are the
exchange's daily price limits, present only when the imported data had them (NaN where a
bar's limit is unknown), and never adjusted on reading. Files written before either optional
column existed read as they are: no limits, ``MainBoard``, no ST periods.

Every write goes to a temporary file in the same folder, is fsynced, then renamed over the
target, so a crash never leaves a half-written file.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import re
import threading
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from quantdesk.core.errors import (
    DataUnavailable,
    DataValidationError,
    InvalidArgument,
    NotFound,
)
from quantdesk.core.files import atomic_writer, exclusive_lock
from quantdesk.core.instruments import MARKET_CALENDAR, Instrument
from quantdesk.data.calendars import sessions as calendar_sessions
from quantdesk.data.index_store import IndexMembership
from quantdesk.data.instruments_table import (
    checked_instrument,
    instrument_from_row,
    row_from_instrument,
    rows_from_table,
    table_from_rows,
)
from quantdesk.data.parquet import file_stamp, read_parquet
from quantdesk.data.validation import LIMIT_COLUMNS, ImportReport, validate_bars

FREQUENCIES = ("1d",)

_BAR_SCHEMA = pa.schema(
    [  # type: ignore[arg-type]
        ("date", pa.date32()),
        ("open", pa.float64()),
        ("high", pa.float64()),
        ("low", pa.float64()),
        ("close", pa.float64()),
        ("volume", pa.float64()),
        ("adj_close", pa.float64()),
    ]
)
#: Optional bar columns, written only when the imported frame has them.
_LIMIT_FIELDS = [pa.field(name, pa.float64()) for name in LIMIT_COLUMNS]


class Adjust(StrEnum):
    """Price adjustment applied when reading bars.

    ``none``: prices as traded. ``pre``: forward ratio adjustment (前复权) from the source's
    adjusted close: every OHLC is multiplied by ``(adj_close / close) / (adj_close_T /
    close_T)`` where ``T`` is the instrument's last bar, so the last bar keeps its traded
    prices and splits/dividends no longer show as jumps; volume is divided by the same factor.
    """

    NONE = "none"
    PRE = "pre"


def _atomic_write_table(table: pa.Table, path: Path) -> None:
    with atomic_writer(path) as fh:
        pq.write_table(table, fh, compression="zstd")


#: What an ``order_book_id`` may be in the catalog (``Catalog.check_id``).
ORDER_BOOK_ID = re.compile(r"[A-Za-z0-9_^=\-][A-Za-z0-9._^=\-]{0,31}")


class Catalog:
    """Read and write market data under ``root`` (``DATA_DIR``)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._instruments: dict[str, dict[str, Any]] | None = None
        self._stamp: tuple[int, ...] | None = None
        self._memberships: IndexMembership | None = None
        self._read_lock = threading.RLock()

    @property
    def _instruments_path(self) -> Path:
        return self.root / "instruments.parquet"

    def _bars_path(self, order_book_id: str, frequency: str = "1d") -> Path:
        if frequency not in FREQUENCIES:
            raise InvalidArgument(
                f"frequency {frequency!r} is not supported; choose {', '.join(FREQUENCIES)}"
            )
        self.check_id(order_book_id)
        return self.root / "bars" / frequency / f"{order_book_id}.parquet"

    @staticmethod
    def check_id(order_book_id: str) -> str:
        """``order_book_id`` if the catalog can store it (it names a file).

        1-32 characters: letters, digits and ``. _ - ^ =`` (``000001.XSHE``, ``BRK-B``,
        ``^GSPC``, ``EURUSD=X``), not starting with a dot.

        Raises:
            InvalidArgument: anything else.
        """
        if not ORDER_BOOK_ID.fullmatch(order_book_id):
            raise InvalidArgument(
                f"invalid order_book_id {order_book_id!r}: 1-32 letters, digits or . _ - ^ =, "
                "not starting with a dot"
            )
        return order_book_id

    # -- instruments --------------------------------------------------------------------------

    def _rows(self) -> dict[str, dict[str, Any]]:
        """The instruments table, re-read when its file changed.

        Another process may write it: a data-update job on a worker, an import from the CLI.
        """
        with self._read_lock:  # the API reads from a thread pool: one loader at a time
            stamp = file_stamp(self._instruments_path)
            if self._instruments is None or stamp != self._stamp:
                self._instruments = (
                    rows_from_table(read_parquet(self._instruments_path))
                    if stamp is not None
                    else {}
                )
                self._stamp = stamp
            return self._instruments

    def warm(self) -> None:
        """Load the trading calendars of the catalog's markets into this process's cache.

        A fork server does it once so that the jobs it forks skip it.
        """
        markets = {str(r.get("market")) for r in self._rows().values()}
        for market, calendar in MARKET_CALENDAR.items():
            if str(market) in markets or not markets:
                with contextlib.suppress(Exception):
                    calendar_sessions(calendar, dt.date(2000, 1, 3), dt.date(2000, 1, 4),
                                      self.root / "calendars")  # fmt: skip
        self._instruments = None  # re-read per job: the table may change between jobs

    def make_readable(self) -> int:
        """Give every catalog file read (and folder search) permission to all users.

        The sandboxed jobs that read it run under their own uid; catalogs written before that
        had 0600 files. Returns the number of entries changed.
        """
        changed = 0
        if not self.root.is_dir():
            return changed
        for path in [self.root, *self.root.rglob("*")]:
            if path.is_symlink():
                continue
            want = 0o755 if path.is_dir() else 0o644
            mode = path.stat().st_mode & 0o777
            if mode & want != want:
                with contextlib.suppress(OSError):
                    path.chmod(mode | want)
                    changed += 1
        return changed

    def is_empty(self) -> bool:
        """True when no instrument has been imported."""
        return not self._rows()

    def instruments(self) -> list[Instrument]:
        """All instruments, sorted by ``order_book_id``."""
        return [instrument_from_row(r) for _, r in sorted(self._rows().items())]

    def instrument(self, order_book_id: str) -> Instrument:
        """One instrument.

        Raises:
            NotFound: unknown id (the message suggests close matches).
        """
        row = self._rows().get(order_book_id)
        if row is None:
            known = sorted(self._rows())
            close = difflib.get_close_matches(order_book_id, known, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            listing = ", ".join(known) if len(known) <= 20 else f"{len(known)} instruments"
            raise NotFound(
                f"unknown order_book_id {order_book_id!r}{hint} (catalog: {listing or 'empty'};"
                " `quantdesk data list` shows them)"
            )
        return instrument_from_row(row)

    def stats(self) -> list[dict[str, Any]]:
        """Per instrument, sorted by id: reference data plus first/last bar and bar count.

        Each dict is a row of the instruments table (``board_type`` as text, ``st_periods``
        as ``[{"start": date, "end": date | None}]``) with ``first_bar``, ``last_bar`` and
        ``bar_count``; the caller owns it.
        """
        return [
            {**r, "st_periods": [dict(p) for p in r["st_periods"]]}
            for _, r in sorted(self._rows().items())
        ]

    # -- bars ----------------------------------------------------------------------------------

    def import_bars(
        self, instrument: Instrument, frame: pd.DataFrame, *, strict: bool = False
    ) -> ImportReport:
        """Validate and store daily bars of ``instrument`` (replacing earlier bars).

        Args:
            instrument: Reference data (upserted into the instruments table, its ST periods
                sorted; ``instruments_table.checked_instrument`` has the rules).
            frame: Columns ``date, open, high, low, close, volume``, optional ``adj_close``,
                and optional ``limit_up``/``limit_down`` (the exchange's daily limits in
                traded prices, empty where unknown; ``validation`` has the rules).
            strict: Refuse the whole frame if any row is invalid (default: drop those rows).

        Returns:
            The validation report (rejected rows and missing sessions).

        Raises:
            InvalidArgument: bad reference data (id, lot size, board, ST periods).
            DataValidationError: missing columns, no valid row, or (``strict``) any invalid
                row; nothing is written then.
        """
        return self.import_many([(instrument, frame)], strict=strict)[0]

    def import_many(
        self,
        items: list[tuple[Instrument, pd.DataFrame]],
        *,
        strict: bool = False,
        merge_stored: bool = False,
    ) -> list[ImportReport]:
        """``import_bars`` for several instruments, writing the instruments table once.

        Every instrument is checked and validated before any file is written, so an error
        (or, ``strict``, an invalid row) anywhere writes nothing. A bulk import or update of
        thousands of instruments then rewrites the table once, not once per instrument.

        ``merge_stored``: each frame is laid over the instrument's stored bars (its rows
        win on the dates it has; ``merged_with_stored``) inside the write lock, so bars
        another process wrote meanwhile are kept (a source update).

        Raises:
            The errors of ``import_bars``; nothing is written then.
        """
        if not merge_stored:
            staged = self._validated(items, strict)
            with self.write_lock():
                self._write_staged(staged)
        else:
            with self.write_lock():
                merged = [(ins, self.merged_with_stored(ins.order_book_id, frame))
                          for ins, frame in items]  # fmt: skip
                staged = self._validated(merged, strict)
                self._write_staged(staged)
        return [report for _, _, report in staged]

    def _validated(
        self, items: list[tuple[Instrument, pd.DataFrame]], strict: bool
    ) -> list[tuple[Instrument, pd.DataFrame, ImportReport]]:
        staged = []
        for given, frame in items:
            instrument = checked_instrument(given)
            self._bars_path(instrument.order_book_id)  # validates the id before any work
            clean, report = validate_bars(frame, instrument.order_book_id, instrument.calendar)
            if strict and report.rejected:
                raise DataValidationError(
                    f"{len(report.rejected)} invalid rows, nothing imported:\n{report.describe()}"
                )
            staged.append((instrument, clean, report))
        return staged

    def merged_with_stored(self, order_book_id: str, new: pd.DataFrame) -> pd.DataFrame:
        """``new`` bars (a ``date`` column) over the stored ones of ``order_book_id``.

        The stored rows on dates ``new`` lacks, then ``new``'s rows; dates as text.
        """
        stored = self.stored_bars(order_book_id)
        if stored is None or stored.empty:
            return new
        dates = set(pd.to_datetime(new["date"], errors="coerce").dt.date)
        keep = stored[~pd.to_datetime(stored["date"]).dt.date.isin(dates)].copy()
        keep["date"] = pd.to_datetime(keep["date"]).dt.date.astype(str)
        return pd.concat([keep, new], ignore_index=True)

    def write_lock(self) -> contextlib.AbstractContextManager[None]:
        """The catalog's write lock (``DATA_DIR/.write.lock``).

        Held while a writer reads, changes and rewrites a shared table (the instruments
        table, index membership).

        Without it an import in the API and an update job on a worker, both rewriting the
        instruments table from what they read, would drop each other's new rows.
        """
        return exclusive_lock(self.root / ".write.lock")

    def _write_staged(self, staged: list[tuple[Instrument, pd.DataFrame, ImportReport]]) -> None:
        self._instruments = None  # under the lock: read the table as it is on disk now
        rows = dict(self._rows())
        for instrument, clean, report in staged:
            names = [*_BAR_SCHEMA, *(f for f in _LIMIT_FIELDS if f.name in clean.columns)]
            schema = pa.schema(names)
            table = pa.Table.from_pandas(
                clean.assign(date=clean["date"].dt.date)[list(schema.names)],
                schema=schema,
                preserve_index=False,
            )
            _atomic_write_table(table, self._bars_path(instrument.order_book_id))
            row = row_from_instrument(instrument)
            row.update(first_bar=report.first, last_bar=report.last, bar_count=report.rows_accepted)
            rows[instrument.order_book_id] = row
        if staged:
            _atomic_write_table(table_from_rows(rows), self._instruments_path)
            self._instruments = None  # re-read (with the new file's stamp) on next use

    def stored_bars(self, order_book_id: str) -> pd.DataFrame | None:
        """The bars of ``order_book_id`` as stored (traded prices), or ``None`` without a file."""
        path = self._bars_path(order_book_id)
        if not path.exists():
            return None
        return read_parquet(path).to_pandas()

    def bars_frame(
        self,
        order_book_id: str,
        start: dt.date | None = None,
        end: dt.date | None = None,
        adjust: Adjust = Adjust.NONE,
    ) -> pd.DataFrame:
        """Daily bars of one instrument in ``[start, end]`` as a DataFrame indexed by date.

        Columns ``open, high, low, close, volume, adj_close``, ``factor`` with ``Adjust.PRE``
        (adjusted = traded * factor), and ``limit_up``/``limit_down`` when the stored file has
        them: those stay in traded prices whatever ``adjust`` is (multiply them by ``factor``
        to compare them with adjusted prices), NaN where unknown.

        Raises:
            NotFound: unknown instrument.
            DataUnavailable: the instrument has no bar file.
        """
        adjust = Adjust(adjust)
        self.instrument(order_book_id)
        path = self._bars_path(order_book_id)
        if not path.exists():
            raise DataUnavailable(f"no daily bars stored for {order_book_id}")
        table = read_parquet(path)
        df = table.to_pandas()
        df["date"] = pd.to_datetime(df["date"])
        if adjust is Adjust.PRE:
            df = _pre_adjust(df)
        if start is not None:
            df = df[df["date"] >= pd.Timestamp(start)]
        if end is not None:
            df = df[df["date"] <= pd.Timestamp(end)]
        return df.set_index("date")

    def splits(
        self, order_book_id: str, start: dt.date, end: dt.date
    ) -> list[tuple[dt.date, float]]:
        """Likely share splits in ``[start, end]``, read off the stored adjusted close.

        A session where ``adj_close / close`` jumps by a factor of 1.4 or more (either way)
        against the previous session is a split or reverse split (dividends move it by a few
        percent at most). Returns ``(ex-date, factor)`` with factor = new shares per old share.
        """
        df = self.bars_frame(order_book_id, adjust=Adjust.NONE)
        ratio = df["adj_close"] / df["close"]
        step = ratio / ratio.shift(1)
        hits = step[(step >= 1.4) | (step <= 1 / 1.4)]
        days = [ts.date() for ts in pd.DatetimeIndex(hits.index)]
        return [
            (day, round(float(f), 4))
            for day, f in zip(days, hits.tolist(), strict=True)
            if start <= day <= end
        ]

    @property
    def memberships(self) -> IndexMembership:
        """Index membership over time (``index_store``, ``index_members``), under the same root."""
        if self._memberships is None:
            self._memberships = IndexMembership(self.root)
        return self._memberships


def _pre_adjust(df: pd.DataFrame) -> pd.DataFrame:
    """Forward-adjusted OHLCV plus the ``factor`` column (adjusted = traded * factor)."""
    ratio = (df["adj_close"] / df["close"]).to_numpy()
    if len(ratio) == 0 or np.isnan(ratio).all():
        return df.assign(factor=1.0)
    ratio = pd.Series(ratio).ffill().bfill().to_numpy()
    factor = ratio / ratio[-1]
    out = df.copy()
    out["factor"] = factor
    for col in ("open", "high", "low", "close"):
        out[col] = df[col].to_numpy() * factor
    out["volume"] = df["volume"].to_numpy() / factor
    return out


__all__ = ["MARKET_CALENDAR", "Adjust", "Catalog"]
