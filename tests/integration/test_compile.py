"""The compile check (§3): statuses, the single body shape, and that nothing runs or is saved."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from quantdesk.api import create_app
from quantdesk.services.platform import Platform, bootstrap
from tests.fixtures.platform import make_settings

SHAPE = {"ok", "stdout", "stderr", "diagnostics"}


@pytest.fixture
def client(tmp_path: Path, demo_data_dir: Path) -> Iterator[TestClient]:
    platform: Platform = bootstrap(
        make_settings(tmp_path, f"sqlite:///{tmp_path / 'q.db'}", demo_data_dir)
    )
    with TestClient(create_app(platform.settings, platform), raise_server_exceptions=False) as c:
        res = c.post("/api/login", data={"mobile": "13800138000", "password": "pass123456"})
        c.headers["Authorization"] = res.json()["token"]
        c.post("/api/backtest/strategies/demo", json={"code": "def init(context):\n    pass\n"})
        yield c
    platform.close()


def compile_(client: TestClient, body: object, sid: str = "demo") -> tuple[int, dict]:
    res = client.post(f"/api/backtest/strategies/{sid}/compile", json=body)
    return res.status_code, res.json()


@pytest.mark.parametrize("body", [{}, {"code": None}, {"code": ""}, {"code": "  \n"}])
def test_blank_code_checks_the_saved_code(client: TestClient, body: object) -> None:
    status, payload = compile_(client, body)
    assert status == 200 and set(payload) >= SHAPE and payload["ok"] is True
    assert payload["stdout"] == "syntax check passed\ndependency check passed"
    assert payload["diagnostics"] == []


def test_temporary_code_is_checked_but_never_saved_or_run(
    client: TestClient, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    code = (
        "import numpy\nfrom rqalpha.api import *\n"
        f"open({str(marker)!r}, 'w').write('x')\n\ndef handle_bar(c, b):\n    pass\n"
    )
    status, payload = compile_(client, {"code": code})
    assert status == 200 and payload["ok"] is True
    assert not marker.exists()  # static only
    saved = client.get("/api/backtest/strategies/demo").json()["code"]
    assert saved == "def init(context):\n    pass\n"


def test_syntax_error_is_422_with_line_and_column(client: TestClient) -> None:
    status, payload = compile_(client, {"code": "def init(context):\n    x = = 1\n"})
    assert status == 422 and set(payload) >= SHAPE and payload["ok"] is False
    (diag,) = payload["diagnostics"]
    assert (diag["line"], diag["level"]) == (2, "error") and diag["column"] >= 5
    assert "syntax error" in diag["message"]


def test_missing_dependency_is_422(client: TestClient) -> None:
    code = "import numpy\nimport not_a_real_package_xyz\n\ndef init(context):\n    pass\n"
    status, payload = compile_(client, {"code": code})
    assert status == 422
    message = "dependency 'not_a_real_package_xyz' is not installed"
    expected = {"line": 2, "column": 1, "level": "error", "message": message}
    assert payload["diagnostics"] == [expected]
    assert payload["stdout"] == "syntax check passed"


BT_STRATEGY = """import backtrader as bt


class Cross(bt.Strategy):
    def next(self):
        pass
"""


def test_both_strategy_styles_pass_and_code_with_neither_gets_a_warning(
    client: TestClient,
) -> None:
    for code in (BT_STRATEGY, "from rqalpha.api import *\n\ndef handle_bar(c, b):\n    pass\n"):
        status, payload = compile_(client, {"code": code})
        assert status == 200 and payload["ok"] is True and payload["diagnostics"] == []
    status, payload = compile_(client, {"code": "import backtrader as bt\n\nx = 1\n"})
    assert status == 200 and payload["ok"] is True
    (diag,) = payload["diagnostics"]
    assert (diag["line"], diag["level"]) == (1, "warning")
    assert "no init/handle_bar and no backtrader.Strategy subclass" in diag["message"]


def test_bad_requests_and_non_admins(client: TestClient) -> None:
    status, payload = compile_(client, {"code": 5})
    assert (
        status == 400 and set(payload) >= SHAPE and payload["error"]["code"] == "INVALID_ARGUMENT"
    )
    status, payload = compile_(client, {}, sid="nothing-saved")
    assert status == 400 and "no saved code" in payload["stderr"]
    status, payload = compile_(client, {}, sid="bad id")
    assert status == 400
    admin = dict(client.headers)
    client.post("/api/admin/users", json={"mobile": "139", "password": "password-1"})
    res = client.post("/api/login", data={"mobile": "139", "password": "password-1"})
    client.headers["Authorization"] = res.json()["token"]
    status, payload = compile_(client, {"code": "x = 1\n"})
    assert status == 403 and set(payload) >= SHAPE and payload["error"]["code"] == "FORBIDDEN"
    client.headers.clear()
    client.headers.update({k: v for k, v in admin.items() if k.lower() != "authorization"})
    res = client.post("/api/backtest/strategies/demo/compile", json={})
    assert res.status_code == 401 and res.json()["error"]["code"] == "UNAUTHORIZED"


def test_a_compile_timeout_is_500(tmp_path: Path, demo_data_dir: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 't.db'}", demo_data_dir,
                             backtest_compile_timeout=0.001)  # fmt: skip
    platform = bootstrap(settings)
    with TestClient(create_app(settings, platform), raise_server_exceptions=False) as c:
        res = c.post("/api/login", data={"mobile": "13800138000", "password": "pass123456"})
        c.headers["Authorization"] = res.json()["token"]
        status, payload = compile_(c, {"code": "x = 1\n"})
    platform.close()
    assert status == 500 and set(payload) >= SHAPE
    assert payload["error"]["code"] == "INTERNAL_ERROR" and "timed out" in payload["stderr"]
