"""The precomputed indicator API: values revealed bar by bar, never ahead of the session."""

from __future__ import annotations

import datetime as dt
import math
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from quantdesk.core.errors import StrategyError
from quantdesk.engine import Engine, EngineConfig, EngineResult, market_profile
from quantdesk.engine.indicators import ema, sma
from tests.fixtures.bars import MemoryBarSource, series, stock, weekdays

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
N_DAYS = 160
DATES = weekdays(dt.date(2020, 1, 6), N_DAYS)
START = DATES[40]  # the first 40 sessions are history before the run


def _walk(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 50.0 * np.exp(np.cumsum(rng.normal(0.0, 0.03, n)))


def _source() -> MemoryBarSource:
    """A: every session; B: listed later (starts after the run start); C: suspended often."""
    a = _walk(1, N_DAYS)
    b_dates = DATES[60:]
    b = _walk(2, len(b_dates))
    keep = [i for i in range(N_DAYS) if i % 7 not in (3, 4)]
    c_dates = [DATES[i] for i in keep]
    c = _walk(3, len(c_dates))
    data = {
        "A": (stock("A"), series("A", DATES, a, volume=1e6 + np.arange(N_DAYS))),
        "B": (stock("B"), series("B", b_dates, b)),
        "C": (stock("C"), series("C", c_dates, c)),
    }
    return MemoryBarSource(DATES, data)


def _run(code: str, params: dict[str, Any] | None = None) -> EngineResult:
    config = EngineConfig(
        start=START, end=DATES[-1], cash=100_000.0, universe=("A", "B", "C"),
        benchmark=None, profile=market_profile("us_stock"), params=params or {},
    )  # fmt: skip
    return Engine(_source(), config).run(textwrap.dedent(code))


# The strategy compares, at every session and phase, what the indicator shows with the
# function applied to history_bars at that moment (the data truncated at that session).
TRUNCATION_CHECK = """
import math
import numpy as np
from quantdesk.engine.indicators import ema, sma

def momentum(close, n):
    out = np.full(len(close), np.nan)
    out[n:] = close[n:] / close[:-n] - 1.0
    return out

def spread(high, low):
    return np.cumsum(high - low) / np.arange(1, len(high) + 1)

SPECS = {
    "sma": (("SMA", 5), {}, sma, ("close",), (5,)),
    "ema": (("ema", 8), {}, ema, ("close",), (8,)),
    "mom": ((momentum, 3), {}, momentum, ("close",), (3,)),
    "spread": ((spread,), {"field": ["high", "low"]}, spread, ("high", "low"), ()),
    "volsum": ((np.cumsum,), {"field": "volume"}, np.cumsum, ("volume",), ()),
}

def init(context):
    context.ind = {k: indicator(*a, **kw) for k, (a, kw, *_) in SPECS.items()}
    check(context, "init")

def check(context, phase):
    sink = context.params["sink"]
    for key, (_, _, fn, fields, args) in SPECS.items():
        ind = context.ind[key]
        now = ind.now
        hist = ind.history(10_000)
        assert np.array_equal(hist[-1], now, equal_nan=True)
        if phase != "init":
            # handle_bar of session t sees t + 1 rows; before_trading the same count,
            # the last one being the pre-open row.
            assert hist.shape == (context.params["t"]() + 1, len(ind.ids)), hist.shape
        for j, oid in enumerate(ind.ids):
            arrays = [history_bars(oid, 10_000, "1d", f) for f in fields]
            want = fn(*arrays, *args)[-1] if len(arrays[0]) else math.nan
            got = ind[oid]
            assert got == ind.current(oid) or (math.isnan(got) and math.isnan(ind.current(oid)))
            assert np.array_equal(now[j], got, equal_nan=True)
            assert np.array_equal(ind.history(3, oid), hist[-3:, j], equal_nan=True)
            sink.append((phase, key, oid, got, float(want)))

def before_trading(context):
    check(context, "before_trading")

def handle_bar(context, bar_dict):
    check(context, "handle_bar")

def after_trading(context):
    check(context, "after_trading")
"""


def _run_with_sink(code: str) -> list[Any]:
    """What the strategy ``code`` appended to ``context.params["sink"]`` (its own shapes)."""
    sink: list[Any] = []
    holder: dict[str, Engine] = {}
    params = {"sink": sink, "t": lambda: holder["engine"].t}
    config = EngineConfig(
        start=START, end=DATES[-1], cash=100_000.0, universe=("A", "B", "C"),
        benchmark=None, profile=market_profile("us_stock"), params=params,
    )  # fmt: skip
    engine = Engine(_source(), config)
    holder["engine"] = engine
    engine.run(code)
    return sink


def test_values_seen_equal_the_function_on_the_data_truncated_at_that_session() -> None:
    seen = _run_with_sink(TRUNCATION_CHECK)
    n_sessions = N_DAYS - 40
    assert len(seen) == 5 * 3 * (1 + 3 * n_sessions)
    for phase, key, oid, got, want in seen:
        assert got == want or (math.isnan(got) and math.isnan(want)), (phase, key, oid)
    # The checks covered warm-up (NaN), values, instruments not listed yet and suspensions.
    assert any(math.isnan(g) for _, k, o, g, _ in seen if (k, o) == ("sma", "B"))
    assert any(not math.isnan(g) for _, k, o, g, _ in seen if (k, o) == ("sma", "B"))
    # History before the run start warms indicators up: SMA(5) of A exists in init.
    assert not math.isnan(next(g for p, k, o, g, _ in seen if (p, k, o) == ("init", "sma", "A")))


def test_before_trading_shows_yesterdays_value_and_handle_bar_todays() -> None:
    seen = _run_with_sink(TRUNCATION_CHECK)
    a = [(p, g) for p, k, o, g, _ in seen if (k, o) == ("volsum", "A") and p != "init"]
    before = [g for p, g in a if p == "before_trading"]
    during = [g for p, g in a if p == "handle_bar"]
    volume = 1e6 + np.arange(N_DAYS)
    first = 40  # index of the run's first session in A's bars
    assert during == np.cumsum(volume)[first:].tolist()
    assert before == np.cumsum(volume)[first - 1 : -1].tolist()


def test_nothing_beyond_the_current_session_is_reachable() -> None:
    code = """
import numpy as np
def init(context):
    context.sma = indicator("SMA", 3)

def handle_bar(context, bar_dict):
    ind = context.sma
    t = context.params["t"]()
    public = {n for n in dir(ind) if not n.startswith("_")}
    assert public == {"now", "current", "history", "ids", "name"}, public
    assert ind.history(10 ** 9).shape[0] == t + 1
    for bad in (0, -1, -5, 1.5):
        try:
            ind.history(bad)
        except Exception as exc:
            assert "n must be a positive int" in str(exc)
        else:
            raise AssertionError(f"history({bad!r}) accepted")
    try:
        ind["NOPE"]
    except Exception as exc:
        assert "has no column" in str(exc)
    else:
        raise AssertionError("unknown id accepted")
    # Results are copies: no .base leads to the full matrix, writing to them changes nothing.
    row, hist = ind.now, ind.history(3)
    assert row.base is None and hist.base is None and ind.history(2, "A").base is None
    row[:] = -1.0
    assert not (ind.now == -1.0).any()
    context.params["sink"].append(t)
"""
    seen = _run_with_sink(code)
    assert seen == list(range(N_DAYS - 40))


@pytest.mark.parametrize(
    "func",
    [
        "lambda c: np.roll(c, -1)",  # tomorrow's close
        "lambda c: c / c.max()",  # normalized by the whole series' maximum
        "lambda c: np.convolve(c, np.ones(5) / 5, mode='same')",  # centred window
        "lambda c: np.full(len(c), c[-1])",  # the last close everywhere
    ],
)
def test_a_look_ahead_function_is_rejected(func: str) -> None:
    code = f"""
import numpy as np
def init(context):
    context.bad = indicator({func})

def handle_bar(context, bar_dict):
    pass
"""
    with pytest.raises(StrategyError, match="looks ahead"):
        _run_with_sink(code)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ('indicator("NOPE", 3)', "unknown indicator"),
        ('indicator("SMA", 0)', "period must be a positive int"),
        ('indicator("SMA", 3, field="vwap")', "unknown bar field"),
        ("indicator(lambda c: c[:-1])", "one value per bar"),
        ("indicator(42)", "expects a name or a function"),
    ],
)
def test_bad_indicator_calls_fail_the_run_with_a_clear_message(call: str, message: str) -> None:
    code = f"def init(context):\n    {call}\n\ndef handle_bar(context, bar_dict):\n    pass\n"
    with pytest.raises(StrategyError, match=message):
        _run_with_sink(code)


def test_ids_select_other_instruments_than_the_universe() -> None:
    code = """
def init(context):
    context.c = indicator("MAX", 2, field="high", ids=["C", "A"])

def handle_bar(context, bar_dict):
    context.params["sink"].append((context.c.ids, len(context.c), context.c.now.shape))
"""
    seen = _run_with_sink(code)
    assert set(seen) == {(("C", "A"), 2, (2,))}


def test_builtins_equal_their_definitions() -> None:
    x = _walk(9, 300)
    for n in (1, 2, 8, 9, 30, 130):
        want = [x[i - n + 1 : i + 1].mean() for i in range(n - 1, len(x))]
        assert sma(x, n)[n - 1 :].tolist() == want  # bit for bit: same as history_bars().mean()
        assert np.isnan(sma(x, n)[: n - 1]).all()
    e = ema(x, 10)
    alpha = 2 / 11
    ref = [float(np.mean(x[:10]))]
    for v in x[10:]:
        ref.append(ref[-1] + alpha * (v - ref[-1]))
    assert e[9:].tolist() == ref and np.isnan(e[:9]).all()
    assert np.isnan(sma(x[:3], 5)).all() and len(sma(x[:0], 5)) == 0


def test_the_fast_sma_example_fills_exactly_like_the_history_bars_one() -> None:
    results = {}
    for name in ("sma_crossover.py", "sma_crossover_fast.py"):
        source = (EXAMPLES / name).read_text()
        for params in ({"fast": 3, "slow": 8}, {"fast": 10, "slow": 30}):
            res = _run(source, params)
            fills = [(f.datetime, f.order_book_id, f.side, f.quantity, f.price) for f in res.fills]
            results[name, params["fast"]] = (fills, res.portfolio["total_value"])
    for fast in (3, 10):
        slow_fills, slow_values = results["sma_crossover.py", fast]
        fast_fills, fast_values = results["sma_crossover_fast.py", fast]
        assert len(slow_fills) > 10
        assert {oid for _, oid, *_ in slow_fills} == {"A", "B", "C"}
        assert fast_fills == slow_fills
        assert fast_values == slow_values
