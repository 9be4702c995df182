"""What ``ResearchService`` takes and answers: the contract's ``Research`` and ``session``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import PurePosixPath

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

#: Placeholder paths that mean "the default notebook" (``<id>.ipynb``), as in the contract.
PLACEHOLDER_PATHS = frozenset({"research/notebooks/workbench.ipynb", "workbench.ipynb"})


class Kernel(StrEnum):
    """The Jupyter kernels a research item's session can start."""

    PYTHON3 = "python3"


#: Kernels a session can start (their names, as the contract spells them).
KERNELS = tuple(str(kernel) for kernel in Kernel)


class ItemStatus(StrEnum):
    """A research item's state."""

    ACTIVE = "ACTIVE"
    ARCHIVED = "ARCHIVED"


class SessionStatus(StrEnum):
    """A notebook session's state: ``RUNNING`` until stopped, expired or failed."""

    STARTING = "STARTING"
    RUNNING = "RUNNING"
    STOPPED = "STOPPED"
    EXPIRED = "EXPIRED"
    FAILED = "FAILED"


def check_notebook_path(value: str) -> str:
    """``value`` if it is a safe relative ``.ipynb`` path (normalized), else ``ValueError``.

    Relative, no ``..``, no hidden or empty parts, at most 255 characters, printable.
    """
    text = value.strip().replace("\\", "/")
    path = PurePosixPath(text)
    if not text or len(text) > 255 or path.is_absolute() or text.startswith("~"):
        raise ValueError("notebook_path must be a relative path of at most 255 characters")
    if any(part in ("", ".", "..") or part.startswith(".") for part in path.parts):
        raise ValueError("notebook_path may not contain '..' or hidden (dot) folders")
    if not text.isprintable() or any(c in text for c in ':*?"<>|'):
        raise ValueError("notebook_path contains characters a file name cannot have")
    if path.suffix != ".ipynb":
        raise ValueError("notebook_path must end in .ipynb")
    return str(path)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("notebook_path", check_fields=False)
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is None or not value.strip() or value.strip() in PLACEHOLDER_PATHS:
            return None  # the default: <id>.ipynb
        return check_notebook_path(value)

    @field_validator("kernel", mode="before", check_fields=False)
    @classmethod
    def _kernel(cls, value: object) -> object:
        """A kernel name (stripped) of ``KERNELS``, with the messages of a ``str`` field.

        Raises:
            PydanticCustomError: not a string (``string_type``).
            ValueError: a string that names no kernel.
        """
        if value is None:
            return None
        if not isinstance(value, str):
            raise PydanticCustomError("string_type", "Input should be a valid string")
        if value.strip() not in KERNELS:
            raise ValueError(f"kernel must be one of {', '.join(KERNELS)}")
        return value.strip()

    @field_validator("tags", check_fields=False)
    @classmethod
    def _tags(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        tags = list(dict.fromkeys(t.strip() for t in value if t.strip()))
        if len(tags) > 32 or any(len(t) > 64 for t in tags):
            raise ValueError("at most 32 tags of at most 64 characters")
        return tags


class ResearchCreate(_Body):
    """``POST /api/research/items``: ``id`` (optional: made from the title), the rest optional."""

    id: str | None = Field(None, description="1-64 chars: CJK, letters, digits, _ or -")
    title: str | None = Field(None, max_length=200)
    description: str = Field("", max_length=20_000)
    notebook_path: str | None = Field(None, description="relative .ipynb path; default <id>.ipynb")
    kernel: Kernel | None = Field(None, description="python3")
    status: ItemStatus = ItemStatus.ACTIVE
    tags: list[str] | None = None


class ResearchUpdate(_Body):
    """``PUT /api/research/items/{id}``: the fields to change (the id never changes)."""

    title: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=20_000)
    notebook_path: str | None = None
    kernel: Kernel | None = None
    status: ItemStatus | None = None
    tags: list[str] | None = None


class Research(BaseModel):
    """The contract's ``Research`` shape."""

    id: str
    title: str
    description: str
    notebook_path: str
    kernel: Kernel
    status: ItemStatus
    session_status: SessionStatus | None = Field(description="null without a session")
    tags: list[str]
    created_at: str = Field(description="ISO 8601 UTC")
    updated_at: str = Field(description="ISO 8601 UTC")


class ResearchList(BaseModel):
    """``GET /api/research/items``."""

    items: list[Research]
    total: int


class ResearchDeleted(BaseModel):
    """``DELETE /api/research/items/{id}`` (the notebook file is kept)."""

    id: str
    deleted: bool = True


class NotebookSession(BaseModel):
    """The contract's ``session`` shape."""

    session_id: str
    notebook_url: str = Field(description="same-origin URL of the notebook in JupyterLab")
    embed_url: str = Field(description="the URL to put in an iframe")
    status: SessionStatus
    started_at: str
    last_active_at: str
    expires_at: str


class SessionEnvelope(BaseModel):
    """``{"session": ...}`` (``null`` when the item has none)."""

    session: NotebookSession | None
