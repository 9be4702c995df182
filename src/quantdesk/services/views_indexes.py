"""Response models of the index-membership routes (``/api/data/indexes``)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class IndexSummaryView(BaseModel):
    """One index with stored membership."""

    index_id: str = Field(description="the index's order_book_id, e.g. 000300.XSHG")
    name: str | None = Field(description="its name when the catalog has the index's bars")
    first_date: str = Field(description="its first composition's date: nothing known before")
    last_date: str = Field(description="its latest composition's date, in effect since")
    compositions: int
    members: int = Field(description="members of the latest composition")
    weights: bool = Field(description="the latest composition has weights")
    sources: list[str]


class IndexList(BaseModel):
    """``data`` of ``GET /api/data/indexes``."""

    indexes: list[IndexSummaryView]


class IndexComponents(BaseModel):
    """``data`` of ``GET /api/data/indexes/{index_id}/components``: the members on a day."""

    index_id: str
    date: str = Field(description="the day asked for (default: today)")
    effective_date: str = Field(description="the date of the composition in effect that day")
    source: str
    order_book_ids: list[str] = Field(description="the members, sorted")
    weights: list[float | None] | None = Field(
        description="each member's weight in percent (same order); null when none were given"
    )
    not_in_catalog: list[str] = Field(
        description="members the catalog has no instrument for (a backtest cannot trade them)"
    )


class IndexChange(BaseModel):
    """One composition against the one before it."""

    date: str
    members: int
    added: list[str]
    removed: list[str]
    source: str


class IndexChanges(BaseModel):
    """``data`` of ``GET /api/data/indexes/{index_id}/changes``."""

    index_id: str
    changes: list[IndexChange]


class IndexSpell(BaseModel):
    """A stay of one member in the index: ``end`` its last day, null while it stays."""

    order_book_id: str
    start: str
    end: str | None


class IndexSpells(BaseModel):
    """``data`` of ``GET /api/data/indexes/{index_id}/spells``: membership over time."""

    index_id: str
    spells: list[IndexSpell]


class RejectedLine(BaseModel):
    """A row of a membership file that was rejected (``line`` 0: a rule across rows)."""

    line: int
    reason: str


class ImportedIndex(BaseModel):
    """What an import wrote (or would write) for one index."""

    index_id: str
    compositions: int
    added: int = Field(description="compositions new to the catalog")
    replaced: int = Field(description="compositions replacing one of the same date")
    first: str
    last: str
    members_latest: int


class IndexUploadResult(BaseModel):
    """``data`` of ``POST /api/data/indexes/import``: the report of a membership file."""

    format: str = Field(description="csv or parquet")
    columns: list[str]
    mapping: dict[str, str] = Field(description="{column: file column} as applied")
    layout: str = Field(
        description="compositions (index_id, date, order_book_id[, weight]) "
        "or spells (index_id, order_book_id, start_date[, end_date])"
    )
    dry_run: bool
    committed: bool
    refused: str | None
    rows_in: int
    rows_accepted: int
    rejected_total: int
    rejected: list[RejectedLine] = Field(description="the first 200")
    indexes: list[ImportedIndex]
