"""Round trips from fills: FIFO lots, partial closes, several instruments, cost allocation.

The hand-computed cases use costs that divide evenly so every expectation is exact; the
property test checks the pairing against the engine's own accounting (``Portfolio.apply_sell``
is what sets ``Fill.realized_pnl``).
"""

from __future__ import annotations

from collections import defaultdict

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantdesk.backtest.round_trips import FILL_COLUMNS, ROUND_TRIP_COLUMNS, round_trips
from quantdesk.engine.portfolio import Portfolio

SESSIONS = pd.bdate_range("2024-01-01", "2024-03-29")


def fills(*rows: tuple) -> pd.DataFrame:
    """``(session number, oid, side, quantity, price, commission, tax)`` rows -> a fills frame."""
    return pd.DataFrame(
        [
            (SESSIONS[day] + pd.Timedelta(hours=16), i + 1, oid, side, qty, price, comm, tax)
            for i, (day, oid, side, qty, price, comm, tax) in enumerate(rows)
        ],
        columns=FILL_COLUMNS,
    )


def test_fifo_closes_the_oldest_lot_first_and_splits_a_partly_closed_lot() -> None:
    trips = round_trips(
        fills(
            (0, "A", "BUY", 100, 10.0, 5.0, 0.0),  # lot 1: 100 @ 10, costs 5
            (2, "A", "BUY", 50, 12.0, 3.0, 0.0),  # lot 2: 50 @ 12, costs 3
            (5, "A", "SELL", 120, 15.0, 9.0, 3.0),  # closes lot 1 and 20 of lot 2; 0.1/share
            (9, "A", "SELL", 30, 11.0, 1.0, 0.0),  # closes the last 30 of lot 2
        ),
        SESSIONS,
    )
    assert list(trips.columns) == ROUND_TRIP_COLUMNS
    assert trips["quantity"].tolist() == [100, 20, 30]
    assert trips["entry_price"].tolist() == [10.0, 12.0, 12.0]
    assert trips["exit_price"].tolist() == [15.0, 15.0, 11.0]
    assert trips["entry_order_id"].tolist() == [1, 2, 2]
    assert trips["exit_order_id"].tolist() == [3, 3, 4]
    # costs: all of lot 1's 5 + 100 x 0.1; 20/50 of 3 + 20 x 0.1; 30/50 of 3 + all of 1
    assert trips["costs"].tolist() == pytest.approx([15.0, 3.2, 2.8], abs=1e-12)
    assert trips["pnl"].tolist() == pytest.approx([485.0, 56.8, -32.8], abs=1e-12)
    assert trips["return"].tolist() == pytest.approx([485 / 1000, 56.8 / 240, -32.8 / 360])
    assert trips["direction"].tolist() == ["LONG"] * 3
    assert trips["holding_sessions"].tolist() == [5, 3, 7]
    # 2024-01-01 (Mon) -> 01-08; 01-03 -> 01-08; 01-03 -> 01-12
    assert trips["holding_days"].tolist() == [7, 5, 9]
    assert trips["entry_datetime"].tolist() == [
        pd.Timestamp("2024-01-01 16:00"), pd.Timestamp("2024-01-03 16:00"),
        pd.Timestamp("2024-01-03 16:00"),
    ]  # fmt: skip


def test_instruments_are_matched_separately_and_trips_come_in_closing_order() -> None:
    trips = round_trips(
        fills(
            (0, "A", "BUY", 10, 100.0, 0.0, 0.0),
            (0, "B", "BUY", 40, 20.0, 0.0, 0.0),
            (1, "A", "BUY", 10, 110.0, 0.0, 0.0),
            (3, "B", "SELL", 40, 25.0, 0.0, 0.0),
            (4, "A", "SELL", 15, 120.0, 0.0, 0.0),
        ),
        SESSIONS,
    )
    assert trips["order_book_id"].tolist() == ["B", "A", "A"]
    assert trips["quantity"].tolist() == [40, 10, 5]
    assert trips["pnl"].tolist() == [200.0, 200.0, 50.0]
    assert trips["holding_sessions"].tolist() == [3, 4, 3]


def test_lots_still_open_are_not_round_trips() -> None:
    trips = round_trips(
        fills((0, "A", "BUY", 10, 100.0, 1.0, 0.0), (1, "B", "BUY", 5, 50.0, 1.0, 0.0)), SESSIONS
    )
    assert trips.empty
    assert list(trips.columns) == ROUND_TRIP_COLUMNS


def test_a_sell_beyond_the_position_opens_a_short_with_its_share_of_the_costs() -> None:
    trips = round_trips(
        fills(
            (0, "A", "BUY", 10, 100.0, 2.0, 0.0),
            (1, "A", "SELL", 15, 90.0, 3.0, 0.0),  # closes 10 (costs 2), opens 5 short (1)
            (2, "A", "BUY", 5, 80.0, 0.5, 0.0),
        ),
        SESSIONS,
    )
    assert trips["direction"].tolist() == ["LONG", "SHORT"]
    assert trips["quantity"].tolist() == [10, 5]
    assert trips["costs"].tolist() == pytest.approx([4.0, 1.5])
    assert trips["pnl"].tolist() == pytest.approx([-100.0 - 4.0, 50.0 - 1.5])
    assert trips["return"].tolist() == pytest.approx([-104 / 1000, 48.5 / 450])


def test_each_fills_costs_are_allocated_in_full_across_its_trips() -> None:
    rows = [
        (0, "A", "BUY", 30, 10.0, 7.0, 0.0),
        (1, "A", "BUY", 70, 11.0, 13.0, 0.0),
        (2, "A", "SELL", 45, 12.0, 4.0, 2.5),
        (3, "A", "SELL", 55, 13.0, 6.0, 1.5),
    ]
    trips = round_trips(fills(*rows), SESSIONS)
    assert trips["quantity"].tolist() == [30, 15, 55]
    assert trips["costs"].sum() == pytest.approx(sum(r[5] + r[6] for r in rows), abs=1e-12)
    # the 45-share sell's 6.5 splits 30:15; the second buy's 13 splits 15:55
    assert trips["costs"].tolist() == pytest.approx(
        [7.0 + 6.5 * 30 / 45, 13.0 * 15 / 70 + 6.5 * 15 / 45, 13.0 * 55 / 70 + 7.5]
    )


def test_without_sessions_the_session_count_is_missing_but_days_are_counted() -> None:
    trips = round_trips(
        fills((0, "A", "BUY", 1, 10.0, 0.0, 0.0), (5, "A", "SELL", 1, 11.0, 0.0, 0.0))
    )
    assert trips["holding_sessions"].isna().all()
    assert str(trips["holding_sessions"].dtype) == "Int64"
    assert trips["holding_days"].tolist() == [7]


def test_bad_fills_are_refused() -> None:
    good = fills((0, "A", "BUY", 1, 10.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="lack the columns"):
        round_trips(good.drop(columns="tax"))
    with pytest.raises(ValueError, match="neither BUY nor SELL"):
        round_trips(good.assign(side="HOLD"))
    with pytest.raises(ValueError, match="must be > 0"):
        round_trips(good.assign(quantity=0))


def test_no_fills_give_an_empty_frame_with_the_columns_and_dtypes() -> None:
    trips = round_trips(fills(), SESSIONS)
    assert list(trips.columns) == ROUND_TRIP_COLUMNS
    assert trips["pnl"].dtype == "float64"
    assert trips["entry_datetime"].dtype.kind == "M"


FILL = st.tuples(
    st.integers(0, 2),  # instrument
    st.booleans(),  # buy?
    st.integers(1, 500),  # quantity (a sell is capped at the holding)
    st.floats(1.0, 1000.0),  # price
    st.floats(0.0, 20.0),  # commission
    st.floats(0.0, 5.0),  # tax (sells)
)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(st.lists(FILL, max_size=40), st.floats(1.0, 1000.0))
def test_closed_round_trips_add_up_to_the_engines_realized_pnl(
    draws: list[tuple[int, bool, int, float, float, float]], last_price: float
) -> None:
    portfolio = Portfolio(1e12, t_plus=0)
    rows: list[tuple] = []
    realized: dict[str, float] = defaultdict(float)
    orders = [(f"S{i}", buy, qty, p, c, t) for (i, buy, qty, p, c, t) in draws]
    # every instrument ends flat: sell what is left at the last price
    held: dict[str, int] = defaultdict(int)
    for oid, buy, qty, *_ in orders:
        held[oid] += qty if buy else -min(qty, held[oid])
    orders += [(oid, False, q, last_price, 1.0, 0.5) for oid, q in held.items() if q]
    for day, (oid, buy, qty, price, commission, tax) in enumerate(orders):
        pos = portfolio.position(oid, price)
        if buy:
            portfolio.apply_buy(pos, qty, price, commission)
            rows.append((day, oid, "BUY", qty, price, commission, 0.0))
        elif pos.quantity:
            sold = min(qty, pos.quantity)
            realized[oid] += portfolio.apply_sell(pos, sold, price, commission + tax)
            rows.append((day, oid, "SELL", sold, price, commission, tax))
    trips = round_trips(
        pd.DataFrame(
            [
                (pd.Timestamp("2024-01-01") + pd.Timedelta(days=day), i, oid, side, q, p, c, t)
                for i, (day, oid, side, q, p, c, t) in enumerate(rows)
            ],
            columns=FILL_COLUMNS,
        )
    )
    assert set(trips["direction"]) <= {"LONG"}
    by_oid = trips.groupby("order_book_id")["pnl"].sum().to_dict()
    assert set(by_oid) == set(realized)
    for oid, pnl in realized.items():
        assert by_oid[oid] == pytest.approx(pnl, abs=1e-6)
    bought = sum(q for _, _, side, q, *_ in rows if side == "BUY")
    assert trips["quantity"].sum() == bought
