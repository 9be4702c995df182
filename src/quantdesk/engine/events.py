"""``subscribe_event``: the strategy's listeners on the engine's events (RQAlpha's ``EVENT``).

The engine publishes, per session (daily bars), in this order::

    PRE_BEFORE_TRADING  BEFORE_TRADING  POST_BEFORE_TRADING
    PRE_BAR  BAR  POST_BAR
    PRE_AFTER_TRADING  AFTER_TRADING  POST_AFTER_TRADING
    PRE_SETTLEMENT  SETTLEMENT  POST_SETTLEMENT

``POST_USER_INIT`` once after ``init``, and the order events as orders move:
``ORDER_PENDING_NEW`` then ``ORDER_CREATION_PASS`` when an order is accepted (or
``ORDER_CREATION_REJECT`` when it is refused at once), ``TRADE`` for each fill,
``ORDER_UNSOLICITED_UPDATE`` when matching rejects, cancels or expires it, and
``ORDER_PENDING_CANCEL`` then ``ORDER_CANCELLATION_PASS`` for ``cancel_order``.

As in RQAlpha 6.4, a listener is ``handler(context, event)`` and the strategy's listeners run
after the engine's own (``before_trading`` runs before the ``BEFORE_TRADING`` listeners,
``handle_bar`` before the ``BAR`` listeners). ``event.event_type`` is the ``EVENT``; order
events carry ``event.order``, ``TRADE`` also ``event.trade`` and ``event.account``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from enum import Enum
from typing import Any

from quantdesk.core.errors import InvalidArgument


class EVENT(Enum):
    """The events a strategy can subscribe to (RQAlpha's names and values)."""

    POST_USER_INIT = "post_user_init"
    PRE_BEFORE_TRADING = "pre_before_trading"
    BEFORE_TRADING = "before_trading"
    POST_BEFORE_TRADING = "post_before_trading"
    PRE_BAR = "pre_bar"
    BAR = "bar"
    POST_BAR = "post_bar"
    PRE_AFTER_TRADING = "pre_after_trading"
    AFTER_TRADING = "after_trading"
    POST_AFTER_TRADING = "post_after_trading"
    PRE_SETTLEMENT = "pre_settlement"
    SETTLEMENT = "settlement"
    POST_SETTLEMENT = "post_settlement"
    ORDER_PENDING_NEW = "order_pending_new"
    ORDER_CREATION_PASS = "order_creation_pass"
    ORDER_CREATION_REJECT = "order_creation_reject"
    ORDER_PENDING_CANCEL = "order_pending_cancel"
    ORDER_CANCELLATION_PASS = "order_cancellation_pass"
    ORDER_CANCELLATION_REJECT = "order_cancellation_reject"
    ORDER_UNSOLICITED_UPDATE = "order_unsolicited_update"
    TRADE = "trade"


class Event:
    """One published event: ``event_type`` plus the event's objects as attributes."""

    def __init__(self, event_type: EVENT, **data: Any) -> None:
        self.event_type = event_type
        self.__dict__.update(data)

    def __repr__(self) -> str:
        fields = " ".join(f"{k}:{v}" for k, v in self.__dict__.items())
        return f"Event({fields})"


Handler = Callable[[Any, Event], None]


class EventBus:
    """The strategy's listeners by event type; publishing costs one dict lookup without any."""

    def __init__(self) -> None:
        self._listeners: dict[EVENT, list[Handler]] = {}
        self.context: Any = None

    def subscribe(self, event_type: EVENT, handler: Handler) -> None:
        """Add ``handler(context, event)`` for ``event_type``.

        Raises:
            InvalidArgument: not an ``EVENT``, not callable, or not taking two arguments
                (RQAlpha 6.4's signature; older strategies took ``handler(event)``).
        """
        if not isinstance(event_type, EVENT):
            raise InvalidArgument(f"subscribe_event expects an EVENT member, got {event_type!r}")
        if not callable(handler):
            raise InvalidArgument(f"subscribe_event expects a function, got {handler!r}")
        try:
            params = inspect.signature(handler).parameters.values()
        except (TypeError, ValueError):
            params = None  # builtins without a signature: trust them
        if params is not None:
            positional = [
                p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            ]
            varargs = any(p.kind is p.VAR_POSITIONAL for p in params)
            if not varargs and len(positional) != 2:
                raise InvalidArgument(
                    f"subscribe_event handler {getattr(handler, '__name__', handler)} must take "
                    "(context, event) as in RQAlpha 6.4; handlers of older RQAlpha versions "
                    "took (event) only"
                )
        self._listeners.setdefault(event_type, []).append(handler)

    def wants(self, event_type: EVENT) -> bool:
        """True when some listener waits for ``event_type``."""
        return event_type in self._listeners

    def publish(self, event_type: EVENT, **data: Any) -> None:
        """Call every listener of ``event_type`` with ``(context, Event(event_type, **data))``."""
        listeners = self._listeners.get(event_type)
        if listeners:
            event = Event(event_type, **data)
            for handler in listeners:
                handler(self.context, event)
