"""Schemathesis over the whole OpenAPI schema, as an admin, a researcher and a viewer: no
answer is a 5xx, and every answer matches the schema (status codes, content types, bodies).

Bounded for CI: a few examples per operation and role (``EXAMPLES``); the generated data is
seeded (``derandomize``) so a run is reproducible.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from quantdesk.api import create_app
from quantdesk.services.platform import bootstrap
from tests.fixtures.platform import ADMIN_LOGIN, make_settings

EXAMPLES = 12
#: What the issue asks: no 5xx, and answers that match the schema. (Not "every schema-valid
#: body is accepted": bodies typed ``Any`` are still refused past ±2**63 or nested 32 deep.)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]  # fmt: skip
USERS = {
    "researcher": {"mobile": "13900000101", "password": "research-pass-1", "role": "researcher"},
    "viewer": {"mobile": "13900000102", "password": "viewer-pass-1", "role": "viewer"},
}
REVOKING = ("/logout-all", "/me/password", "/admin/users/{userid}")
CODE = "def handle_bar(context, bar_dict):\n    pass\n"


@pytest.fixture(scope="module")
def api(
    tmp_path_factory: pytest.TempPathFactory, demo_data_dir: Path
) -> Iterator[tuple[Any, dict[str, dict[str, str]]]]:
    tmp = tmp_path_factory.mktemp("schemathesis")
    platform = bootstrap(make_settings(tmp, f"sqlite:///{tmp}/q.db", demo_data_dir))
    app = create_app(platform.settings, platform)
    headers: dict[str, dict[str, str]] = {}
    with TestClient(app) as client:
        admin = {"Authorization": client.post("/api/login", data=ADMIN_LOGIN).json()["token"]}
        headers["admin"] = admin
        for role, user in USERS.items():
            assert client.post("/api/admin/users", headers=admin, json=user).status_code == 200
            token = client.post("/api/login", data=user).json()["token"]
            headers[role] = {"Authorization": token}
        for role in ("admin", "researcher"):  # something to find for the id-taking routes
            client.post("/api/backtest/strategies/demo", headers=headers[role], json={"code": CODE})
        yield schemathesis.openapi.from_asgi("/openapi.json", app), headers
    platform.close()


@pytest.mark.parametrize("role", ["admin", "researcher", "viewer"])
def test_no_5xx_and_every_answer_matches_the_schema(
    role: str, api: tuple[Any, dict[str, dict[str, str]]]
) -> None:
    schema, headers = api
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 25
    # Last: the operations that may revoke the caller's token (a role or password change,
    # logging out everywhere); the answers after it are 401s, which the schema documents.
    operations.sort(key=lambda op: op.path.endswith(REVOKING))
    failures = []
    for operation in operations:

        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            case.call_and_validate(headers={**(case.headers or {}), **headers[role]},
                                   checks=CHECKS)  # fmt: skip

        try:
            check()
        except Exception as exc:  # (every operation is tried; all failures are reported)
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)
