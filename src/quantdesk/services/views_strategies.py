"""What ``StrategyService`` answers: strategies, their versions, templates and renames."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ParamSpec(BaseModel):
    """One parameter of a strategy, template or version (read statically from ``PARAMS``)."""

    name: str
    type: str = Field(description="int, float, bool, str, list or any")
    default: Any = None

    @classmethod
    def of(cls, schema: list[dict[str, Any]]) -> list[ParamSpec]:
        """``params_schema(code)`` as models."""
        return [cls.model_validate(entry) for entry in schema]


class StrategyMeta(BaseModel):
    """One strategy in ``GET /api/backtest/strategies``; the answer of a save."""

    id: str
    name: str = ""
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    version: int = Field(0, description="number of the latest saved version")
    created_at: str | None = Field(description="ISO 8601 UTC; null for legacy files")
    updated_at: str | None
    size: int = Field(description="bytes of code")


class StrategyList(BaseModel):
    """``GET /api/backtest/strategies``."""

    strategies: list[StrategyMeta]
    total: int


class Strategy(StrategyMeta):
    """``GET /api/backtest/strategies/{id}``."""

    code: str
    params_schema: list[ParamSpec] = Field(default_factory=list)


class StrategyParams(BaseModel):
    """``GET /api/backtest/strategies/{id}/params``: the parameter schema of the saved code."""

    strategy_id: str = Field(description="the strategy's current id (an old id is resolved)")
    params: list[ParamSpec] = Field(description="``PARAMS`` entries in order, read statically")


class VersionInfo(BaseModel):
    """One saved version of a strategy's code (without the code)."""

    version: int
    created_at: str | None = Field(description="ISO 8601 UTC")
    size: int = Field(description="bytes of code")
    sha256: str


class StrategyVersions(BaseModel):
    """``GET /api/backtest/strategies/{strategy_id}/versions``: newest first."""

    strategy_id: str
    versions: list[VersionInfo]


class StrategyVersion(BaseModel):
    """``GET /api/backtest/strategies/{strategy_id}/versions/{version}``."""

    strategy_id: str
    version: int
    code: str
    created_at: str | None = Field(description="ISO 8601 UTC")
    size: int = Field(description="bytes of code")
    params_schema: list[ParamSpec]


class Template(BaseModel):
    """A bundled example strategy, in ``GET /api/backtest/templates``."""

    id: str
    description: str
    params_schema: list[ParamSpec]
    code: str


class TemplateList(BaseModel):
    """``GET /api/backtest/templates``."""

    templates: list[Template]


class RenameMap(BaseModel):
    """``GET`` and ``POST /api/backtest/strategy-renames`` (§2.2): old id → current id."""

    map: dict[str, str]


class Renamed(BaseModel):
    """``POST /api/backtest/strategies/{from_id}/rename`` (§2.1)."""

    from_id: str
    to_id: str
    deleted_old: bool
    warning: str = Field(description="empty, or why nothing moved (noop: ...)")
