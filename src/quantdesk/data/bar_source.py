"""The engine's ``BarSource`` over the catalog: bars, sessions, instruments, index membership."""

from __future__ import annotations

import datetime as dt

import numpy as np

from quantdesk.core.errors import DataUnavailable
from quantdesk.core.instruments import Instrument
from quantdesk.data.calendars import sessions as calendar_sessions
from quantdesk.data.catalog import Adjust, Catalog
from quantdesk.data.index_members import Composition
from quantdesk.data.parquet import read_parquet
from quantdesk.data.validation import LIMIT_COLUMNS
from quantdesk.engine.ports import BarSeries, DateArray, FloatArray


class CatalogBarSource:
    """``quantdesk.engine.BarSource`` backed by a ``Catalog`` with one adjustment mode."""

    def __init__(self, catalog: Catalog, adjust: Adjust) -> None:
        self.catalog = catalog
        self.adjust = adjust

    def instrument(self, order_book_id: str) -> Instrument:
        """The catalog's instrument ``order_book_id`` (``NotFound`` if unknown)."""
        return self.catalog.instrument(order_book_id)

    def instruments(self) -> list[Instrument]:
        """Every instrument of the catalog (``all_instruments`` in a strategy)."""
        return self.catalog.instruments()

    def sessions(self, calendar: str, start: dt.date, end: dt.date) -> DateArray:
        """Sessions of ``calendar`` in ``[start, end]`` (cached in the catalog's ``calendars``)."""
        return calendar_sessions(calendar, start, end, self.catalog.root / "calendars")

    def index_components(self, index_id: str, day: dt.date) -> Composition:
        """The composition of ``index_id`` in effect on ``day`` (``IndexMembership``).

        Raises:
            NotFound: no membership stored for the index.
            DataUnavailable: ``day`` is before its first composition.
        """
        return self.catalog.memberships.composition_on(index_id, day)

    def bars(self, order_book_id: str, end: dt.date) -> BarSeries:
        """The same bars as ``Catalog.bars_frame(order_book_id, end=end, adjust=...)``.

        Read straight from Parquet into numpy (no DataFrame): this runs for every
        instrument of every backtest. ``limit_up``/``limit_down`` are the stored columns as
        traded (the engine converts with ``factor``), ``None`` when the file has none.

        Raises:
            NotFound: unknown instrument.
            DataUnavailable: the instrument has no bar file.
        """
        catalog = self.catalog
        catalog.instrument(order_book_id)
        path = catalog._bars_path(order_book_id)
        if not path.exists():
            raise DataUnavailable(f"no daily bars stored for {order_book_id}")
        table = read_parquet(path)
        dates = np.asarray(table.column("date").to_numpy(), dtype="datetime64[D]")
        cols = {
            name: np.array(table.column(name).to_numpy(zero_copy_only=False), dtype=np.float64)
            for name in ("open", "high", "low", "close", "volume", "adj_close")
        }
        limits: dict[str, FloatArray | None] = {
            name: (
                np.array(table.column(name).to_numpy(zero_copy_only=False), dtype=np.float64)
                if name in table.schema.names
                else None
            )
            for name in LIMIT_COLUMNS
        }
        factor: FloatArray | None = None
        if self.adjust is Adjust.PRE:
            factor = _pre_factor(cols["close"], cols["adj_close"])
            if factor is None:
                factor = np.ones(len(dates))
            else:
                for name in ("open", "high", "low", "close"):
                    cols[name] = cols[name] * factor
                cols["volume"] = cols["volume"] / factor
        n = int(np.searchsorted(dates, np.datetime64(end, "D"), side="right"))
        up, down = limits["limit_up"], limits["limit_down"]
        return BarSeries(
            order_book_id=order_book_id,
            dates=dates[:n],
            open=cols["open"][:n].copy(),
            high=cols["high"][:n].copy(),
            low=cols["low"][:n].copy(),
            close=cols["close"][:n].copy(),
            volume=cols["volume"][:n].copy(),
            factor=None if factor is None else factor[:n].copy(),
            limit_up=None if up is None else up[:n].copy(),
            limit_down=None if down is None else down[:n].copy(),
        )


def _pre_factor(close: FloatArray, adj_close: FloatArray) -> FloatArray | None:
    """``_pre_adjust``'s factor in numpy; ``None`` when there is no ratio to adjust by."""
    ratio = adj_close / close
    valid = ~np.isnan(ratio)
    if len(ratio) == 0 or not valid.any():
        return None
    # forward fill, then back fill the leading gap (pandas ffill().bfill())
    idx = np.where(valid, np.arange(len(ratio)), 0)
    np.maximum.accumulate(idx, out=idx)
    filled = ratio[idx]
    first = int(np.argmax(valid))
    filled[:first] = ratio[first]
    result: FloatArray = filled / filled[-1]
    return result


__all__ = ["CatalogBarSource"]
