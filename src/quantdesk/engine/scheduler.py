"""``scheduler.run_daily / run_weekly / run_monthly`` and their time rules (RQAlpha's API).

Behaviour re-implemented from RQAlpha 6.4's documentation and observed runs, for daily bars:

* Functions are scheduled in ``init`` only and take ``(context, bar_dict)``.
* ``time_rule``: minutes since midnight on the A-share clock. ``market_open(hour, minute)``
  is 09:31 plus the offset (skipping the 11:30-13:00 break), ``market_close(hour, minute)``
  is 15:00 minus it; ``physical_time(hour, minute)`` is the wall clock. ``None`` means
  ``market_open()``; ``"before_trading"`` runs the function before ``before_trading`` with
  ``bar_dict=None``.
* With daily bars a rule inside the trading minutes (09:31-11:30, 13:00-15:00) runs the
  function at the session's bar, before ``handle_bar`` and in the order scheduled; a rule
  outside them never runs.
* ``run_weekly(weekday=1..7)`` runs on that ISO weekday when it is a session;
  ``run_weekly(tradingday=n)`` on the n-th session of the calendar week (``-n`` counts from
  its end, ``|n| <= 5``); ``run_monthly(tradingday=n)`` likewise within the month
  (``|n| <= 23``). Weeks and months are taken from the market's full calendar, so a run that
  starts mid-week does not call its first day "the first trading day of the week".
"""

from __future__ import annotations

import bisect
import datetime as dt
import inspect
from collections.abc import Callable, Sequence
from typing import Any

from quantdesk.core.errors import InvalidArgument

#: The A-share trading minutes (since midnight) in which a time rule fires on daily bars.
TRADING_MINUTES = ((9 * 60 + 31, 11 * 60 + 30), (13 * 60, 15 * 60))
BEFORE_TRADING = "before_trading"

DayRule = Callable[[], bool]
ScheduledFunction = Callable[[Any, Any], None]


def market_open(hour: int = 0, minute: int = 0) -> int:
    """Minutes since midnight ``hour:minute`` after the open (09:31), lunch break skipped."""
    minutes = 9 * 60 + 31 + hour * 60 + minute
    return minutes + 90 if minutes > 11 * 60 + 30 else minutes


def market_close(hour: int = 0, minute: int = 0) -> int:
    """Minutes since midnight ``hour:minute`` before the close (15:00), lunch break skipped."""
    minutes = 15 * 60 - hour * 60 - minute
    return minutes - 90 if minutes < 13 * 60 else minutes


def physical_time(hour: int = 0, minute: int = 0) -> int:
    """Minutes since midnight of the wall-clock time ``hour:minute``."""
    return hour * 60 + minute


class Scheduler:
    """``scheduler`` in the strategy: registers functions and runs them at each session.

    Args:
        calendar: Loads the market's sessions around the run (``datetime.date``, sorted),
            wide enough to hold every week and month the run touches; called once, when a
            weekly or monthly rule first needs it.
        phase: Returns the engine's current phase (``init`` while scheduling is allowed).
    """

    def __init__(self, calendar: Callable[[], Sequence[dt.date]], phase: Callable[[], str]) -> None:
        self._load_calendar = calendar
        self._calendar: list[dt.date] | None = None
        self._phase = phase
        self._at_bar: list[tuple[DayRule, ScheduledFunction]] = []
        self._before: list[tuple[DayRule, ScheduledFunction]] = []
        self._today: dt.date | None = None
        self._week: list[dt.date] = []
        self._month: list[dt.date] = []

    # -- the strategy-facing API ---------------------------------------------------------------

    def run_daily(self, func: ScheduledFunction, time_rule: int | str | None = None) -> None:
        """Run ``func(context, bar_dict)`` every session at ``time_rule``."""
        self._register("run_daily", func, lambda: True, time_rule)

    def run_weekly(
        self,
        func: ScheduledFunction,
        weekday: int | None = None,
        tradingday: int | None = None,
        time_rule: int | str | None = None,
    ) -> None:
        """Run ``func`` weekly: on ISO ``weekday`` (1-7) or the ``tradingday``-th session.

        Raises:
            InvalidArgument: both or neither of ``weekday``/``tradingday``, or out of range.
        """
        if (weekday is None) == (tradingday is None):
            raise InvalidArgument("scheduler.run_weekly: give one of weekday or tradingday")
        if weekday is not None:
            if not isinstance(weekday, int) or not 1 <= weekday <= 7:
                raise InvalidArgument(f"invalid weekday {weekday!r}, should be in [1, 7]")
            day = weekday

            def rule() -> bool:
                return self._today is not None and self._today.isoweekday() == day
        else:
            n = _nth(tradingday, 5, "run_weekly")

            def rule() -> bool:
                return _is_nth(self._week, n, self._today)

        self._register("run_weekly", func, rule, time_rule)

    def run_monthly(
        self,
        func: ScheduledFunction,
        tradingday: int | None = None,
        time_rule: int | str | None = None,
        **kwargs: Any,
    ) -> None:
        """Run ``func`` on the ``tradingday``-th session of each month (``monthday`` too).

        Raises:
            InvalidArgument: missing or out-of-range ``tradingday``, unknown argument.
        """
        if tradingday is None and "monthday" in kwargs:
            tradingday = kwargs.pop("monthday")
        if kwargs:
            raise InvalidArgument(f"scheduler.run_monthly: unknown argument {sorted(kwargs)}")
        if tradingday is None:
            raise InvalidArgument("scheduler.run_monthly: tradingday is required")
        n = _nth(tradingday, 23, "run_monthly")
        self._register("run_monthly", func, lambda: _is_nth(self._month, n, self._today), time_rule)

    # -- driven by the engine ------------------------------------------------------------------

    @property
    def active(self) -> bool:
        """True when something is scheduled."""
        return bool(self._at_bar or self._before)

    def new_session(self, today: dt.date) -> None:
        """Enter session ``today`` (recomputes the week's and month's sessions when needed)."""
        self._today = today
        if not self._week or today > self._week[-1]:
            monday = today - dt.timedelta(days=today.weekday())
            self._week = self._sessions(monday, monday + dt.timedelta(days=7))
        if not self._month or today > self._month[-1]:
            first = today.replace(day=1)
            nxt = (first + dt.timedelta(days=32)).replace(day=1)
            self._month = self._sessions(first, nxt)

    def run_before_trading(self, context: Any) -> None:
        """Run the ``before_trading`` rules due today, with ``bar_dict=None``."""
        for due, func in self._before:
            if due():
                func(context, None)

    def run_at_bar(self, context: Any, bar_dict: Any) -> None:
        """Run the rules inside trading minutes that are due today."""
        for due, func in self._at_bar:
            if due():
                func(context, bar_dict)

    # -- helpers -------------------------------------------------------------------------------

    def _register(
        self, name: str, func: ScheduledFunction, day_rule: DayRule, time_rule: int | str | None
    ) -> None:
        if self._phase() != "init":
            raise InvalidArgument(f"scheduler.{name} can only be called in init")
        if not callable(func):
            raise InvalidArgument(f"scheduler.{name}: func should be callable")
        try:
            positional = [
                p
                for p in inspect.signature(func).parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            ]
        except (TypeError, ValueError):
            positional = [None, None]  # type: ignore[list-item]
        if len(positional) != 2:
            raise InvalidArgument(
                f"scheduler.{name}: func should take exactly 2 arguments (context, bar_dict)"
            )
        if time_rule == BEFORE_TRADING:
            self._before.append((day_rule, func))
            return
        if time_rule is None:
            time_rule = market_open()
        if isinstance(time_rule, bool) or not isinstance(time_rule, int):
            raise InvalidArgument(
                f'invalid time_rule, "before_trading" or int expected, got {time_rule!r}'
            )
        if any(start <= time_rule <= end for start, end in TRADING_MINUTES):
            self._at_bar.append((day_rule, func))

    def _sessions(self, start: dt.date, stop: dt.date) -> list[dt.date]:
        if self._calendar is None:
            self._calendar = list(self._load_calendar())
        calendar = self._calendar
        return calendar[bisect.bisect_left(calendar, start) : bisect.bisect_left(calendar, stop)]


def _nth(value: Any, bound: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value == 0 or abs(value) > bound:
        raise InvalidArgument(
            f"scheduler.{name}: invalid tradingday {value!r}, should be in "
            f"[-{bound}, 0) or (0, {bound}]"
        )
    return value - 1 if value > 0 else value


def _is_nth(sessions: list[dt.date], n: int, today: dt.date | None) -> bool:
    try:
        return sessions[n] == today
    except IndexError:
        return False
