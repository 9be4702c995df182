"""Validation of daily bars at import: bad data fails here, never in the middle of a run.

Rules, per row: a parseable date that is a session of the instrument's calendar, no
duplicate sessions, prices present and > 0, ``high >= max(open, close)``,
``low <= min(open, close)``, ``volume >= 0``. Rows that break a rule are rejected with the
reason; the rest are imported sorted by date. Calendar sessions with no bar between the first
and last accepted bar are reported (suspensions or gaps), not rejected.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from quantdesk.core.errors import DataValidationError
from quantdesk.data.calendars import sessions as calendar_sessions

#: Columns a bar frame must have (``adj_close`` is optional).
REQUIRED = ("date", "open", "high", "low", "close", "volume")


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
    """Check ``frame`` (columns ``REQUIRED`` [+ ``adj_close``]) against the rules above.

    Returns:
        ``(clean, report)``: ``clean`` has the accepted rows sorted by date, with ``date`` as
        ``datetime64[D]``-compatible timestamps and float columns.

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
