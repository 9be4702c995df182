"""Research helpers for notebooks: prices and instruments from the catalog, finished jobs.

``import quantdesk`` exposes them (``quantdesk.get_price``, ``quantdesk.all_instruments``,
``quantdesk.index_components``, ``quantdesk.index_weights``, ``quantdesk.load_job``) next
to ``quantdesk.run_backtest``. Names and arguments follow
RQData's (``get_price(order_book_ids, start_date, end_date, fields, adjust)``,
``all_instruments(type, market)``) so research code reads like RiceQuant's; bars are daily
only, so ``get_price`` has no ``frequency`` (RQData's fourth argument) and its adjustment
argument is ``adjust`` (``pre`` or ``none``).

The catalog is ``Catalog(Settings().data_dir)`` (``DATA_DIR``, as ``run_backtest`` finds it)
unless a ``catalog=`` is given; these helpers only read it (an empty catalog is not filled
with the demo data, unlike ``run_backtest``).

A job's result is ``<folder>/result.json`` (``BacktestResult.to_dict()``). Inside a notebook
the platform sets ``QUANTDESK_JOBS_DIR`` to a read-only folder holding the caller's finished
jobs, one folder per job id; elsewhere the job folder is found under ``BACKTEST_BASE_DIR``
through ``runs_index/<job_id>.json`` (``quantdesk.jobs.artifacts``), which any local user
who can read that folder may do.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from quantdesk.backtest.result import BacktestResult
from quantdesk.core.errors import DataUnavailable, InvalidArgument, NotFound
from quantdesk.core.instruments import InstrumentType, Market
from quantdesk.core.settings import Settings
from quantdesk.data.catalog import Adjust, Catalog
from quantdesk.data.ids import market_today
from quantdesk.jobs.artifacts import ERROR, RESULT, STATUS

#: The environment variable naming the folder of the caller's finished jobs (notebooks).
JOBS_DIR_ENV = "QUANTDESK_JOBS_DIR"
#: Columns of ``all_instruments``, in order.
INSTRUMENT_COLUMNS = [
    "order_book_id", "symbol", "name", "market", "type", "exchange", "lot_size",
    "listed_date", "delisted_date", "currency", "board_type", "first_bar", "last_bar",
    "bar_count",
]  # fmt: skip
_DATE_COLUMNS = ("listed_date", "delisted_date", "first_bar", "last_bar")
_JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


def get_price(
    order_book_ids: str | Sequence[str],
    start_date: str | dt.date | None = None,
    end_date: str | dt.date | None = None,
    fields: str | Sequence[str] | None = None,
    adjust: str = "pre",
    *,
    catalog: Catalog | None = None,
) -> pd.DataFrame:
    """Daily bars of one or more instruments from the catalog.

    Args:
        order_book_ids: One id (``"AAPL"``) or a list of ids.
        start_date: First date (``YYYY-MM-DD`` or a date), inclusive; default the first bar.
        end_date: Last date, inclusive; default the last bar.
        fields: A column name or a list of them; default every stored column: ``open, high,
            low, close, volume, adj_close``, ``factor`` (with ``pre``) and
            ``limit_up``/``limit_down`` where the data has them.
        adjust: ``pre`` (default): forward ratio-adjusted prices, the last bar as traded
            (``adjusted = traded * factor``, volume divided by it), as ``run_backtest``
            trades them; ``none``: as traded. Price limits stay as traded either way.
        catalog: The catalog to read; default ``Catalog(Settings().data_dir)``.

    Returns:
        For one id given as a string: a frame indexed by ``date`` (``DatetimeIndex``), one
        row per bar. For a list (even of one id): a frame indexed by
        ``(order_book_id, date)``, ids in the order given. Columns as ``fields`` asks (a
        field an instrument lacks is NaN for it). Prices in the instrument's currency.

    Raises:
        InvalidArgument: an unknown field or adjustment, a malformed date, a start after the
            end, no id.
        NotFound: an unknown instrument (the message suggests close ids).
        DataUnavailable: an instrument without stored bars.
    """
    cat = _catalog(catalog)
    mode = _adjust(adjust)
    start, end = _day(start_date, "start_date"), _day(end_date, "end_date")
    if start is not None and end is not None and start > end:
        raise InvalidArgument(f"start_date {start} is after end_date {end}")
    single = isinstance(order_book_ids, str)
    ids = list(dict.fromkeys(_listed(order_book_ids)))
    if not ids:
        raise InvalidArgument("order_book_ids is empty; name at least one instrument")
    frames = {oid: cat.bars_frame(oid, start, end, adjust=mode) for oid in ids}
    columns = _fields(fields, frames)
    if single:
        return frames[ids[0]].reindex(columns=columns)
    return pd.concat(
        {oid: frame.reindex(columns=columns) for oid, frame in frames.items()},
        names=["order_book_id", "date"],
    )


def all_instruments(
    type: str | Sequence[str] | None = None,  # RQData's name, shadowing the builtin here
    market: str | None = None,
    *,
    catalog: Catalog | None = None,
) -> pd.DataFrame:
    """The catalog's instruments, one row each, sorted by ``order_book_id``.

    Args:
        type: Keep these instrument types: ``CS`` (common stock), ``INDX`` (index), ``ETF``
            (a code or a list of codes, any case); default all.
        market: Keep this market: ``us`` or ``cn``; default all.
        catalog: The catalog to read; default ``Catalog(Settings().data_dir)``.

    Returns:
        Columns ``INSTRUMENT_COLUMNS`` (RangeIndex): reference data (``listed_date`` and
        ``delisted_date`` as datetime64, NaT while listed) plus the stored bars' ``first_bar``,
        ``last_bar`` and ``bar_count``. ST periods are left out (``Catalog.instrument(id)``
        has them).

    Raises:
        InvalidArgument: an unknown type or market.
    """
    types = None if type is None else {_choice(t, InstrumentType, "type") for t in _listed(type)}
    wanted = None if market is None else _choice(market, Market, "market")
    rows = [
        {c: row.get(c) for c in INSTRUMENT_COLUMNS}
        for row in _catalog(catalog).stats()
        if (types is None or row["type"] in types) and (wanted is None or row["market"] == wanted)
    ]
    frame = pd.DataFrame(rows, columns=INSTRUMENT_COLUMNS)
    for col in _DATE_COLUMNS:
        frame[col] = pd.to_datetime(frame[col]).astype("datetime64[ns]")
    for col in ("lot_size", "bar_count"):
        frame[col] = frame[col].astype("int64")
    return frame


def index_components(
    order_book_id: str,
    date: str | dt.date | None = None,
    *,
    catalog: Catalog | None = None,
) -> list[str]:
    """The members of an index on ``date`` (default: today where it trades), as RQData's.

    The composition in effect that day: the latest stored one dated on or before it
    (``quantdesk.data.index_members``).

    Raises:
        NotFound: no membership stored for the index.
        DataUnavailable: ``date`` is before its first stored composition.
        InvalidArgument: a malformed date.
    """
    day = _day(date, "date") or market_today(order_book_id)
    comp = _catalog(catalog).memberships.composition_on(order_book_id, day)
    return list(comp.order_book_ids)


def index_weights(
    order_book_id: str,
    date: str | dt.date | None = None,
    *,
    catalog: Catalog | None = None,
) -> pd.Series:
    """The members' weights on ``date`` as fractions of 1, as RQData's ``index_weights``.

    Returns:
        A float Series indexed by ``order_book_id`` (NaN where a member's weight is unknown).

    Raises:
        NotFound, DataUnavailable, InvalidArgument: as ``index_components``; also
        DataUnavailable when the composition in effect has no weights.
    """
    day = _day(date, "date") or market_today(order_book_id)
    comp = _catalog(catalog).memberships.composition_on(order_book_id, day)
    if comp.weights is None:
        raise DataUnavailable(
            f"the composition of {order_book_id} in effect since {comp.date} ({comp.source}) "
            "has no weights"
        )
    values = [float("nan") if w is None else w / 100.0 for w in comp.weights]
    return pd.Series(values, index=pd.Index(comp.order_book_ids, name="order_book_id"),
                     name="weight", dtype="float64")  # fmt: skip


def load_job(job_id: str, *, settings: Settings | None = None) -> BacktestResult:
    """A finished job's result, rebuilt from its ``result.json`` (``BacktestResult.read``).

    Args:
        job_id: The job's id (as the API and the web UI show it).
        settings: Where ``BACKTEST_BASE_DIR`` is, outside a notebook; default ``Settings()``.

    Returns:
        The result, with the frames and summary of the run that produced it.

    Raises:
        InvalidArgument: ``job_id`` is not a job id.
        NotFound: no such job (among the caller's finished jobs, in a notebook), or the job
            has no result (queued, running or failed; the message says which).
        ValueError: ``result.json`` is not a result.
    """
    folder = job_folder(job_id, settings=settings)
    path = folder / RESULT
    if not path.is_file():
        raise NotFound(f"job {job_id} has no result: {_state(folder)}")
    return BacktestResult.read(path)


def job_folder(job_id: str, *, settings: Settings | None = None) -> Path:
    """The folder of job ``job_id``: under ``QUANTDESK_JOBS_DIR``, else ``BACKTEST_BASE_DIR``.

    Raises:
        InvalidArgument: ``job_id`` is not a job id.
        NotFound: no folder for it.
    """
    if not isinstance(job_id, str) or not _JOB_ID.fullmatch(job_id):
        raise InvalidArgument(f"{job_id!r} is not a job id (letters, digits, '-' and '_')")
    jobs_dir = os.environ.get(JOBS_DIR_ENV)
    if jobs_dir:
        folder = Path(jobs_dir) / job_id
        if not folder.is_dir():
            raise NotFound(
                f"job {job_id} is not among your finished jobs ({JOBS_DIR_ENV}={jobs_dir}); "
                "a job shows here once it has finished, and only your own jobs do"
            )
        return folder
    base = (settings or Settings()).backtest_base_dir
    # The index says where the folder is; a folder it lacks is still found by its name.
    candidates = [_indexed(base, job_id), *sorted(base.glob(f"runs/*/{job_id}"))]
    for candidate in candidates:
        if candidate is not None and candidate.is_dir():
            return candidate
    raise NotFound(
        f"no job {job_id} under {base} (BACKTEST_BASE_DIR); check the id, or set "
        f"BACKTEST_BASE_DIR to the platform's folder"
    )


def _indexed(base: Path, job_id: str) -> Path | None:
    """The folder ``runs_index/<job_id>.json`` points to, if it is inside ``base``."""
    try:
        entry = json.loads((base / "runs_index" / f"{job_id}.json").read_text(encoding="utf-8"))
        relative = Path(str(entry["run_dir"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if relative.is_absolute() or ".." in relative.parts:
        return None
    return base / relative


def _state(folder: Path) -> str:
    """What a folder without a result says about its job (``status.json``, ``error.json``)."""
    status = _json(folder / STATUS)
    error = _json(folder / ERROR)
    state = str(status.get("status", "")).lower() if isinstance(status, dict) else ""
    if isinstance(error, dict) and error.get("code"):
        return f"it failed ({error['code']}: {error.get('message') or 'no message'})"
    if state in ("queued", "running"):
        return f"it is {state}; try again once it has finished"
    if state == "cancelled":
        return "it was cancelled"
    return f"status {state or 'unknown'}, and no {RESULT} in {folder}"


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _catalog(catalog: Catalog | None) -> Catalog:
    return catalog if catalog is not None else Catalog(Settings().data_dir)


def _adjust(adjust: str) -> Adjust:
    try:
        return Adjust(str(adjust).lower())
    except ValueError:
        choices = ", ".join(a.value for a in Adjust)
        raise InvalidArgument(f"adjust {adjust!r} is not one of {choices}") from None


def _day(value: str | dt.date | None, name: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return pd.Timestamp(value).date()
    except (TypeError, ValueError):
        raise InvalidArgument(f"{name} {value!r} is not a date (YYYY-MM-DD)") from None


def _fields(fields: str | Sequence[str] | None, frames: dict[str, pd.DataFrame]) -> list[str]:
    available = list(dict.fromkeys(c for frame in frames.values() for c in frame.columns))
    if fields is None:
        return available
    wanted = _listed(fields)
    unknown = [f for f in wanted if f not in available]
    if unknown or not wanted:
        # RQData's fourth argument is the frequency; the catalog holds daily bars only.
        hint = " (there is no frequency argument: bars are daily)" if "1d" in unknown else ""
        raise InvalidArgument(f"unknown fields {unknown}; available: {', '.join(available)}{hint}")
    return wanted


def _listed(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _choice(value: str, kind: type[InstrumentType] | type[Market], name: str) -> str:
    for member in kind:
        if member.value.lower() == str(value).lower():
            return member.value
    choices = ", ".join(m.value for m in kind)
    raise InvalidArgument(f"{name} {value!r} is not one of {choices}")
