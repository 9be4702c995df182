"""The typed boundary: services answer models, bodies are models that keep the contract's
messages, services never write ORM rows, and the schema describes every JSON answer."""

from __future__ import annotations

import ast
import inspect
import typing
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError

from quantdesk.api import create_app
from quantdesk.core.errors import describe_validation_errors
from quantdesk.services import bodies
from quantdesk.services.auth import AuthService
from quantdesk.services.backtests import BacktestService
from quantdesk.services.compile import CompileService
from quantdesk.services.data import DataService
from quantdesk.services.events import EventLog, Hub, ProcessMonitor
from quantdesk.services.events.frames import SERVER_FRAME
from quantdesk.services.jobs import JobService
from quantdesk.services.platform import Platform
from quantdesk.services.research import ResearchService
from quantdesk.services.strategies import StrategyService
from quantdesk.services.users import UserService

SERVICES = [AuthService, BacktestService, CompileService, DataService, EventLog, Hub, JobService,
            ProcessMonitor, ResearchService, StrategyService, UserService]  # fmt: skip
SERVICES_DIR = Path(bodies.__file__).parent


def _loose(annotation: Any) -> bool:
    """Whether a type is or holds ``Any`` or a dict of ``Any`` (an untyped answer)."""
    if annotation is Any:
        return True
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is dict and args and args[-1] is Any:
        return True
    return any(_loose(arg) for arg in args)


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.__name__)
def test_every_public_service_method_answers_typed_values(service: type) -> None:
    loose = []
    for name, method in inspect.getmembers(service, inspect.isfunction):
        if name.startswith("_"):
            continue
        answer = typing.get_type_hints(method)["return"]
        if _loose(answer):
            loose.append(f"{name} -> {answer}")
    assert not loose, loose


def _assigned(target: ast.expr) -> list[ast.expr]:
    """What an assignment target binds (the items of ``a, b = ...``)."""
    if isinstance(target, ast.Tuple | ast.List):
        return [t for item in target.elts for t in _assigned(item)]
    return [target.value] if isinstance(target, ast.Starred) else [target]


def _service_files() -> list[Path]:
    """Every module of ``quantdesk.services``, its subpackages (``services/events``) included."""
    return sorted(SERVICES_DIR.rglob("*.py"))


def _where(path: Path, node: ast.expr | ast.stmt) -> str:
    return f"{path.relative_to(SERVICES_DIR)}:{node.lineno}"


def test_services_never_assign_attributes_of_rows() -> None:
    """Writes to ORM rows belong to ``quantdesk.storage``; services only set their own state.

    The top-level service modules only: ``services/events`` keeps in-memory state objects of
    its own (the hub's channel buffers), which this syntactic check cannot tell from rows;
    it holds no rows (``test_services_never_build_rows_or_use_the_session`` covers it).
    """
    found = []
    for path in sorted(SERVICES_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = [t for target in node.targets for t in _assigned(target)]
            elif isinstance(node, ast.AugAssign | ast.AnnAssign):
                targets = [node.target]
            elif isinstance(node, ast.Call) and ast.unparse(node.func) == "setattr":
                found.append(f"{_where(path, node)} setattr")
            for target in targets:
                owner = target.value if isinstance(target, ast.Attribute) else None
                if not (isinstance(owner, ast.Name) and owner.id in ("self", "cls")) and owner:
                    found.append(f"{_where(path, target)} {ast.unparse(target)}")
    assert not found, found


#: What a database session does that only ``quantdesk.storage`` may ask of it.
SESSION_VERBS = frozenset({"add", "add_all", "delete", "merge", "execute", "scalar", "scalars",
                           "get", "flush", "query", "refresh"})  # fmt: skip


def test_services_never_build_rows_or_use_the_session() -> None:
    """Rows are built and queried in ``quantdesk.storage``: services hand it plain values.

    A service fails this with a ``*Row(...)`` constructor (``ResearchItemRow(...)``,
    ``models.JobRow(...)``) or a call such as ``session.add(row)`` on its database session.
    """
    found = []
    for path in _service_files():
        tree = ast.parse(path.read_text())
        # the names a database session is bound to (``with self._db.write() as session``)
        sessions = {"session"} | {
            item.optional_vars.id for node in ast.walk(tree) if isinstance(node, ast.With)
            for item in node.items if isinstance(item.optional_vars, ast.Name)
            and ast.unparse(item.context_expr).endswith((".read()", ".write()"))
        }  # fmt: skip
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            receiver = func.value if isinstance(func, ast.Attribute) else None
            on_session = (isinstance(receiver, ast.Name) and receiver.id in sessions
                          and name in SESSION_VERBS)  # fmt: skip
            if name.endswith("Row") or on_session:
                found.append(f"{_where(path, node)} {ast.unparse(func)}(...)")
    assert not found, found


def _message(model: type[BaseModel], body: object) -> tuple[str, str]:
    with pytest.raises(ValidationError) as info:
        model.model_validate(body)
    errors = info.value.errors()
    return errors[0]["type"], describe_validation_errors(errors)


@pytest.mark.parametrize(
    ("model", "body", "error_type", "message"),
    [
        (bodies.RenameStrategy, {}, "unprocessable", "to_id is required"),
        (bodies.RenameStrategy, {"to_id": 5}, "unprocessable", "to_id is required"),
        (bodies.RenameStrategy, {"to_id": "x" * 65}, "unprocessable",
         "to_id must be at most 64 characters"),
        (bodies.RenameStrategy, {"to_id": "a", "code": 3}, "string_type", "code must be a string"),
        (bodies.AddRename, {"to_id": "a"}, "unprocessable", "from_id is required"),
        (bodies.AddRename, {"from_id": "a", "to_id": "b c"}, "unprocessable",
         "to_id contains invalid characters (allowed: CJK, letters, digits, _ and -)"),
        (bodies.FromTemplate, {}, "invalid", "unknown template None; templates: "),
        (bodies.CompileRequest, {"code": 5}, "string_type", "code must be a string"),
        (bodies.NewUser, {}, "mobile", "mobile is required (at most 64 characters)"),
        (bodies.NewUser, {"mobile": "1", "password": "password-1", "role": "boss"}, "enum",
         "role must be one of admin, researcher, viewer"),
        (bodies.NewUser, {"mobile": "1"}, "invalid",
         "password must be a string of at least 8 characters"),
        (bodies.UserChanges, {"colour": 1, "role": "boss"}, "extra_forbidden",
         "unknown field(s): colour"),
        (bodies.UserChanges, {"disabled": None}, "bool_type", "disabled must be true or false"),
        (bodies.UserChanges, {"role": None}, "enum",
         "role must be one of admin, researcher, viewer"),
        (bodies.UserChanges, {"password": "short"}, "invalid",
         "password must be a string of at least 8 characters"),
        (bodies.PasswordChange, {"new_password": "password-1"}, "missing",
         "current_password is required"),
        (bodies.PasswordChange, {"current_password": "x", "new_password": "short"}, "invalid",
         "password must be a string of at least 8 characters"),
        (bodies.NewKey, [1], "dict_type", "Input should be a valid dictionary"),
    ],
)  # fmt: skip
def test_bodies_refuse_with_the_services_messages(
    model: type[BaseModel], body: object, error_type: str, message: str
) -> None:
    got_type, got = _message(model, body)
    assert got_type == error_type
    assert got.startswith(message), got


def test_bodies_normalize_as_the_services_did() -> None:
    user = bodies.NewUser.model_validate({"mobile": " 139 ", "password": "password-1", "role": ""})
    assert (user.mobile, user.role) == ("139", "researcher")
    assert bodies.NewKey.model_validate({"name": 5}).name == ""
    assert bodies.UserChanges.model_validate({}).model_dump() == {
        "disabled": None, "role": None, "password": None,
    }  # fmt: skip


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_bad_bodies_keep_the_contracts_statuses(admin_client: TestClient) -> None:
    c = admin_client
    c.post("/api/backtest/strategies/A", json={"code": "# a\n"})
    rename = c.post("/api/backtest/strategies/A/rename", json={"to_id": None})
    assert rename.status_code == 422
    assert rename.json()["error"] == {
        "code": "UNPROCESSABLE_ENTITY",
        "message": "to_id is required",
    }
    not_an_object = c.post("/api/backtest/strategies/A/rename", json=[1])
    assert not_an_object.status_code == 400
    assert not_an_object.json()["error"]["message"] == "Input should be a valid dictionary"
    user = c.post("/api/admin/users", json={"password": "password-1"})
    assert user.json()["error"]["message"] == "mobile is required (at most 64 characters)"
    key = c.post("/api/keys", json={"name": 5})
    assert key.status_code == 200 and key.json()["data"]["name"] == ""
    assert c.post("/api/keys").status_code == 200


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_compile_answer_has_no_error_when_it_passed_and_one_shape_otherwise(
    admin_client: TestClient,
) -> None:
    c = admin_client
    c.post("/api/backtest/strategies/demo", json={"code": "def init(context):\n    pass\n"})
    passed = c.post("/api/backtest/strategies/demo/compile", json={})
    assert passed.status_code == 200 and "error" not in passed.json()
    bad = c.post("/api/backtest/strategies/demo/compile", json={"code": 5})
    assert bad.status_code == 400
    assert bad.json() == {
        "ok": False, "stdout": "", "stderr": "code must be a string", "diagnostics": [],
        "error": {"code": "INVALID_ARGUMENT", "message": "code must be a string"},
    }  # fmt: skip
    not_json = c.post(
        "/api/backtest/strategies/demo/compile",
        content=b'{"code": ',
        headers={"Content-Type": "application/json"},
    )
    assert not_json.status_code == 400  # the contract's unified compile body covers 400 too
    assert set(not_json.json()) == {"ok", "stdout", "stderr", "diagnostics", "error"}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_schema_types_every_json_body(platform: Platform) -> None:
    schema = create_app(platform.settings, platform).openapi()
    untyped = []
    for path, item in schema["paths"].items():
        for method, op in item.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None and "$ref" not in str(body["schema"]):
                untyped.append(f"{method.upper()} {path} body")
            ok = next(v for k, v in op["responses"].items() if k.startswith("2"))
            answer = ok.get("content", {}).get("application/json")
            if answer is not None and not answer.get("schema"):
                untyped.append(f"{method.upper()} {path} answer")
    assert untyped == []
    login = schema["paths"]["/api/login"]["post"]["requestBody"]["content"]
    for media in ("application/x-www-form-urlencoded", "application/json"):
        assert login[media]["schema"] == {"$ref": "#/components/schemas/Credentials"}
    compile_ = schema["paths"]["/api/backtest/strategies/{strategy_id}/compile"]["post"]
    for status in ("200", "422"):
        content = compile_["responses"][status]["content"]["application/json"]
        assert content["schema"] == {"$ref": "#/components/schemas/CompileResult"}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_no_success_answer_is_an_untyped_object(platform: Platform) -> None:
    """Every 2xx JSON answer has a schema with fields (issue 17 counted 24 untyped ones)."""
    schema = create_app(platform.settings, platform).openapi()
    untyped = []
    for path, item in schema["paths"].items():
        for method, op in item.items():
            for code, answer in op.get("responses", {}).items():
                if not code.startswith("2"):
                    continue
                body = answer.get("content", {}).get("application/json", {}).get("schema")
                if body is not None and (body == {} or body.get("additionalProperties") is True):
                    untyped.append(f"{method.upper()} {path} {code}")
    assert untyped == []
    result_file = schema["paths"]["/api/backtest/jobs/{job_id}/files/result.json"]["get"]
    ref = result_file["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ref.endswith("/ResultDocument")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_schema_names_every_websocket_frame(platform: Platform) -> None:
    """``/api/ws`` is not an operation: its frames are components the web client generates."""
    schemas = create_app(platform.settings, platform).openapi()["components"]["schemas"]
    frames = [ref["$ref"].rsplit("/", 1)[-1] for ref in schemas["ServerFrame"]["anyOf"]]
    assert {"ConnectedFrame", "SubscribedFrame", "ErrorFrame", "ResetFrame", "JobProgressFrame",
            "JobStatusFrame", "SystemStatusFrame", "ProcessesFrame"} <= set(frames)  # fmt: skip
    actions = schemas["ClientAction"]["discriminator"]["mapping"]
    assert set(actions) == {"auth", "subscribe", "unsubscribe", "ping"}
    for name in [*frames, "ChannelFrame", "JobProgressData", "SystemStatusData"]:
        assert schemas[name]["additionalProperties"] is False, name  # every key is listed
    status = schemas["SystemStatusData"]["properties"]
    assert {"queue_depth", "running", "jobs"} <= set(status)
    tick = {"channel": "system.status", "seq": 1, "event": "tick", "ts": 1.0, "data": {}}
    with pytest.raises(ValidationError):
        SERVER_FRAME.validate_python(tick)  # a tick without its figures is no frame
