"""quantdesk's RQAlpha mod. It runs inside RQAlpha's own interpreter, never in ours.

The adapter copies this file into the run's work directory and enables it in
``config.yml`` (``mod.quantdesk: {enabled: true, lib: quantdesk_mod, ...}``). It

* sets the strategy's universe before ``init`` (RQAlpha's ``context.universe`` is otherwise
  empty until ``update_universe``; there is no config key for it);
* records every order the strategy places with its final status and message (RQAlpha's
  ``result.pkl`` keeps trades only) and writes them to ``orders_file`` as JSON at the end;
* prints ``QUANTDESK_RQALPHA_VERSION x.y.z`` at start and ``QUANTDESK_PROGRESS done total``
  after each session's settlement, which the adapter turns into the result's engine version
  and progress callbacks;
* replaces ``index_components`` / ``index_weights`` (rqdatac's, unavailable offline) with
  lookups in the catalog's index membership, which the adapter writes to ``index_file``
  (``{index_id: [[date, [members], [weights in percent] | null], ...]}``, oldest first):
  the composition in effect on a day is the latest dated on or before it, and a day after
  the current one is refused, as in RQAlpha.

Imports only RQAlpha and the standard library (RQAlpha's venv has no quantdesk).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from rqalpha.core.events import EVENT  # type: ignore[import-not-found]
from rqalpha.interface import AbstractMod  # type: ignore[import-not-found]

__config__ = {
    "universe": [], "orders_file": "orders.json", "total_sessions": 0, "index_file": "",
    "priority": 1000,
}  # fmt: skip

# The adapter (quantdesk.backtest.engines.rqalpha) parses these prefixes; keep them equal.
PROGRESS_PREFIX = "QUANTDESK_PROGRESS"
VERSION_PREFIX = "QUANTDESK_RQALPHA_VERSION"


def load_mod() -> QuantdeskMod:
    """RQAlpha's entry point for a mod: a new ``QuantdeskMod``."""
    return QuantdeskMod()


def _name(value: Any) -> Any:
    return getattr(value, "name", value)


def _caller_side() -> str:
    """The side of the order API call that is failing (read off its frame), else ``BUY``.

    ``env.order_creation_failed`` carries no side; RQAlpha 6.4's order functions hold it as
    ``side`` or as the sign of ``cash_amount`` / ``amount``.
    """
    frame: Any = sys._getframe(2)
    while frame is not None:
        local = frame.f_locals
        side = _name(local.get("side"))
        if side in ("BUY", "SELL"):
            return str(side)
        for name in ("cash_amount", "amount", "quantity"):
            value = local.get(name)
            if isinstance(value, int | float) and value != 0:
                return "BUY" if value > 0 else "SELL"
        frame = frame.f_back
    return "BUY"


class QuantdeskMod(AbstractMod):  # type: ignore[misc]
    """Sets the universe, records orders and prints the version and progress (see the module)."""

    def __init__(self) -> None:
        self._env: Any = None
        self._orders: dict[int, Any] = {}  # in creation order
        self._failed: dict[int, dict[str, Any]] = {}
        self._universe: list[str] = []
        self._file = "orders.json"
        self._total = 0
        self._done = 0

    def start_up(self, env: Any, mod_config: Any) -> None:
        """Print the RQAlpha version, read ``mod_config`` and listen to the run's events.

        ``mod_config`` holds this mod's ``__config__`` keys: ``universe``, ``orders_file``,
        ``total_sessions`` (the denominator of the progress lines) and ``index_file`` (empty:
        no index membership).
        """
        import rqalpha  # type: ignore[import-not-found]

        print(f"{VERSION_PREFIX} {rqalpha.__version__}", flush=True)  # noqa: T201 (read by the adapter)
        self._env = env
        self._universe = list(mod_config.universe or [])
        self._file = mod_config.orders_file
        self._total = int(mod_config.total_sessions or 0)
        if mod_config.index_file:
            self._install_index_api(str(mod_config.index_file))
        bus = env.event_bus
        bus.add_listener(EVENT.BEFORE_STRATEGY_RUN, self._set_universe)
        for event in (
            EVENT.ORDER_PENDING_NEW,
            EVENT.ORDER_CREATION_REJECT,
            EVENT.ORDER_UNSOLICITED_UPDATE,
            EVENT.ORDER_CANCELLATION_PASS,
            EVENT.TRADE,
        ):
            bus.add_listener(event, self._order)
        bus.add_listener(EVENT.POST_SETTLEMENT, self._progress)

    def _install_index_api(self, path: str) -> None:
        """Export ``index_components`` and ``index_weights`` over ``path``'s compositions."""
        import bisect
        import datetime
        import json

        import pandas as pd  # RQAlpha's own dependency
        from rqalpha.api import export_as_api  # type: ignore[import-not-found]
        from rqalpha.utils.exception import RQInvalidArgument  # type: ignore[import-not-found]

        with open(path, encoding="utf-8") as fh:
            table = {
                index_id: [(datetime.date.fromisoformat(d), ids, w) for d, ids, w in rows]
                for index_id, rows in json.load(fh).items()
            }
        dates = {index_id: [r[0] for r in rows] for index_id, rows in table.items()}
        env = self._env

        def composition(order_book_id: Any, date: Any) -> tuple[Any, list[str], Any]:
            today = env.trading_dt.date()
            day = today if date is None else pd.Timestamp(str(date)).date()
            if day > today:
                raise RQInvalidArgument(
                    f"index composition asked for {day}, after the current date {today}"
                )
            index_id = str(getattr(order_book_id, "order_book_id", order_book_id))
            rows = table.get(index_id)
            if not rows:
                raise RQInvalidArgument(f"no membership stored for index {index_id!r}")
            at = bisect.bisect_right(dates[index_id], day)
            if at == 0:
                raise RQInvalidArgument(
                    f"index {index_id} membership is known from {rows[0][0]} on, not on {day}"
                )
            return rows[at - 1]

        def index_components(order_book_id: Any, date: Any = None) -> list[str]:
            return list(composition(order_book_id, date)[1])

        def index_weights(order_book_id: Any, date: Any = None) -> Any:
            since, ids, weights = composition(order_book_id, date)
            if weights is None:
                raise RQInvalidArgument(f"the composition in effect since {since} has no weights")
            values = [float("nan") if w is None else w / 100.0 for w in weights]
            return pd.Series(values, index=pd.Index(ids, name="order_book_id"), name="weight")

        export_as_api(index_components, name="index_components")
        export_as_api(index_weights, name="index_weights")

    def _set_universe(self, _event: Any) -> None:
        if self._universe:
            self._env.update_universe(self._universe)

    def _order(self, event: Any) -> None:
        order = getattr(event, "order", None)
        if order is not None:
            if order.order_id not in self._orders:
                self._orders[order.order_id] = order
            return
        reason = getattr(event, "reason", None)
        if reason is not None:  # "Order Creation Failed": refused before an order existed
            key = -(len(self._failed) + 1)
            self._failed[key] = {
                "order_id": key,
                "datetime": self._env.trading_dt.isoformat(),
                "order_book_id": str(getattr(event, "order_book_id", "")),
                "side": _caller_side(),
                "quantity": 0.0,
                "filled_quantity": 0.0,
                "avg_price": 0.0,
                "price": None,
                "type": "MARKET",
                "status": "REJECTED",
                "message": str(reason),
                "transaction_cost": 0.0,
            }
            self._orders[key] = None  # keeps its place among the orders

    def _progress(self, _event: Any) -> None:
        self._done += 1
        print(f"{PROGRESS_PREFIX} {self._done} {self._total}", flush=True)  # noqa: T201 (idem)

    def tear_down(self, code: Any, exception: Any = None) -> None:  # noqa: ARG002 (RQAlpha's mod API)
        """Write every recorded order to ``orders_file`` as a JSON list in creation order.

        Orders RQAlpha refused before creating them ("Order Creation Failed", e.g. 0 shares
        after lot rounding) are rows too: REJECTED, quantity 0, a negative ``order_id``, the
        side of the API call that failed. Each row: id, ISO datetime, order_book_id, side,
        quantity, filled quantity, average and limit price (null for a market order), type,
        final status, message and costs.
        """
        rows = []
        for key, order in self._orders.items():
            if order is None:
                rows.append(self._failed[key])
                continue
            rows.append(
                {
                    "order_id": int(order.order_id),
                    "datetime": order.datetime.isoformat(),
                    "order_book_id": order.order_book_id,
                    "side": _name(order.side),
                    "quantity": float(order.quantity),
                    "filled_quantity": float(order.filled_quantity),
                    "avg_price": float(order.avg_price or 0.0),
                    "price": None if _name(order.type) == "MARKET" else float(order.price),
                    "type": _name(order.type),
                    "status": _name(order.status),
                    "message": str(order.message or ""),
                    "transaction_cost": float(order.transaction_cost or 0.0),
                }
            )
        with open(self._file, "w", encoding="utf-8") as fh:
            json.dump(rows, fh)
