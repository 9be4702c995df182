"""What ``UserService`` and ``AuthService`` answer: users, API keys and revocations."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

from quantdesk.core.clock import iso_utc
from quantdesk.storage.models import UserRow


class Role(StrEnum):
    """What a user may do: everything, their own research, or only read."""

    ADMIN = "admin"
    RESEARCHER = "researcher"
    VIEWER = "viewer"


class UserView(BaseModel):
    """A user as the API shows it (never the password hash): ``GET /api/me``, admin routes."""

    userid: int
    mobile: str
    role: Role = Field(description="admin, researcher or viewer")
    is_admin: bool
    disabled: bool
    created_at: str | None = Field(description="ISO 8601 UTC")

    @classmethod
    def of(cls, row: UserRow) -> UserView:
        """The view of the user ``row``."""
        return cls(userid=row.id, mobile=row.mobile, role=Role(row.role), is_admin=row.is_admin,
                   disabled=row.disabled, created_at=iso_utc(row.created_at))  # fmt: skip


class UserList(BaseModel):
    """``GET /api/admin/users``."""

    users: list[UserView]
    total: int


class ApiKeyView(BaseModel):
    """An API key without its secret, in ``GET /api/keys``."""

    key: str = Field(description="send as X-API-Key")
    name: str
    created_at: str | None = Field(description="ISO 8601 UTC")
    last_used_at: str | None = Field(description="ISO 8601 UTC; null if never used")


class ApiKeyList(BaseModel):
    """``GET /api/keys``."""

    keys: list[ApiKeyView]
    total: int


class NewApiKey(BaseModel):
    """``POST /api/keys``: the secret is shown this once."""

    key: str
    secret: str = Field(description="send as X-API-Secret; never shown again")
    name: str
    created_at: str = Field(description="ISO 8601 UTC")


class KeyDeleted(BaseModel):
    """``DELETE /api/keys/{key}``."""

    key: str
    deleted: bool


class TokensRevoked(BaseModel):
    """``POST /api/logout-all``."""

    userid: int
    tokens_revoked: bool
