"""Import validation: each rule rejects exactly the offending rows, with the reason."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from quantdesk.core.errors import DataValidationError
from quantdesk.data.validation import validate_bars


def frame(rows: Sequence[tuple[str, float, float, float, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["date", "open", "high", "low", "close", "volume"])


GOOD = [
    ("2021-03-01", 10, 11, 9, 10.5, 100),
    ("2021-03-02", 10.5, 11, 10, 10.8, 100),
    ("2021-03-03", 10.8, 11.2, 10.1, 11, 0),
]


def test_clean_frame_passes_sorted() -> None:
    clean, report = validate_bars(frame(list(reversed(GOOD))), "X", "XNYS")
    assert report.ok and report.rows_accepted == 3
    assert list(clean["date"].dt.date) == [dt.date(2021, 3, d) for d in (1, 2, 3)]
    assert report.first == dt.date(2021, 3, 1) and report.last == dt.date(2021, 3, 3)
    assert report.missing_sessions == []
    assert "limit_up" not in clean.columns and "limit_down" not in clean.columns


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (("2021-03-04", -1, 11, 9, 10, 100), "non-positive price"),
        (("2021-03-04", 10, 10.2, 9, 10.5, 100), "high below max(open, close)"),
        (("2021-03-04", 10, 11, 10.2, 10.1, 100), "low above min(open, close)"),
        (("2021-03-04", 10, 11, 9, 10, -5), "negative or missing volume"),
        (("2021-03-06", 10, 11, 9, 10, 100), "not a XNYS trading session"),  # a Saturday
        (("2021-03-03", 10, 11, 9, 10, 100), "duplicate session"),
        (("not a date", 10, 11, 9, 10, 100), "unparseable date"),
        (("2021-03-04", float("nan"), 11, 9, 10, 100), "missing price"),
        (("2021-03-04", 10, float("inf"), 9, 10, 100), "infinite price"),
        (("2021-03-04", 10, 11, 9, 10, float("inf")), "infinite volume"),
    ],
)
def test_each_rule_rejects_the_row_with_its_reason(row: tuple, reason: str) -> None:
    clean, report = validate_bars(frame([*GOOD, row]), "X", "XNYS")
    assert report.rejected == [(str(row[0]), reason)]
    assert len(clean) == 3
    assert reason in report.describe()


def test_gaps_against_the_calendar_are_listed() -> None:
    rows = [GOOD[0], ("2021-03-04", 10, 11, 9, 10, 1)]
    _, report = validate_bars(frame(rows), "X", "XNYS")
    assert report.missing_sessions == [dt.date(2021, 3, 2), dt.date(2021, 3, 3)]
    assert "2 sessions without a bar: 2021-03-02, 2021-03-03" in report.describe()


def test_xshg_holidays_are_not_sessions() -> None:
    rows = [("2024-10-01", 10, 11, 9, 10, 1), ("2024-10-08", 10, 11, 9, 10, 1)]  # National Day
    clean, report = validate_bars(frame(rows), "000300.XSHG", "XSHG")
    assert report.rejected == [("2024-10-01", "not a XSHG trading session")]
    assert len(clean) == 1


def test_missing_columns_and_all_invalid_rows_raise() -> None:
    with pytest.raises(DataValidationError, match="missing column"):
        validate_bars(pd.DataFrame({"date": ["2021-03-01"], "close": [1.0]}), "X", "XNYS")
    with pytest.raises(DataValidationError, match="no valid bars"):
        validate_bars(frame([("2021-03-01", -1, 1, 1, 1, 1)]), "X", "XNYS")


def test_an_invalid_row_does_not_evict_a_valid_duplicate() -> None:
    rows = [GOOD[0], ("2021-03-02", -1, 11, 9, 10, 1), GOOD[1]]
    clean, report = validate_bars(frame(rows), "X", "XNYS")
    assert report.rejected == [("2021-03-02", "non-positive price")]
    assert list(clean["open"]) == [10, 10.5]


NAN = math.nan


def with_limits(
    rows: Sequence[tuple[str, float, float, float, float, float]],
    up: Sequence[float | str],
    down: Sequence[float | str],
) -> pd.DataFrame:
    return frame(rows).assign(limit_up=list(up), limit_down=list(down))


#: A row closing at 10 (range 9..11), checked against the limits of each case.
AT_10 = ("2021-03-04", 10, 11, 9, 10, 100)


@pytest.mark.parametrize(
    ("up", "down", "reason"),
    [
        (-1.0, NAN, "bad limit_up: not a price > 0 (leave it empty when unknown)"),
        ("abc", NAN, "bad limit_up: not a price > 0 (leave it empty when unknown)"),
        (math.inf, NAN, "bad limit_up: not a price > 0 (leave it empty when unknown)"),
        (NAN, 0.0, "bad limit_down: not a price > 0 (leave it empty when unknown)"),
        (9.0, 9.5, "limit_down above limit_up"),
        (9.98, NAN, "close 10 above limit_up 9.98 by more than a 0.01 tick"),
        (NAN, 10.02, "close 10 below limit_down 10.02 by more than a 0.01 tick"),
    ],
)
def test_each_limit_rule_rejects_the_row_with_its_reason(
    up: float | str, down: float | str, reason: str
) -> None:
    rows = [*GOOD, AT_10]
    clean, report = validate_bars(
        with_limits(rows, [NAN] * 3 + [up], [NAN] * 3 + [down]), "X", "XNYS"
    )
    assert report.rejected == [("2021-03-04", reason)]
    assert len(clean) == 3
    assert reason in report.describe()


def test_closes_at_or_within_a_tick_of_their_limits_pass() -> None:
    rows = [
        ("2021-03-01", 10, 10, 9.5, 10, 100),  # limit-up day: closes at the limit
        ("2021-03-02", 9, 9.5, 9, 9, 100),  # limit-down day
        ("2021-03-03", 10, 10, 9.5, 10, 100),  # a source's rounding: 0.01 above
        ("2021-03-04", 10, 11, 9, 10, 100),  # limits unknown: empty cells
        ("2021-03-05", 10, 11, 9, 10, 100),
    ]
    up: list[float | str] = [10.0, 9.9, 9.99, "", 11.0]
    down: list[float | str] = [9.0, 9.0, 9.0, " ", 10.0]
    clean, report = validate_bars(with_limits(rows, up, down), "X", "XNYS")
    assert report.ok and len(clean) == 5
    np.testing.assert_array_equal(clean["limit_up"], [10.0, 9.9, 9.99, NAN, 11.0])
    np.testing.assert_array_equal(clean["limit_down"], [9.0, 9.0, 9.0, NAN, 10.0])


def test_one_limit_column_alone_is_checked_and_kept() -> None:
    rows = [GOOD[0], AT_10]
    clean, report = validate_bars(frame(rows).assign(limit_down=[9.5, 10.5]), "X", "XNYS")
    assert report.rejected == [
        ("2021-03-04", "close 10 below limit_down 10.5 by more than a 0.01 tick")
    ]
    assert list(clean.columns).count("limit_down") == 1 and "limit_up" not in clean.columns
