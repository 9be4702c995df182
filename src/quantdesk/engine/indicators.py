"""Precomputed indicators: computed once per instrument, vectorized, revealed bar by bar.

In ``init``::

    context.fast = indicator("SMA", 10)                 # a built-in, on closes
    context.vol = indicator(my_func, 20, field="volume")  # my_func(volume_array, 20)

In ``handle_bar``: ``context.fast.now`` is a float row (a copy) over ``context.fast.ids``
(the universe when the indicator was made) at the current session; ``context.fast[oid]``
one value; ``context.fast.history(n)`` the last ``n`` rows. Values are NaN until the
function yields one (warm-up) and while an instrument has no bar yet.

No look-ahead: the function runs over each instrument's bars (history before the start
included, nothing after the run's end), and the value shown at session ``t`` is the one at the
instrument's latest bar known at ``t`` — the same as applying the function to
``history_bars`` at ``t`` (before the session's bar in ``before_trading``, with it from
``handle_bar`` on; suspended sessions keep the last value). That equality needs a *causal*
function (value ``i`` depends on bars ``<= i`` only): built-ins are; a user function is
recomputed on prefixes of every instrument's bars and rejected when the values differ.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from quantdesk.core.errors import InvalidArgument
from quantdesk.engine.config import PRE_OPEN_PHASES

if TYPE_CHECKING:
    from quantdesk.engine.feeds import Feed
    from quantdesk.engine.ports import DateArray


class IndicatorSession(Protocol):
    """What indicators read of the running engine.

    The sessions, the clock and phase, the universe and the feeds.
    """

    sessions: DateArray
    t: int
    phase: str
    universe: list[str]

    def feed(self, order_book_id: str) -> Feed:
        """The bar feed of ``order_book_id``, loaded on first use.

        Raises:
            NotFound: unknown instrument.
            InvalidArgument: the instrument trades in another market than the run's.
        """
        ...


FloatArray = npt.NDArray[np.float64]
IndicatorFunction = Callable[..., Any]

#: Relative tolerance of the look-ahead check (prefix values vs full-series values).
CAUSALITY_RTOL = 1e-9


def sma(values: FloatArray, period: int) -> FloatArray:
    """Simple moving average: ``out[i] = values[i - period + 1 : i + 1].mean()``.

    Computed window by window with numpy's ``mean`` so that it equals, bit for bit,
    ``history_bars(..., period, ...).mean()``. NaN for ``i < period - 1``.
    """
    return _rolling(values, period, "mean")


def ema(values: FloatArray, period: int) -> FloatArray:
    """Exponential moving average, ``alpha = 2 / (period + 1)``.

    Seeded with the SMA of the first ``period`` values (TA-Lib / backtrader convention). NaN
    before that.
    """
    n = _period(period)
    out = np.full(len(values), np.nan)
    if len(values) >= n:
        alpha = 2.0 / (n + 1)
        xs = values.tolist()
        last = float(np.mean(values[:n]))
        acc = [last]
        for x in xs[n:]:
            last = last + alpha * (x - last)
            acc.append(last)
        out[n - 1 :] = acc
    return out


def rolling_std(values: FloatArray, period: int) -> FloatArray:
    """Population standard deviation of the last ``period`` values (``ddof=0``)."""
    return _rolling(values, period, "std")


def rolling_max(values: FloatArray, period: int) -> FloatArray:
    """Highest of the last ``period`` values."""
    return _rolling(values, period, "max")


def rolling_min(values: FloatArray, period: int) -> FloatArray:
    """Lowest of the last ``period`` values."""
    return _rolling(values, period, "min")


def _rolling(values: FloatArray, period: int, reducer: str) -> FloatArray:
    """``reducer`` (a numpy reduction name) over each window of the last ``period`` values.

    NaN for the first ``period - 1``.
    """
    n = _period(period)
    out = np.full(len(values), np.nan)
    if len(values) >= n:
        out[n - 1 :] = getattr(sliding_window_view(values, n), reducer)(axis=1)
    return out


#: Built-in indicators by name (all causal).
BUILTINS: dict[str, IndicatorFunction] = {
    "SMA": sma,
    "EMA": ema,
    "STD": rolling_std,
    "MAX": rolling_max,
    "MIN": rolling_min,
}

FIELDS = ("open", "high", "low", "close", "volume")


def _period(period: int, what: str = "period") -> int:
    if isinstance(period, bool) or not isinstance(period, int | np.integer) or period < 1:
        raise InvalidArgument(f"{what} must be a positive int, got {period!r}")
    return int(period)


class Indicator:
    """Values of one indicator over a fixed list of instruments, revealed session by session.

    Attributes:
        name: Label (the built-in's name or the function's ``__name__``).
        ids: The instruments, in column order of ``now`` and ``history``.
    """

    __slots__ = ("__by_bar", "__pre", "__rows", "_col", "_engine", "ids", "name")

    def __init__(
        self, engine: IndicatorSession, name: str, ids: tuple[str, ...], by_bar: list[FloatArray]
    ) -> None:
        self._engine = engine
        self.name = name
        self.ids = ids
        self._col = {oid: j for j, oid in enumerate(ids)}
        self.__by_bar = by_bar
        rows = np.full((len(engine.sessions), len(ids)), np.nan)
        for j, (oid, values) in enumerate(zip(ids, by_bar, strict=True)):
            known = engine.feed(oid).known_np
            seen = known > 0
            rows[seen, j] = values[known[seen] - 1]
        rows.setflags(write=False)
        self.__rows = rows
        self.__pre: FloatArray | None = None

    def _pre_open_rows(self) -> FloatArray:
        """Rows as seen before each session's bar (``before_trading``), built on first use."""
        if self.__pre is None:
            engine = self._engine
            pre = np.full((len(engine.sessions), len(self.ids)), np.nan)
            for j, (oid, values) in enumerate(zip(self.ids, self.__by_bar, strict=True)):
                feed = engine.feed(oid)
                k = feed.known_np - feed.has_bar_np
                seen = k > 0
                pre[seen, j] = values[k[seen] - 1]
            pre.setflags(write=False)
            self.__pre = pre
        return self.__pre

    @property
    def now(self) -> FloatArray:
        """A new array of shape ``(len(ids),)``: the values at the current session.

        NaN: no value. A copy, so nothing (not even ``.base``) leads to later sessions.
        """
        engine = self._engine
        rows = self._pre_open_rows() if engine.phase in PRE_OPEN_PHASES else self.__rows
        row: FloatArray = rows[engine.t].copy()
        return row

    def _value(self, j: int) -> float:
        engine = self._engine
        rows = self._pre_open_rows() if engine.phase in PRE_OPEN_PHASES else self.__rows
        return float(rows[engine.t, j])

    def __getitem__(self, order_book_id: str) -> float:
        """The current value for ``order_book_id`` (NaN when there is none yet).

        Raises:
            InvalidArgument: ``order_book_id`` is not one of ``ids``.
        """
        return self._value(self._index(order_book_id))

    def current(self, order_book_id: str) -> float:
        """Same as ``indicator[order_book_id]``."""
        return self[order_book_id]

    def history(self, n: int, order_book_id: str | None = None) -> FloatArray:
        """The values of the last ``n`` sessions of the run, the current one last.

        Returns:
            A new array of shape ``(m, len(ids))``, or ``(m,)`` for one
            ``order_book_id``, with ``m = min(n, sessions so far)``.

        Raises:
            InvalidArgument: ``n`` < 1 or an unknown ``order_book_id``.
        """
        count = _period(n, "n")
        engine = self._engine
        t = engine.t
        if engine.phase in PRE_OPEN_PHASES:
            past = self.__rows[max(0, t + 1 - count) : t]
            out = np.vstack([past, self._pre_open_rows()[t : t + 1]])
        else:
            out = self.__rows[max(0, t + 1 - count) : t + 1]
        if order_book_id is None:
            return out.copy()
        return out[:, self._index(order_book_id)].copy()

    def _index(self, order_book_id: str) -> int:
        j = self._col.get(order_book_id)
        if j is None:
            raise InvalidArgument(
                f"indicator {self.name} has no column {order_book_id!r}; it covers "
                f"{', '.join(self.ids)} (pass ids=... to indicator() for others)"
            )
        return j

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return f"Indicator({self.name}, {len(self.ids)} instruments)"


def make_indicator(
    engine: IndicatorSession,
    func: str | IndicatorFunction,
    *args: Any,
    field: str | Sequence[str] = "close",
    ids: Sequence[str] | None = None,
    **kwargs: Any,
) -> Indicator:
    """Compute ``func(*field_arrays, *args, **kwargs)`` once per instrument.

    Args:
        engine: The running engine (its sessions, clock, universe and feeds).
        func: A built-in name (``SMA``, ``EMA``, ``STD``, ``MAX``, ``MIN``; case-insensitive)
            or a vectorized function of 1-D float arrays returning one value per bar.
        *args: Passed to ``func`` after the field arrays (e.g. the period); they also name
            the indicator (``SMA(20)``).
        field: The bar field(s) passed to ``func``: one of open, high, low, close, volume,
            or a list of them (passed in that order).
        ids: Instruments (columns); default the current universe.
        **kwargs: Passed to ``func`` as keyword arguments.

    Returns:
        An ``Indicator``.

    Raises:
        InvalidArgument: unknown name or field, a result of the wrong shape, or a function
            that looks ahead (its values on a prefix of the bars differ from its values on
            all bars).
    """
    if isinstance(func, str):
        fn = BUILTINS.get(func.upper())
        if fn is None:
            raise InvalidArgument(
                f"unknown indicator {func!r}; built-ins: {', '.join(BUILTINS)}, or pass a function"
            )
        name, trusted = func.upper(), True
    elif callable(func):
        fn, name, trusted = func, getattr(func, "__name__", "indicator"), False
    else:
        raise InvalidArgument(f"indicator expects a name or a function, got {func!r}")
    fields = [field] if isinstance(field, str) else list(field)
    for f in fields:
        if f not in FIELDS:
            raise InvalidArgument(f"unknown bar field {f!r}; fields: {', '.join(FIELDS)}")
    columns = tuple(engine.universe if ids is None else dict.fromkeys(ids))
    by_bar: list[FloatArray] = []
    for oid in columns:
        feed = engine.feed(oid)
        arrays = [feed.column(f) for f in fields]
        values = _apply(fn, name, oid, arrays, args, kwargs)
        if not trusted:
            _check_causal(fn, name, oid, arrays, args, kwargs, values)
        by_bar.append(values)
    label = name if not args else f"{name}({', '.join(map(repr, args))})"
    return Indicator(engine, label, columns, by_bar)


def _apply(
    fn: IndicatorFunction,
    name: str,
    oid: str,
    arrays: list[FloatArray],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> FloatArray:
    """``fn`` on ``arrays`` as a float vector of one value per bar."""
    n = len(arrays[0])
    try:
        out = np.asarray(fn(*arrays, *args, **kwargs), dtype=np.float64)
    except (TypeError, ValueError) as exc:
        if n == 0:
            return np.full(0, np.nan)
        raise InvalidArgument(f"indicator {name} failed on {oid}: {exc}") from exc
    if out.shape != (n,):
        raise InvalidArgument(
            f"indicator {name} must return one value per bar: {oid} has {n} bars, "
            f"got shape {out.shape}"
        )
    return out


def _check_causal(
    fn: IndicatorFunction,
    name: str,
    oid: str,
    arrays: list[FloatArray],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    full: FloatArray,
) -> None:
    """Reject ``fn`` if its values on bars ``[:c]`` differ from ``full[:c]`` (look-ahead).

    Cut points: about 1/3 and 2/3 of the bars and the last bar. A spot check, not a proof;
    it catches shifted series (peeking at later bars), centred windows and whole-series
    normalization.
    """
    n = len(full)
    for cut in sorted({n // 3, 2 * n // 3, n - 1} - {0}):
        prefix = _apply(fn, name, oid, [a[:cut] for a in arrays], args, kwargs)
        same = np.isclose(prefix, full[:cut], rtol=CAUSALITY_RTOL, atol=0.0, equal_nan=True)
        if not same.all():
            i = int(np.flatnonzero(~same)[0])
            raise InvalidArgument(
                f"indicator {name} looks ahead: on {oid}, its value at bar {i} is "
                f"{full[i]!r} with all bars but {prefix[i]!r} with the first {cut} only; "
                "a value may depend on that bar and earlier ones only"
            )


def indicator_function(engine: IndicatorSession) -> Callable[..., Indicator]:
    """The ``indicator`` function of the strategy API, bound to ``engine``."""

    def indicator(
        func: str | IndicatorFunction,
        *args: Any,
        field: str | Sequence[str] = "close",
        ids: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> Indicator:
        """Precompute ``func`` over each instrument's bars; read it bar by bar (call in init).

        ``func``: ``"SMA"``, ``"EMA"``, ``"STD"``, ``"MAX"``, ``"MIN"`` or a vectorized causal
        function ``func(*field_arrays, *args, **kwargs)`` returning one value per bar.
        ``field``: ``open``/``high``/``low``/``close``/``volume`` or a list of them.
        ``ids``: the instruments (default: the universe). Read ``.now`` (a row over
        ``.ids``), ``[order_book_id]`` or ``.history(n)`` in ``handle_bar``.
        """
        return make_indicator(engine, func, *args, field=field, ids=ids, **kwargs)

    return indicator
