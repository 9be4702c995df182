"""Request bodies, checked by the services' own rules, in their order and with their messages.

Each body's ``_rules`` applies those rules to the raw body and raises the first failure, so an
API answer is the one the service gave when it read the body itself; the fields' types and
bounds then describe the body in the OpenAPI schema. A rule's message names its field (the
API's 400 shows it as is). An error of type ``UNPROCESSABLE`` answers 422 instead of 400: the
rename endpoints' contract for a missing or invalid id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from quantdesk.core.errors import InvalidArgument
from quantdesk.services.auth import MIN_PASSWORD, check_new_password
from quantdesk.services.strategies import check_strategy_id, check_template
from quantdesk.services.views_users import Role

#: The ``type`` of a body error that answers 422 ``UNPROCESSABLE_ENTITY``.
UNPROCESSABLE = "unprocessable"
_STRATEGY_ID = "1-64 chars: CJK, letters, digits, _ or -"
_MAX_MOBILE = 64


def _rule(check: Callable[..., Any], *args: Any, error_type: str = "invalid") -> Any:
    """``check(*args)``, its ``InvalidArgument`` raised as a validation error of that type."""
    try:
        return check(*args)
    except InvalidArgument as exc:
        raise PydanticCustomError(error_type, exc.message) from None


def _fail(error_type: str, message: str) -> NoReturn:
    raise PydanticCustomError(error_type, message)


def _object(data: Any) -> dict[str, Any]:
    """``data`` if it is a JSON object (the message of the bodies that were plain dicts)."""
    if not isinstance(data, dict):
        _fail("dict_type", "Input should be a valid dictionary")
    return data


def _check_code(value: object) -> None:
    if value is not None and not isinstance(value, str):
        _fail("string_type", "code must be a string")


def _check_role(value: object) -> None:
    if value not in [role.value for role in Role]:
        _fail("enum", f"role must be one of {', '.join(Role)}")


class FromTemplate(BaseModel):
    """``POST /api/backtest/strategies/{strategy_id}/from-template``."""

    template: str = Field(description="a template id (GET /api/backtest/templates)")

    @model_validator(mode="before")
    @classmethod
    def _rules(cls, data: Any) -> Any:
        _rule(check_template, _object(data).get("template"))
        return data


class RenameStrategy(BaseModel):
    """``POST /api/backtest/strategies/{from_id}/rename`` (§2.1)."""

    to_id: str = Field(description=_STRATEGY_ID)
    code: str | None = Field(None, description="the code of the new id (default: the old code)")

    @model_validator(mode="before")
    @classmethod
    def _rules(cls, data: Any) -> Any:
        _rule(check_strategy_id, _object(data).get("to_id"), "to_id", error_type=UNPROCESSABLE)
        _check_code(data.get("code"))
        return data


class AddRename(BaseModel):
    """``POST /api/backtest/strategy-renames`` (§2.2): record ``from_id -> to_id``."""

    from_id: str = Field(description=_STRATEGY_ID)
    to_id: str = Field(description=_STRATEGY_ID)

    @model_validator(mode="before")
    @classmethod
    def _rules(cls, data: Any) -> Any:
        for name in ("from_id", "to_id"):
            _rule(check_strategy_id, _object(data).get(name), name, error_type=UNPROCESSABLE)
        return data


class CompileRequest(BaseModel):
    """``POST /api/backtest/strategies/{strategy_id}/compile`` (§3)."""

    code: str | None = Field(None, description="the code to check; blank: the saved code")

    @model_validator(mode="before")
    @classmethod
    def _rules(cls, data: Any) -> Any:
        _check_code(_object(data).get("code"))
        return data


class NewUser(BaseModel):
    """``POST /api/admin/users``."""

    mobile: str = Field(min_length=1, max_length=_MAX_MOBILE, description="the login")
    password: str = Field(min_length=MIN_PASSWORD)
    role: Role = Role.RESEARCHER

    @model_validator(mode="before")
    @classmethod
    def _rules(cls, data: Any) -> Any:
        """The rules; ``mobile`` is stripped, and a null or empty ``role`` is a researcher."""
        mobile = _object(data).get("mobile")
        if not isinstance(mobile, str) or not mobile.strip() or len(mobile) > _MAX_MOBILE:
            _fail("mobile", f"mobile is required (at most {_MAX_MOBILE} characters)")
        role = data.get("role") or Role.RESEARCHER.value
        _check_role(role)
        _rule(check_new_password, data.get("password"))
        return {**data, "mobile": mobile.strip(), "role": role}


class UserChanges(BaseModel):
    """``PATCH /api/admin/users/{userid}``: the fields to change (absent: unchanged)."""

    model_config = ConfigDict(extra="forbid")

    disabled: bool | SkipJsonSchema[None] = None
    role: Role | SkipJsonSchema[None] = None
    password: str | SkipJsonSchema[None] = Field(None, min_length=MIN_PASSWORD)

    @model_validator(mode="before")
    @classmethod
    def _rules(cls, data: Any) -> Any:
        """The rules: a field that is given must hold a value (``null`` is refused)."""
        unknown = set(_object(data)) - set(cls.model_fields)
        if unknown:
            _fail("extra_forbidden", f"unknown field(s): {', '.join(sorted(unknown))}")
        if "password" in data:
            _rule(check_new_password, data["password"])
        if "disabled" in data and not isinstance(data["disabled"], bool):
            _fail("bool_type", "disabled must be true or false")
        if "role" in data:
            _check_role(data["role"])
        return data


class PasswordChange(BaseModel):
    """``POST /api/me/password``."""

    current_password: str = Field(min_length=1)
    new_password: str = Field(min_length=MIN_PASSWORD)

    @model_validator(mode="before")
    @classmethod
    def _rules(cls, data: Any) -> Any:
        current = _object(data).get("current_password")
        if not isinstance(current, str) or not current:
            _fail("missing", "current_password is required")
        _rule(check_new_password, data.get("new_password"))
        return data


class NewKey(BaseModel):
    """``POST /api/keys``."""

    name: str = Field("", description="a label (at most 128 characters are kept)")

    @model_validator(mode="before")
    @classmethod
    def _rules(cls, data: Any) -> Any:
        """A ``name`` that is not a string is no name (as the contract has it)."""
        if not isinstance(_object(data).get("name"), str):
            return {**data, "name": ""}
        return data


class JobAnnotation(BaseModel):
    """``PATCH /api/backtest/jobs/{job_id}``: the run's ``title`` and/or ``notes``."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, max_length=200, description="one line (at most 200 chars)")
    notes: str | None = Field(None, max_length=20_000, description="free text (20,000 chars)")

    @field_validator("title", mode="after")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        if value is not None and ("\n" in value or "\r" in value):
            raise PydanticCustomError("title_lines", "title must be one line")
        return value.strip() if value is not None else None
