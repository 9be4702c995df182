"""Index membership from the library sources: compositions over time.

* ``baostock``: ``bs.query_hs300_stocks(date)``, ``query_sz50_stocks`` and
  ``query_zz500_stocks`` answer the composition in effect on a date, each row with the
  ``updateDate`` it took effect, ``code`` (``sh.600000``) and ``code_name``. Asking every
  ``SAMPLE_DAYS`` days of the window and keeping one composition per ``updateDate`` gives
  the history: a composition that lasted less than that between two samples can be missed.
  Only these three indexes (CSI 300, SSE 50, CSI 500) exist there.
* ``akshare``: ``ak.index_stock_cons_weight_csindex(symbol)`` (China Securities Index's
  published file: ``日期``, ``成分券代码``, ``交易所``, ``权重`` in percent) gives the
  current composition of any CSI index with weights, dated by the file; there is no history.
  Without a weights file, ``ak.index_stock_cons_csindex(symbol)`` gives the members alone.

The library is the adapter's own client (``sources.adapter``): tests give recorded answers.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any

import pandas as pd

from quantdesk.core.errors import InvalidArgument
from quantdesk.data.ids import cn_order_book_id, exchange_of_code
from quantdesk.data.index_members import Composition
from quantdesk.data.sources import SourceError, call, columns, load

#: Days between two baostock samples of an index's composition.
SAMPLE_DAYS = 7
#: baostock's query of each index it has.
BAOSTOCK_INDEXES = {
    "000300.XSHG": "query_hs300_stocks",
    "000016.XSHG": "query_sz50_stocks",
    "000905.XSHG": "query_zz500_stocks",
}
#: The day each of baostock's indexes was launched: no sample is asked for before it.
LAUNCHED = {
    "000300.XSHG": dt.date(2005, 4, 8),
    "000016.XSHG": dt.date(2004, 1, 2),
    "000905.XSHG": dt.date(2007, 1, 15),
}
#: The exchanges as CSI's file names them -> the catalog's suffix.
_CSI_EXCHANGES = {"上海": "XSHG", "深圳": "XSHE", "北京": "BJSE"}


def _sample_days(start: dt.date, end: dt.date) -> list[dt.date]:
    days = [start + dt.timedelta(days=n) for n in range(0, (end - start).days + 1, SAMPLE_DAYS)]
    return days if days[-1] == end else [*days, end]


def baostock_compositions(
    client: Any, index_id: str, start: dt.date, end: dt.date,
    cancelled: Callable[[], bool] | None = None,
) -> list[Composition]:  # fmt: skip
    """The compositions of ``index_id`` in effect during ``[start, end]``, oldest first.

    Raises:
        InvalidArgument: an index baostock does not have.
        SourceError: the library failed or answered another schema.
    """
    query = BAOSTOCK_INDEXES.get(index_id)
    if query is None:
        raise InvalidArgument(
            f"baostock has the membership of {', '.join(BAOSTOCK_INDEXES)} only, not {index_id}"
        )
    start = max(start, LAUNCHED[index_id])
    if start > end:
        return []
    bs = load("baostock", client)
    login = call("baostock", "login", bs.login)
    if getattr(login, "error_code", "0") != "0":
        raise SourceError(f"baostock login failed: {getattr(login, 'error_msg', '')}")
    found: dict[dt.date, tuple[str, ...]] = {}
    try:
        for day in _sample_days(start, end):
            if cancelled is not None and cancelled():
                break
            asked = day.isoformat()
            result = call("baostock", f"{query}({asked})",
                          functools.partial(getattr(bs, query), date=asked))  # fmt: skip
            if getattr(result, "error_code", "0") != "0":
                raise SourceError(f"baostock {query}({day}) failed: "
                                  f"{getattr(result, 'error_msg', '')}")  # fmt: skip
            frame = result.get_data()
            if not isinstance(frame, pd.DataFrame):
                raise SourceError(f"baostock {query} answered {type(frame).__name__}, not a table")
            if frame.empty:
                continue  # before the index's first composition there
            rows = columns(frame, {"updateDate": "date", "code": "code"}, "baostock")
            for effective, group in rows.groupby("date"):
                found[dt.date.fromisoformat(str(effective)[:10])] = tuple(
                    sorted(cn_order_book_id(str(code)) for code in group["code"])
                )
    finally:
        call("baostock", "logout", bs.logout)
    return [
        Composition(index_id, day, ids, source="baostock") for day, ids in sorted(found.items())
    ]


def _csi_member(code: Any, exchange: Any) -> str:
    text = str(code).strip().zfill(6)
    suffix = next((s for name, s in _CSI_EXCHANGES.items() if name in str(exchange)), None)
    return f"{text}.{suffix or exchange_of_code(text)}"


def akshare_compositions(
    client: Any, index_id: str, start: dt.date, end: dt.date,  # noqa: ARG001 (current only)
    cancelled: Callable[[], bool] | None = None,  # noqa: ARG001 (one call)
) -> list[Composition]:  # fmt: skip
    """The current composition of a CSI index (with weights when CSI publishes them).

    Raises:
        InvalidArgument: not an A-share index id.
        SourceError: the library failed or answered another schema.
    """
    code, _, suffix = index_id.partition(".")
    if suffix not in ("XSHG", "XSHE") or not (code.isdigit() and len(code) == 6):
        raise InvalidArgument(f"{index_id} is not an A-share index id (000300.XSHG...)")
    ak = load("akshare", client)
    try:
        raw = call("akshare", f"index_stock_cons_weight_csindex({code})",
                   lambda: ak.index_stock_cons_weight_csindex(symbol=code))  # fmt: skip
        names = {"日期": "date", "成分券代码": "code", "交易所": "exchange", "权重": "weight"}
    except SourceError:  # indexes without a published weights file: members only
        raw = call("akshare", f"index_stock_cons_csindex({code})",
                   lambda: ak.index_stock_cons_csindex(symbol=code))  # fmt: skip
        names = {"日期": "date", "成分券代码": "code", "交易所": "exchange"}
    if not isinstance(raw, pd.DataFrame):
        raise SourceError(f"akshare answered {type(raw).__name__}, not a table")
    if raw.empty:
        raise SourceError(f"akshare has no constituents of {index_id} (CSI code {code})")
    rows = columns(raw, names, "akshare")
    day = pd.to_datetime(rows["date"], errors="coerce").max()
    if pd.isna(day):
        raise SourceError(f"akshare gave no date for the constituents of {index_id}")
    ids = [_csi_member(c, e) for c, e in zip(rows["code"], rows["exchange"], strict=True)]
    weights = (
        tuple(None if pd.isna(w) else float(w)  # an unreadable weight is an unknown one
              for w in pd.to_numeric(rows["weight"], errors="coerce"))
        if "weight" in rows.columns else None
    )  # fmt: skip
    return [Composition(index_id, day.date(), tuple(ids), weights, source="akshare")]


#: The membership fetchers of the sources that have one.
INDEX_FETCHERS: dict[str, Callable[..., list[Composition]]] = {
    "baostock": baostock_compositions,
    "akshare": akshare_compositions,
}


def fetch_compositions(
    source: str, client: Any, index_id: str, start: dt.date, end: dt.date,
    cancelled: Callable[[], bool] | None = None,
) -> list[Composition]:  # fmt: skip
    """``index_id``'s compositions from ``source`` (unchecked: ``check_composition``).

    Raises:
        InvalidArgument: the source has no index membership, or not of this index.
        SourceError: the library failed.
    """
    fetcher = INDEX_FETCHERS.get(source)
    if fetcher is None:
        raise InvalidArgument(f"source {source!r} provides no index membership")
    return fetcher(client, index_id, start, end, cancelled)


__all__ = [
    "BAOSTOCK_INDEXES",
    "INDEX_FETCHERS",
    "SAMPLE_DAYS",
    "akshare_compositions",
    "baostock_compositions",
    "fetch_compositions",
]
