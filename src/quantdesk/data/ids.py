"""A-share codes as other tools write them, turned into RQAlpha ``order_book_id`` values.

Exports and libraries spell the same listing differently: Tushare ``600000.SH``, baostock
``sh.600000``, akshare/Eastmoney ``sh600000`` or a bare ``600000``, Wind ``600000.SH``. The
catalog (and RQAlpha) uses the exchange's MIC as suffix: ``600000.XSHG`` (Shanghai),
``000001.XSHE`` (Shenzhen), ``430047.BJSE`` (Beijing).
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

from quantdesk.core.errors import InvalidArgument
from quantdesk.core.instruments import MARKET_ZONE, Market

#: RQAlpha's A-share suffixes (the exchanges' MICs, and BJSE for Beijing).
CN_SUFFIXES = ("XSHG", "XSHE", "BJSE")
#: Other tools' exchange tags -> the catalog's suffix.
EXCHANGE_TAGS = {
    "SH": "XSHG", "SS": "XSHG", "SSE": "XSHG", "XSHG": "XSHG",
    "SZ": "XSHE", "SZSE": "XSHE", "XSHE": "XSHE",
    "BJ": "BJSE", "BSE": "BJSE", "BJSE": "BJSE",
}  # fmt: skip
_SUFFIXED = re.compile(r"(\d{6})\.([A-Za-z]{2,4})")
_PREFIXED = re.compile(r"([A-Za-z]{2})\.?(\d{6})")


def exchange_of_code(code: str, *, index: bool = False) -> str:
    """The suffix of a bare 6-digit A-share code (the exchanges' code allocation).

    Stocks and funds: 6xxxxx and 9xxxxx (B shares) and 5xxxxx (funds) trade in Shanghai;
    0xxxxx, 1xxxxx, 2xxxxx, 3xxxxx in Shenzhen; 4xxxxx, 8xxxxx and 920xxx in Beijing.
    Indices (``index=True``): 399xxx are Shenzhen's, everything else (000300, 000905,
    000016, 93xxxx) is published on the Shanghai side, as RQAlpha names them.
    """
    if index:
        return "XSHE" if code.startswith("399") else "XSHG"
    if code.startswith(("6", "9", "5")) and not code.startswith("920"):
        return "XSHG"
    if code.startswith(("4", "8", "920")):
        return "BJSE"
    return "XSHE"


def is_cn_index(order_book_id: str) -> bool:
    """True for an A-share index id.

    ``000xxx``, ``93xxxx`` and ``95xxxx.XSHG`` are SSE and CSI indices (Shanghai's stock
    codes start with 6); ``399xxx.XSHE`` are SZSE/CNI indices.
    """
    code, _, suffix = order_book_id.partition(".")
    if suffix == "XSHG":
        return code.startswith(("000", "93", "95"))
    return suffix == "XSHE" and code.startswith("399")


def market_of_id(order_book_id: str) -> Market:
    """The market an id names by its suffix.

    ``cn`` for ``.XSHG``/``.XSHE``/``.BJSE``, else ``us``: what a new instrument defaults
    to when nothing else says.
    """
    suffix = order_book_id.rpartition(".")[2].upper() if "." in order_book_id else ""
    return Market.CN if suffix in CN_SUFFIXES else Market.US


def split_cn_id(order_book_id: str) -> tuple[str, str]:
    """``600519.XSHG`` -> ``("600519", "XSHG")``.

    Raises:
        InvalidArgument: not an A-share id (6 digits and ``.XSHG``, ``.XSHE`` or ``.BJSE``).
    """
    code, _, suffix = order_book_id.partition(".")
    if suffix not in CN_SUFFIXES or not (code.isdigit() and len(code) == 6):
        raise InvalidArgument(
            f"{order_book_id} is not an A-share order_book_id (6 digits and .XSHG, .XSHE or .BJSE)"
        )
    return code, suffix


#: The lower-case exchange tag the Chinese data libraries put before a code (``sh.600000``).
LIBRARY_TAGS = {"XSHG": "sh", "XSHE": "sz", "BJSE": "bj"}


def market_today(order_book_id: str) -> dt.date:
    """Today's date where ``order_book_id`` trades.

    Beijing time for an A-share id (a ``.XSHG``/``.XSHE``/``.BJSE`` suffix), New York time
    for anything else. The default day of "the members today": the UTC date lags Beijing's
    until 08:00.
    """
    zone = MARKET_ZONE[market_of_id(order_book_id)]
    return _now().astimezone(zoneinfo.ZoneInfo(zone)).date()


def _now() -> dt.datetime:
    """The current time (UTC); tests replace it."""
    return dt.datetime.now(dt.UTC)


def cn_order_book_id(text: str, *, index: bool = False) -> str:
    """``text`` as an A-share ``order_book_id`` (``600000.XSHG``).

    Accepts ``600000.XSHG``, ``600000.SH``, ``sh.600000``, ``sh600000`` and bare
    ``600000`` (exchange from ``exchange_of_code``; ``index`` says the code is an index's).

    Raises:
        InvalidArgument: not one of those forms.
    """
    value = str(text).strip()
    if (m := _SUFFIXED.fullmatch(value)) and m.group(2).upper() in EXCHANGE_TAGS:
        return f"{m.group(1)}.{EXCHANGE_TAGS[m.group(2).upper()]}"
    if (m := _PREFIXED.fullmatch(value)) and m.group(1).upper() in EXCHANGE_TAGS:
        return f"{m.group(2)}.{EXCHANGE_TAGS[m.group(1).upper()]}"
    if value.isdigit() and len(value) <= 6:
        code = value.zfill(6)  # spreadsheets drop leading zeros: 300 -> 000300
        return f"{code}.{exchange_of_code(code, index=index)}"
    raise InvalidArgument(
        f"{value!r} is not an A-share code (600000.XSHG, 600000.SH, sh.600000, sh600000 or 600000)"
    )


def normalize_id(text: str, *, index: bool = False) -> str:
    """``text`` as the catalog's id.

    A-share spellings become ``cn_order_book_id``; other ids (``AAPL``, ``^GSPC``) stay as
    they are, stripped.
    """
    value = str(text).strip()
    try:
        return cn_order_book_id(value, index=index)
    except InvalidArgument:
        return value


__all__ = [
    "CN_SUFFIXES", "EXCHANGE_TAGS", "LIBRARY_TAGS", "cn_order_book_id", "exchange_of_code",
    "is_cn_index", "market_of_id", "market_today", "normalize_id", "split_cn_id",
]  # fmt: skip
