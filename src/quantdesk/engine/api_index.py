"""RQAlpha's index functions: ``index_components`` and ``index_weights``.

Both read the index membership the run's data source knows (``ports.IndexSource``: the
catalog's ``index_components.parquet``) as of a day; a day after the current one is an
error (as in RQAlpha), so a strategy cannot see a future rebalance. As in RQAlpha
(rqdatac), the composition in effect on a day is the latest one dated on or before it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from quantdesk.core.errors import DataUnavailable, InvalidArgument
from quantdesk.engine.api_data import as_date

if TYPE_CHECKING:
    from quantdesk.engine.ports import IndexComposition
    from quantdesk.engine.session import StrategySession


class IndexFunctions:
    """``index_components`` / ``index_weights`` bound to one run."""

    _engine: StrategySession

    @staticmethod
    def _index_id(order_book_id: Any) -> str:
        return str(getattr(order_book_id, "order_book_id", order_book_id))

    def _composition(self, order_book_id: Any, date: Any) -> IndexComposition:
        engine = self._engine
        day = engine.today if date is None else as_date(date)
        if day > engine.today:
            raise InvalidArgument(  # RQAlpha raises too: a later date would look ahead
                f"index composition asked for {day}, after the current date {engine.today}"
            )
        return engine.index_composition(self._index_id(order_book_id), day)

    def index_components(self, order_book_id: Any, date: Any = None) -> list[str]:
        """The members of index ``order_book_id`` on ``date`` (default: today).

        Returns:
            ``order_book_id`` values, sorted; members the catalog has no bars for are listed
            too (ordering one fails as for any unknown instrument).

        Raises:
            NotFound: no membership known for the index.
            DataUnavailable: ``date`` is before its first known composition.
            InvalidArgument: ``date`` is after today.
        """
        return list(self._composition(order_book_id, date).order_book_ids)

    def index_weights(self, order_book_id: Any, date: Any = None) -> pd.Series:
        """The members' weights on ``date`` as fractions (a ``Series`` by ``order_book_id``).

        Fractions of 1, as rqdatac's ``index_weights`` returns them (stored in percent).

        Raises:
            NotFound: no membership known for the index.
            DataUnavailable: ``date`` is before its first known composition, or the
                composition in effect has no weights.
        """
        comp = self._composition(order_book_id, date)
        if comp.weights is None:
            raise DataUnavailable(
                f"the composition of {self._index_id(order_book_id)} in effect since "
                f"{comp.date} (from {comp.source}) has no weights"
            )
        values = [float("nan") if w is None else w / 100.0 for w in comp.weights]
        return pd.Series(values, index=pd.Index(comp.order_book_ids, name="order_book_id"),
                         name="weight", dtype="float64")  # fmt: skip
