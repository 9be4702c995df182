"""What every engine takes and gives.

``PreparedBacktest`` (a validated request) and ``EngineRun`` (what an engine produced), below
the dispatcher (``backtest/engines``) and ``run_backtest`` (``backtest/run.py``), so neither
imports the other's module to name them.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from quantdesk.core.errors import InvalidArgument, describe_validation_errors
from quantdesk.data.bar_source import CatalogBarSource
from quantdesk.data.catalog import Adjust, Catalog
from quantdesk.engine import MAX_AMOUNT, BarSource, EngineConfig, EngineResult, MarketName, Matching

ProgressCallback = Callable[[int, int], None]
LogSink = Callable[[str], None]
#: ``(session date, NAV)`` after each session (the native engine; others do not call it).
SessionCallback = Callable[[dt.date, float], None]


class Frequency(StrEnum):
    """Bar frequencies an engine can run (``BACKTEST_ALLOWED_FREQUENCIES`` narrows them)."""

    DAILY = "1d"


class EngineName(StrEnum):
    """The engine a run asks for.

    ``auto`` picks ``backtrader`` for code defining a ``backtrader.Strategy`` subclass, else
    ``native``.
    """

    AUTO = "auto"
    NATIVE = "native"
    RQALPHA = "rqalpha"
    BACKTRADER = "backtrader"


#: What each closed field accepts, as its error message says it (``{input}``: the value).
_CLOSED: dict[str, tuple[type[StrEnum], str]] = {
    "frequency": (Frequency, "frequency must be one of 1d, got {input}"),
    "market": (MarketName, "unknown market {input}; choose one of us_stock, cn_stock"),
    "matching": (Matching, "unknown matching {input}; use current_bar or next_bar"),
    "adjust": (Adjust, "unknown adjust {input}; use none or pre"),
    "engine": (
        EngineName, "unknown engine {input}; choose one of auto, native, rqalpha, backtrader"
    ),
}  # fmt: skip


def _name(info: ValidationInfo) -> str:
    """The field's name as the caller spells it.

    ``run_backtest`` says ``start``, not ``start_date``: the validation context's ``names``
    maps the spec's names to the caller's.
    """
    field_name = info.field_name or ""
    names = (info.context or {}).get("names", {})
    return str(names.get(field_name, field_name))


class BacktestSpec(BaseModel):
    """The inputs of one backtest run, validated and frozen.

    Dates are sessions (``YYYY-MM-DD`` on the wire), money is in the market's currency and
    rates are fractions. ``benchmark``: ``None`` for the market's default (``SPX`` /
    ``000300.XSHG``), ``"none"`` for no benchmark. ``universe``: ``None`` (or empty) for every
    stock of the market with bars in the window. ``market``: ``None`` follows the instruments
    named (``backtest.run.infer_market``); ``prepare`` resolves it.

    ``BacktestSpec.of(...)`` builds one from Python values and raises ``InvalidArgument``;
    ``model_validate`` raises pydantic's ``ValidationError`` (the API turns it into 400).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    start_date: dt.date = Field(description="first session, YYYY-MM-DD", examples=["2005-01-03"])
    end_date: dt.date = Field(
        description="last session (inclusive), YYYY-MM-DD, >= start_date", examples=["2012-12-31"]
    )
    cash: float = Field(
        100_000.0, gt=0, le=MAX_AMOUNT, allow_inf_nan=False,
        description="starting cash in the market's currency",
    )  # fmt: skip
    benchmark: str | None = Field(
        None, description="benchmark order_book_id; default per market, 'none' for none"
    )
    frequency: Frequency = Field(
        Frequency.DAILY, description="bar frequency, one of BACKTEST_ALLOWED_FREQUENCIES"
    )
    universe: tuple[str, ...] | None = Field(
        None, description="order_book_ids for handle_bar; default every stock of the market"
    )
    market: MarketName | None = Field(
        None,
        description="market rules and default costs; default: the market of the universe and "
        "benchmark (cn_stock for .XSHG/.XSHE ids), else us_stock",
    )
    matching: Matching = Field(
        Matching.CURRENT_BAR, description="fill at this bar's close or the next bar's open"
    )
    adjust: Adjust = Field(Adjust.PRE, description="pre (split/dividend adjusted) or none")
    commission: float | None = Field(
        None, ge=0, lt=1, allow_inf_nan=False, description="commission rate per side"
    )
    min_commission: float | None = Field(
        None, ge=0, le=MAX_AMOUNT, allow_inf_nan=False,
        description="minimum commission per order",
    )  # fmt: skip
    tax: float | None = Field(
        None, ge=0, lt=1, allow_inf_nan=False, description="sell-side tax rate"
    )
    slippage: float | None = Field(
        None, ge=0, lt=1, allow_inf_nan=False, description="slippage price ratio"
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="strategy parameters (checked against PARAMS)"
    )
    engine: EngineName = Field(
        EngineName.AUTO,
        description="native | rqalpha | backtrader; auto: backtrader for code defining a "
        "backtrader.Strategy subclass, else native",
    )
    risk_free_rate: float = Field(
        0.0, ge=-1, le=1, allow_inf_nan=False,
        description="annual risk-free rate for Sharpe, Sortino and alpha (fraction)",
    )  # fmt: skip

    #: ``run_backtest``'s names for the spec's fields, used in its error messages.
    PYTHON_NAMES: ClassVar[dict[str, str]] = {"start_date": "start", "end_date": "end"}

    @field_validator("start_date", "end_date", mode="before")
    @classmethod
    def _session(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        text = value.strip() if isinstance(value, str) else None
        try:
            if text is not None and len(text) == 10:
                return dt.date.fromisoformat(text)
        except ValueError:
            pass
        raise PydanticCustomError(
            "date_format", "{name} must be a date as YYYY-MM-DD, got {input}",
            {"name": _name(info), "input": repr(value)},
        )  # fmt: skip

    @field_validator("cash", mode="before")
    @classmethod
    def _cash(cls, value: Any, info: ValidationInfo) -> Any:
        if not (info.context or {}).get("names"):
            return value  # the HTTP body: pydantic's own messages, as the contract tests know
        number = value
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                number = None
        if (
            isinstance(number, bool)
            or not isinstance(number, int | float)
            or not math.isfinite(number)
            or not 0 < number <= MAX_AMOUNT
        ):
            raise PydanticCustomError(
                "cash_range", "cash must be a positive number up to {max}, got {input}",
                {"max": f"{MAX_AMOUNT:g}", "input": repr(value)},
            )  # fmt: skip
        return number

    @field_validator(*_CLOSED, mode="before")
    @classmethod
    def _closed(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name == "market":
            return None  # follows the instruments (``prepare``)
        enum, message = _CLOSED[info.field_name or ""]
        key = value.strip().lower() if isinstance(value, str) else value
        try:
            return enum(key)
        except ValueError:
            raise PydanticCustomError("enum", message, {"input": repr(value)}) from None

    @field_validator("universe", mode="before")
    @classmethod
    def _ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, Sequence) and not isinstance(value, str | bytes):
            items = [str(i).strip() if isinstance(i, str) else i for i in value]
            return tuple(dict.fromkeys(i for i in items if i != ""))
        return value

    @field_validator("benchmark", mode="before")
    @classmethod
    def _benchmark(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _window(self, info: ValidationInfo) -> Self:
        if self.end_date < self.start_date:
            names = (info.context or {}).get("names", {})
            start = names.get("start_date", "start_date")
            end = names.get("end_date", "end_date")
            raise PydanticCustomError(
                "date_order", "{end} must be on or after {start} ({end_date} < {start_date})",
                {"end": end, "start": start, "end_date": str(self.end_date),
                 "start_date": str(self.start_date)},
            )  # fmt: skip
        return self

    @classmethod
    def of(cls, names: Mapping[str, str] | None = None, **fields: Any) -> Self:
        """Validate ``fields`` into a spec.

        Args:
            names: How the caller spells the fields in messages (default the spec's names).
            **fields: The spec's fields; ``None`` for an optional one means its default.

        Raises:
            InvalidArgument: naming every field that is wrong and what it accepts.
        """
        given = {k: v for k, v in fields.items() if v is not None or k == "benchmark"}
        try:
            return cls.model_validate(given, context={"names": dict(names or {})})
        except ValidationError as exc:
            raise InvalidArgument(describe_validation_errors(exc.errors(), names)) from None


@dataclass
class EngineRun:
    """What one engine produced.

    Attributes:
        raw: The engine-neutral columns (see ``quantdesk.engine.EngineResult``).
        engine: ``native``, ``rqalpha`` or ``backtrader``.
        engine_version: The engine's package version, e.g. ``"6.4.2"``.
        reference: The engine's own summary where it computes one (RQAlpha's ``summary``),
            kept beside ours for cross-checks; ``None`` otherwise.
        artifacts: Extra files the engine wrote into the work directory (names).
        data_bundle: The RQAlpha bundle the run read (``RQALPHA_BUNDLE_PATH``) or
            ``"catalog"`` (built from the catalog for the run); ``None`` for other engines.
    """

    raw: EngineResult
    engine: str
    engine_version: str
    reference: dict[str, Any] | None = None
    artifacts: list[str] = field(default_factory=list)
    data_bundle: str | None = None


@dataclass(frozen=True)
class PreparedBacktest:
    """A spec checked against the catalog.

    The strategy text, the catalog, the engine's configuration and the resolved spec (its
    universe, benchmark and engine as they will run); ``engine`` is never ``auto``. ``notes``:
    log lines about the preparation (the file's ``__config__``), ``"LEVEL message"``.
    """

    source: str
    filename: str
    name: str
    catalog: Catalog
    config: EngineConfig
    spec: BacktestSpec
    engine: str = "native"
    rqalpha_command: str | None = None
    rqalpha_bundle: str | None = None
    bars: BarSource | None = None
    notes: tuple[str, ...] = ()

    @property
    def adjust(self) -> Adjust:
        """The price adjustment the bars are read with."""
        return self.spec.adjust

    @property
    def frequency(self) -> str:
        """The bar frequency (``1d``)."""
        return str(self.spec.frequency)

    def bar_source(self) -> BarSource:
        """The bars every engine reads.

        ``bars`` if set (tests), else the catalog's ``adjust`` view.
        """
        return self.bars if self.bars is not None else CatalogBarSource(self.catalog, self.adjust)
