"""RQAlpha 6.4's own bundled examples run unchanged on the native engine and match RQAlpha.

The files are read from the RQAlpha installation (``rqalpha/examples`` in ``.venv-rqalpha``),
not copied: code nobody in this project wrote. Each runs on both engines over real bars
imported as A-share ids (``tests.fixtures.ashares``) under the ``cn_stock`` rules, and must
agree fill for fill (date, id, side, quantity, price), in orders refused, and in final value.

``subscribe_event.py`` ships with RQAlpha 4's ``handler(event)`` listeners, which RQAlpha
6.4 itself cannot run: it runs with the 6.4 signature ``handler(context, event)``.
``IF_macd.py``, ``pair_trading.py`` (futures) and the ``run_*_demo.py`` /
``data_source`` / ``extend_api`` files (drivers and mods, not strategies) are out of scope.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from quantdesk.backtest import BacktestResult
from quantdesk.core.errors import StrategyError
from quantdesk.data import Catalog
from tests.fixtures.ashares import fills, run_on
from tests.fixtures.rqalpha import ROOT, rqalpha_command

EXAMPLES = next(ROOT.glob(".venv-rqalpha/lib/python3*/site-packages/rqalpha/examples"), None)

#: example -> (universe, start, end)
CASES = {
    "buy_and_hold": ("000001.XSHE", "2010-01-04", "2012-12-31"),
    "golden_cross": ("000001.XSHE", "2010-01-04", "2012-12-31"),
    "macd": ("000001.XSHE", "2010-01-04", "2012-12-31"),
    "rsi": ("000001.XSHE,601988.XSHG,000068.XSHE", "2010-01-04", "2012-12-31"),
    "turtle": ("000300.XSHG", "2010-01-04", "2012-12-31"),
    # test_pt sleeps 1 s in every before_trading: a short window
    "test_pt": ("000001.XSHE,000001.XSHG", "2012-03-01", "2012-03-09"),
    "subscribe_event": ("000001.XSHE", "2010-01-04", "2012-12-31"),
}


Pair = tuple[str, BacktestResult, BacktestResult]


def example_source(name: str) -> str:
    """The example's code as RQAlpha ships it (``subscribe_event``: 6.4's handler signature)."""
    command = rqalpha_command()  # skips (or fails in CI) without RQAlpha
    del command
    if EXAMPLES is None:
        pytest.fail("RQAlpha's examples folder was not found in .venv-rqalpha")
    code = (EXAMPLES / f"{name}.py").read_text(encoding="utf-8")
    if name == "subscribe_event":
        for handler in ("on_trade_handler", "on_order_handler"):
            code = code.replace(f"def {handler}(event):", f"def {handler}(context, event):")
    return code


def run(
    catalog: Catalog, code: str, engine: str, universe: str, start: str, end: str
) -> BacktestResult:
    return run_on(catalog, code, engine, cash=100_000, universe=universe, start=start, end=end,
                  benchmark="000300.XSHG", market="cn_stock")  # fmt: skip


@pytest.fixture(scope="module", params=sorted(CASES))
def pair(
    request: pytest.FixtureRequest, a_share_catalog: Catalog
) -> tuple[str, BacktestResult, BacktestResult]:
    name = request.param
    code = example_source(name)
    universe, start, end = CASES[name]
    native = run(a_share_catalog, code, "native", universe, start, end)
    rq = run(a_share_catalog, code, "rqalpha", universe, start, end)
    return name, native, rq


def test_example_matches_rqalpha_fill_for_fill(
    pair: tuple[str, BacktestResult, BacktestResult],
) -> None:
    name, native, rq = pair
    assert fills(native), f"{name} traded nothing on native"
    assert fills(native) == fills(rq)


def test_example_ends_at_the_same_value(pair: Pair) -> None:
    _, native, rq = pair
    final_native = float(native.portfolio["total_value"].iloc[-1])
    final_rq = float(rq.portfolio["total_value"].iloc[-1])
    assert math.isclose(final_native, final_rq, rel_tol=1e-8)


def test_example_refuses_the_same_orders(pair: Pair) -> None:
    _, native, rq = pair

    def refused(result: BacktestResult) -> list[tuple[str, str, str]]:
        o = result.orders
        if len(o) == 0:
            return []
        r = o[o["status"] == "REJECTED"]
        return [(d.date().isoformat(), oid, s) for d, oid, s in
                zip(r["datetime"], r["order_book_id"], r["side"], strict=True)]  # fmt: skip

    assert refused(native) == refused(rq)


def test_subscribe_event_handlers_run_on_native(a_share_catalog: Catalog) -> None:
    universe, start, end = CASES["subscribe_event"]
    result = run(a_share_catalog, example_source("subscribe_event"), "native", universe, start, end)
    handlers = [line for line in result.logs if "Handler" in line]
    # one order accepted, one trade: each handler logged its banner once
    assert [line.split(" INFO ")[1] for line in handlers] == [
        "*" * 10 + "Order Handler" + "*" * 10,
        "*" * 10 + "Trade Handler" + "*" * 10,
    ]


def test_rqalpha_4_handlers_get_a_clear_error(a_share_catalog: Catalog) -> None:
    universe, start, end = CASES["subscribe_event"]
    code = example_source("subscribe_event").replace("(context, event):", "(event):")
    with pytest.raises(StrategyError, match=r"must take \(context, event\) as in RQAlpha 6.4"):
        run(a_share_catalog, code, "native", universe, start, end)


def test_examples_folder_is_the_installed_one() -> None:
    rqalpha_command()
    assert EXAMPLES is not None and isinstance(EXAMPLES, Path)
    assert set(CASES) <= {p.stem for p in EXAMPLES.glob("*.py")}
