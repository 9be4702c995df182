"""Validation of daily bars at import: bad data fails here, never in the middle of a run.

Rules, per row: a parseable date that is a session of the instrument's calendar, no
duplicate sessions, prices present and > 0, ``high >= max(open, close)``,
``low <= min(open, close)``, ``volume >= 0``. Rows that break a rule are rejected with the
reason; the rest are imported sorted by date. Calendar sessions with no bar between the first
and last accepted bar are reported (suspensions or gaps), not rejected.

The optional ``limit_up``/``limit_down`` columns (the exchange's daily price limits, in traded
prices like ``close``) are checked when present: each value is empty (NaN: the limit is
unknown and the engine derives it) or a finite number > 0; ``limit_down <= limit_up`` when
both are known; and the close lies in ``[limit_down, limit_up]`` up to one 0.01 tick
(``LIMIT_TOLERANCE``). A close exactly at its limit is a normal limit-up/limit-down day and
passes. A close beyond a limit by more than a tick means the limit or the price is wrong
(often limits on adjusted prices, or a bogus value on an IPO day without limits); since the
engine trusts the column over its own rules (it refuses orders at it and clamps fills to
it), such a row is rejected like any other bad row, with both values in the reason, rather
than imported and reported: the fix is to blank or correct that limit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from quantdesk.core.errors import DataValidationError
from quantdesk.data.calendars import sessions as calendar_sessions

#: Columns a bar frame must have (``adj_close`` and ``LIMIT_COLUMNS`` are optional).
REQUIRED = ("date", "open", "high", "low", "close", "volume")
#: Optional daily price-limit columns, in traded prices.
LIMIT_COLUMNS = ("limit_up", "limit_down")
#: How far a close may lie beyond its price limit: one 0.01 tick (float noise of a source).
LIMIT_TOLERANCE = 0.01


@dataclass
class ImportReport:
    """What an import accepted and rejected for one instrument.

    Attributes:
        order_book_id: The instrument.
        rows_in: Rows in the input.
        rows_accepted: Rows written to the catalog.
        rejected: ``(date text, reason)`` per rejected row.
        missing_sessions: Calendar sessions between the first and last bar with no bar.
        first: First accepted session.
        last: Last accepted session.
    """

    order_book_id: str
    rows_in: int = 0
    rows_accepted: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)
    missing_sessions: list[dt.date] = field(default_factory=list)
    first: dt.date | None = None
    last: dt.date | None = None

    @property
    def ok(self) -> bool:
        """True when nothing was rejected."""
        return not self.rejected

    def describe(self, limit: int = 10) -> str:
        """A human-readable multi-line report."""
        lines = [
            f"{self.order_book_id}: {self.rows_accepted}/{self.rows_in} bars accepted"
            + (f" ({self.first}..{self.last})" if self.first else "")
        ]
        for date, reason in self.rejected[:limit]:
            lines.append(f"  rejected {date}: {reason}")
        if len(self.rejected) > limit:
            lines.append(f"  ... and {len(self.rejected) - limit} more rejected rows")
        if self.missing_sessions:
            shown = ", ".join(d.isoformat() for d in self.missing_sessions[:limit])
            more = len(self.missing_sessions) - limit
            lines.append(
                f"  {len(self.missing_sessions)} sessions without a bar: {shown}"
                + (f" ... (+{more})" if more > 0 else "")
            )
        return "\n".join(lines)


def validate_bars(
    frame: pd.DataFrame, order_book_id: str, calendar: str
) -> tuple[pd.DataFrame, ImportReport]:
    """Check ``frame`` (``REQUIRED`` [+ ``adj_close``, ``LIMIT_COLUMNS``]) against the rules.

    Returns:
        ``(clean, report)``: ``clean`` has the accepted rows sorted by date, with ``date`` as
        ``datetime64[D]``-compatible timestamps and float columns: ``REQUIRED``,
        ``adj_close`` (NaN when absent) and those of ``LIMIT_COLUMNS`` the frame has.

    Raises:
        DataValidationError: a required column is missing, or no row is valid.
    """
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise DataValidationError(
            f"{order_book_id}: missing column(s) {', '.join(missing)}; "
            f"expected {', '.join(REQUIRED)} [adj_close]"
        )
    report = ImportReport(order_book_id, rows_in=len(frame))
    df = pd.DataFrame(
        {
            "raw_date": frame["date"].astype(str),
            "date": pd.to_datetime(frame["date"], errors="coerce"),
            **{c: pd.to_numeric(frame[c], errors="coerce").astype(float) for c in REQUIRED[1:]},
            "adj_close": (
                pd.to_numeric(frame["adj_close"], errors="coerce").astype(float)
                if "adj_close" in frame.columns
                else np.nan
            ),
            **{
                c: pd.to_numeric(frame[c], errors="coerce").astype(float)
                for c in LIMIT_COLUMNS
                if c in frame.columns
            },
        }
    )
    reasons = pd.Series("", index=df.index, dtype=object)

    def flag(mask: pd.Series, reason: str) -> None:
        hit = mask & (reasons == "")
        reasons[hit] = reason

    prices = df[["open", "high", "low", "close"]]
    flag(df["date"].isna(), "unparseable date")
    flag(prices.isna().any(axis=1), "missing price")
    flag(prices.isin([np.inf, -np.inf]).any(axis=1), "infinite price")
    flag((prices <= 0).any(axis=1), "non-positive price")
    flag(df["high"] < df[["open", "close"]].max(axis=1), "high below max(open, close)")
    flag(df["low"] > df[["open", "close"]].min(axis=1), "low above min(open, close)")
    flag(df["volume"].isna() | (df["volume"] < 0), "negative or missing volume")
    flag(df["volume"].isin([np.inf]), "infinite volume")
    flag((df["adj_close"] <= 0) | df["adj_close"].isin([np.inf]), "bad adj_close")
    _check_limits(frame, df, reasons, flag)
    dates = df["date"].dt.normalize()
    valid_dates = dates[dates.notna()]
    if len(valid_dates):
        days = calendar_sessions(calendar, valid_dates.min().date(), valid_dates.max().date())
        session_set = pd.DatetimeIndex(days)
        flag(dates.notna() & ~dates.isin(session_set), f"not a {calendar} trading session")
    # Only rows still valid compete for a session, so a bad row cannot evict a good one.
    still_valid = dates.notna() & (reasons == "")
    dup = still_valid & dates.where(still_valid).duplicated(keep="first")
    flag(dup, "duplicate session")
    raw_dates = df["raw_date"].tolist()
    reason_list = reasons.tolist()
    for i in np.flatnonzero((reasons != "").to_numpy()).tolist():
        report.rejected.append((str(raw_dates[i]), str(reason_list[i])))
    clean = df[reasons == ""].drop(columns=["raw_date"]).copy()
    clean["date"] = dates[reasons == ""]
    clean = clean.sort_values("date", kind="stable").reset_index(drop=True)
    if clean.empty:
        raise DataValidationError(
            f"{order_book_id}: no valid bars; " + report.describe(limit=5).split("\n", 1)[-1]
        )
    report.rows_accepted = len(clean)
    accepted = pd.DatetimeIndex(clean["date"])
    first, last = accepted[0].date(), accepted[-1].date()
    report.first, report.last = first, last
    expected = pd.DatetimeIndex(calendar_sessions(calendar, first, last))
    gaps = expected.difference(accepted)
    report.missing_sessions = [ts.date() for ts in gaps]
    return clean, report


def _check_limits(
    frame: pd.DataFrame,
    df: pd.DataFrame,
    reasons: pd.Series,
    flag: Callable[[pd.Series, str], None],
) -> None:
    """The ``LIMIT_COLUMNS`` rules of the module docstring, on the columns ``df`` has."""
    present = [c for c in LIMIT_COLUMNS if c in df.columns]
    for col in present:
        raw = frame[col]
        given = raw.notna() & (raw.astype(str).str.strip() != "")
        value = df[col]
        good = (value > 0) & (value != np.inf)
        flag(given & ~good, f"bad {col}: not a price > 0 (leave it empty when unknown)")
    if len(present) == 2:
        flag(df["limit_down"] > df["limit_up"], "limit_down above limit_up")
    close = df["close"]
    for col, sign, word in (("limit_up", 1.0, "above"), ("limit_down", -1.0, "below")):
        if col not in present:
            continue
        beyond = (close - df[col]) * sign  # NaN (unknown limit) compares False
        hit = (beyond > LIMIT_TOLERANCE + 1e-9) & (reasons == "")
        reasons[hit] = [
            f"close {c:g} {word} {col} {limit:g} by more than a {LIMIT_TOLERANCE:g} tick"
            for c, limit in zip(close[hit], df.loc[hit, col], strict=True)
        ]
