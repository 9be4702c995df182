"""``quantdesk.engine.metrics`` cross-checked against empyrical-reloaded and by hand.

Two return series: seeded random daily returns (strategy correlated with its benchmark) and
real ones, the S&P 500 (as the strategy) against the NASDAQ Composite (as the benchmark),
1999-2018, close to close, from the demo data shipped with the package.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache

import empyrical  # type: ignore[import-untyped]  # ships neither type hints nor a py.typed marker
import numpy as np
import pandas as pd
import pytest

from quantdesk.data.demo import demo_frames
from quantdesk.engine import metrics

A = 252
#: Relative tolerance where our formula and empyrical's are algebraically identical.
REL = 1e-10

Pair = tuple[np.ndarray, np.ndarray]


def _random_pair() -> Pair:
    rng = np.random.default_rng(20240611)
    b = rng.normal(0.0004, 0.011, 400)
    r = 0.0002 + 1.2 * b + rng.normal(0.0, 0.006, 400)
    return r, b


@cache
def _index_pair() -> Pair:
    frames = demo_frames()
    spx = frames["SPX"][["date", "close"]]
    ixic = frames["IXIC"][["date", "close"]]
    both = spx.merge(ixic, on="date", suffixes=("_spx", "_ixic")).sort_values("date")
    r = both["close_spx"].pct_change().to_numpy()[1:]
    b = both["close_ixic"].pct_change().to_numpy()[1:]
    assert len(r) > 5000 and np.isfinite(r).all() and np.isfinite(b).all()
    return r, b


SERIES: dict[str, Callable[[], Pair]] = {"random": _random_pair, "spx_vs_ixic": _index_pair}


@pytest.fixture(params=sorted(SERIES))
def pair(request: pytest.FixtureRequest) -> Pair:
    return SERIES[request.param]()


@pytest.fixture(params=[0.0, 0.03])
def rf(request: pytest.FixtureRequest) -> float:
    return float(request.param)


def _approx(expected: float | None) -> object:
    # ``None``: a metric ``summarize`` reports as undefined (compared for equality).
    return pytest.approx(expected, rel=REL, abs=0.0)


def _jensen_alpha(r: np.ndarray, b: np.ndarray, rf: float) -> float:
    """Jensen's annual alpha from empyrical's building blocks (our documented convention)."""
    ar = empyrical.annual_return(r, annualization=A)
    ar_b = empyrical.annual_return(b, annualization=A)
    return float(ar - rf - empyrical.beta(r, b) * (ar_b - rf))


# -- against empyrical -----------------------------------------------------------------------


def test_daily_risk_free_compounds_to_the_annual_rate() -> None:
    rf_d = metrics.daily_risk_free(0.03, A)
    assert (1 + rf_d) ** A == pytest.approx(1.03, rel=1e-14)
    assert metrics.daily_risk_free(0.0, A) == 0.0


def test_return_metrics_match_empyrical(pair: Pair) -> None:
    r, b = pair
    assert metrics.total_return(r) == _approx(empyrical.cum_returns_final(r))
    assert metrics.annual_return(r, A) == _approx(empyrical.annual_return(r, annualization=A))
    assert metrics.annual_return(b, A) == _approx(empyrical.annual_return(b, annualization=A))
    assert metrics.volatility(r, A) == _approx(empyrical.annual_volatility(r, annualization=A))


def test_risk_adjusted_metrics_match_empyrical(pair: Pair, rf: float) -> None:
    r, _ = pair
    rf_d = metrics.daily_risk_free(rf, A)
    assert metrics.sharpe(r, rf_d, A) == _approx(
        empyrical.sharpe_ratio(r, risk_free=rf_d, annualization=A)
    )
    assert metrics.sortino_empyrical(r, rf_d, A) == _approx(
        empyrical.sortino_ratio(r, required_return=rf_d, annualization=A)
    )


def _rqrisk_downside(r: np.ndarray) -> float:
    # rqrisk 1.0 Risk.annual_downside_risk, re-typed with pandas: semi-deviation below the
    # mean with ddof=1, annualized by sqrt(A).
    s = pd.Series(r)
    diff = (s - s.mean()).clip(upper=0.0)
    return float(np.sqrt((diff**2).sum() / (len(s) - 1)) * np.sqrt(A))


def test_sortino_and_information_ratio_follow_rqalphas_conventions(pair: Pair, rf: float) -> None:
    r, b = pair
    rf_d = (1 + rf) ** (1 / A) - 1
    out = metrics.summarize(r, np.cumprod(1 + r), b, periods=A, risk_free_rate=rf)
    assert out["downside_risk"] == _approx(_rqrisk_downside(r))
    assert out["sortino"] == _approx(A * (np.mean(r) - rf_d) / _rqrisk_downside(r))
    beta = np.cov(r, b, ddof=1)[0, 1] / np.var(b, ddof=1)
    ar, ar_b = (np.prod(1 + r) ** (A / len(r)) - 1), (np.prod(1 + b) ** (A / len(b)) - 1)
    residual = np.std(r - beta * b, ddof=1) * np.sqrt(A)
    assert out["information_ratio"] == _approx((ar - beta * ar_b) / residual)
    assert out["sortino"] != _approx(out["sortino_empyrical"])


def test_beta_and_max_drawdown_match_empyrical(pair: Pair) -> None:
    r, b = pair
    assert metrics.beta(r, b) == _approx(empyrical.beta(r, b))
    mdd, peak, trough = metrics.max_drawdown(np.cumprod(1 + r))
    assert mdd == _approx(-empyrical.max_drawdown(r))
    assert -1 <= peak < trough < len(r)


def test_alpha_is_jensens_annual_alpha(pair: Pair, rf: float) -> None:
    r, b = pair
    out = metrics.summarize(r, np.cumprod(1 + r), b, periods=A, risk_free_rate=rf)
    assert out["alpha"] == _approx(_jensen_alpha(r, b, rf))


def test_alpha_convention_differs_from_empyricals() -> None:
    # empyrical.alpha is the annualized mean daily CAPM residual,
    # (1 + mean(r - rf_d - beta * (b - rf_d))) ** A - 1, not Jensen's alpha on geometric
    # annual returns. On real data they differ by far more than rounding, so swapping one
    # convention for the other would fail this test (and the one above).
    r, b = _index_pair()
    ours = metrics.summarize(r, np.cumprod(1 + r), b, periods=A, risk_free_rate=0.0)["alpha"]
    assert ours is not None
    theirs = empyrical.alpha(r, b, risk_free=0.0, annualization=A)
    assert abs(ours - theirs) > 1e-3


def test_active_return_metrics(pair: Pair) -> None:
    r, b = pair
    out = metrics.summarize(r, np.cumprod(1 + r), b, periods=A, risk_free_rate=0.0)
    assert out["excess_sharpe"] == _approx(math.sqrt(A) * empyrical.excess_sharpe(r, b))
    assert out["tracking_error"] == _approx(float(np.std(r - b, ddof=1)) * math.sqrt(A))


def test_summarize_end_to_end(pair: Pair, rf: float) -> None:
    r, b = pair
    rf_d = metrics.daily_risk_free(rf, A)
    nav = np.cumprod(1 + r)
    out = metrics.summarize(r, nav, b, periods=A, risk_free_rate=rf)
    ar = empyrical.annual_return(r, annualization=A)
    mdd = -empyrical.max_drawdown(r)
    expected = {
        "total_returns": empyrical.cum_returns_final(r),
        "annualized_returns": ar,
        "volatility": empyrical.annual_volatility(r, annualization=A),
        "sharpe": empyrical.sharpe_ratio(r, risk_free=rf_d, annualization=A),
        "sortino": A * (np.mean(r) - rf_d) / _rqrisk_downside(r),
        "sortino_empyrical": empyrical.sortino_ratio(r, required_return=rf_d, annualization=A),
        "downside_risk": _rqrisk_downside(r),
        "max_drawdown": mdd,
        "calmar": empyrical.calmar_ratio(r, annualization=A),
        "benchmark_total_returns": empyrical.cum_returns_final(b),
        "benchmark_annualized_returns": empyrical.annual_return(b, annualization=A),
        "benchmark_volatility": empyrical.annual_volatility(b, annualization=A),
        "alpha": _jensen_alpha(r, b, rf),
        "beta": empyrical.beta(r, b),
        "information_ratio": out["information_ratio"],  # RQAlpha's; tested above
        "excess_sharpe": math.sqrt(A) * empyrical.excess_sharpe(r, b),
        "tracking_error": float(np.std(r - b, ddof=1)) * math.sqrt(A),
        "excess_returns": empyrical.cum_returns_final(r) - empyrical.cum_returns_final(b),
    }
    assert set(out) == set(expected)
    for key, value in expected.items():
        assert out[key] == pytest.approx(float(value), rel=REL, abs=1e-15), key


def test_summarize_without_benchmark_leaves_relative_metrics_empty() -> None:
    r, _ = _random_pair()
    out = metrics.summarize(r, np.cumprod(1 + r), None, periods=A, risk_free_rate=0.0)
    for key in ("alpha", "beta", "information_ratio", "excess_sharpe", "tracking_error",
                "excess_returns"):  # fmt: skip
        assert out[key] is None
    assert out["sharpe"] == _approx(empyrical.sharpe_ratio(r, annualization=A))


def test_summarize_of_flat_returns_reports_none_not_nan() -> None:
    r = np.zeros(10)
    out = metrics.summarize(r, np.ones(10), r.copy(), periods=A, risk_free_rate=0.0)
    assert out["total_returns"] == 0.0
    assert out["max_drawdown"] == 0.0
    for key in ("sharpe", "sortino", "calmar", "beta", "alpha", "information_ratio"):
        assert out[key] is None, key


# -- by hand -----------------------------------------------------------------------------------


def test_max_drawdown_peak_and_trough_indices() -> None:
    # Path with the start value: 1, 1.1, 1.2, 0.9, 1.0, 1.3, 1.04, 1.25. Worst fall is
    # 1.2 -> 0.9 (25%), deeper than 1.3 -> 1.04 (20%).
    nav = np.array([1.1, 1.2, 0.9, 1.0, 1.3, 1.04, 1.25])
    mdd, peak, trough = metrics.max_drawdown(nav)
    assert mdd == pytest.approx(0.25, rel=1e-14)
    assert (peak, trough) == (1, 2)


def test_max_drawdown_from_the_starting_value() -> None:
    # Falls straight from the start (index -1 = the starting NAV of 1) to 0.8 on day 0.
    mdd, peak, trough = metrics.max_drawdown(np.array([0.8, 0.9, 1.1, 1.0]))
    assert mdd == pytest.approx(0.2, rel=1e-14)
    assert (peak, trough) == (-1, 0)


def test_max_drawdown_of_a_rising_path_is_zero() -> None:
    assert metrics.max_drawdown(np.array([1.0, 1.01, 1.02, 1.02, 1.5])) == (0.0, -1, -1)


def test_max_drawdown_peak_is_the_last_day_at_the_high_water_mark() -> None:
    # The NAV sits flat at its peak (e.g. all cash) on days 0-3 before falling on day 4.
    # The drawdown starts when the NAV leaves the peak, so its peak is day 3, as in
    # pyfolio's get_max_drawdown_underwater (the last zero of the underwater curve before
    # the valley); the duration reported as trough - peak is then 1 day, not 4.
    nav = np.array([1.2, 1.2, 1.2, 1.2, 0.9, 1.0])
    mdd, peak, trough = metrics.max_drawdown(nav)
    assert mdd == pytest.approx(0.25, rel=1e-14)
    assert (peak, trough) == (3, 4)
