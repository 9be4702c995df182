"""Users, roles, API keys, login rate limit, and an authorization matrix over every route."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from quantdesk.api.deps import VIEWER_WRITABLE

SMA = (Path(__file__).resolve().parents[2] / "examples" / "sma_crossover.py").read_text()
RUN = {"strategy_id": "sma", "start_date": "2010-01-04", "end_date": "2010-03-31",
       "universe": ["AAPL"]}  # fmt: skip
PUBLIC = {("POST", "/api/login"), ("GET", "/api/health")}
#: Admin-only routes outside /api/admin (the contract's compile check).
ADMIN_ONLY = {
    ("POST", "/api/backtest/strategies/{strategy_id}/compile"),
    ("POST", "/api/data/import"),  # the catalog is shared
    ("POST", "/api/data/sources/{source}/update"),
    ("GET", "/api/data/updates"),
    ("GET", "/api/data/updates/{job_id}"),
    ("POST", "/api/data/updates/{job_id}/cancel"),
    ("POST", "/api/data/updates/{job_id}/retry"),
}


def token(client: TestClient, mobile: str, password: str) -> dict[str, str]:
    res = client.post("/api/login", data={"mobile": mobile, "password": password})
    assert res.status_code == 200, res.text
    return {"Authorization": f"Bearer {res.json()['token']}"}


@pytest.fixture
def people(client: TestClient) -> dict[str, dict[str, str]]:
    admin = token(client, "13800138000", "pass123456")
    for mobile, role in (("13900000001", "researcher"), ("13900000002", "viewer")):
        body = {"mobile": mobile, "password": "password-1", "role": role}
        res = client.post("/api/admin/users", headers=admin, json=body)
        assert res.status_code == 200, res.text
        assert res.json()["data"]["role"] == role
    return {
        "admin": admin,
        "researcher": token(client, "13900000001", "password-1"),
        "viewer": token(client, "13900000002", "password-1"),
    }


def test_me_and_admin_user_management(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    me = client.get("/api/me", headers=people["researcher"]).json()["data"]
    assert me["role"] == "researcher" and me["is_admin"] is False and "password" not in str(me)
    users = client.get("/api/admin/users", headers=people["admin"]).json()["data"]
    assert users["total"] == 3
    assert client.get("/api/admin/users", headers=people["researcher"]).status_code == 403
    dup = client.post("/api/admin/users", headers=people["admin"],
                      json={"mobile": "13900000001", "password": "password-2"})  # fmt: skip
    assert dup.status_code == 409
    short = client.post("/api/admin/users", headers=people["admin"],
                        json={"mobile": "1", "password": "short"})  # fmt: skip
    assert short.status_code == 400 and "password" in short.json()["error"]["message"]
    researcher_id = me["userid"]
    res = client.patch(f"/api/admin/users/{researcher_id}", headers=people["admin"],
                       json={"password": "new-password"})  # fmt: skip
    assert res.status_code == 200
    assert (
        client.post(
            "/api/login", data={"mobile": "13900000001", "password": "password-1"}
        ).status_code
        == 401
    )
    fresh = token(client, "13900000001", "new-password")
    client.patch(
        f"/api/admin/users/{researcher_id}", headers=people["admin"], json={"disabled": True}
    )
    disabled = client.get("/api/me", headers=fresh)  # disabled: tokens stop working
    assert disabled.status_code == 403 and disabled.json()["error"]["code"] == "USER_DISABLED"
    relogin = client.post("/api/login", data={"mobile": "13900000001", "password": "new-password"})
    assert relogin.status_code == 403 and relogin.json()["error"]["code"] == "USER_DISABLED"
    bad = client.patch("/api/admin/users/999", headers=people["admin"], json={"role": "viewer"})
    assert bad.status_code == 404
    odd = client.patch(
        f"/api/admin/users/{researcher_id}", headers=people["admin"], json={"colour": 1}
    )
    assert odd.status_code == 400


def test_api_keys_authenticate_with_the_owners_permissions(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    created = client.post("/api/keys", headers=people["researcher"], json={"name": "ci"}).json()[
        "data"
    ]
    key, secret = created["key"], created["secret"]
    listed = client.get("/api/keys", headers=people["researcher"]).json()["data"]
    assert [k["key"] for k in listed["keys"]] == [key] and "secret" not in str(listed)
    headers = {"X-API-Key": key, "X-API-Secret": secret}
    assert client.get("/api/me", headers=headers).json()["data"]["role"] == "researcher"
    assert (
        client.post("/api/backtest/strategies/k", headers=headers, json={"code": "#\n"}).status_code
        == 200
    )
    assert client.get("/api/admin/users", headers=headers).status_code == 403
    wrong = client.get("/api/me", headers={"X-API-Key": key, "X-API-Secret": "nope"})
    assert wrong.status_code == 401
    assert client.get("/api/me", headers={"X-API-Key": key}).status_code == 401
    assert (
        client.delete(f"/api/keys/{key}", headers=people["admin"]).status_code == 404
    )  # not theirs
    assert client.delete(f"/api/keys/{key}", headers=people["researcher"]).status_code == 200
    assert client.get("/api/me", headers=headers).status_code == 401  # revoked
    viewer_key = client.post("/api/keys", headers=people["viewer"], json={}).json()["data"]
    vh = {"X-API-Key": viewer_key["key"], "X-API-Secret": viewer_key["secret"]}
    assert (
        client.post("/api/backtest/strategies/v", headers=vh, json={"code": "#\n"}).status_code
        == 403
    )


@pytest.mark.usefixtures("people")
def test_login_rate_limit_is_per_account(client: TestClient) -> None:
    for _ in range(5):
        res = client.post("/api/login", data={"mobile": "13900000002", "password": "wrong"})
        assert res.status_code == 401
    elsewhere = TestClient(client.app, client=("203.0.113.7", 50000))  # not a good address
    limited = elsewhere.post("/api/login", data={"mobile": "13900000002", "password": "password-1"})
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "TOO_MANY_REQUESTS"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # the owner's own address (it logged in from there) is not locked out
    assert (
        client.post(
            "/api/login", data={"mobile": "13900000002", "password": "password-1"}
        ).status_code
        == 200
    )
    assert (
        client.post(
            "/api/login", data={"mobile": "13900000001", "password": "password-1"}
        ).status_code
        == 200
    )


def _fill(path: str, ids: dict[str, Any]) -> str:
    for name, value in ids.items():
        path = path.replace("{" + name + "}", str(value))
    return path


@pytest.mark.usefixtures("platform")
def test_authorization_matrix_over_every_route(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    admin = people["admin"]
    client.post("/api/backtest/strategies/sma", headers=admin, json={"code": SMA})
    job_id = client.post("/api/backtest/run", headers=admin, json=RUN).json()["job_id"]
    key = client.post("/api/keys", headers=admin, json={}).json()["data"]["key"]
    admin_id = client.get("/api/me", headers=admin).json()["data"]["userid"]
    ids = {"strategy_id": "sma", "job_id": job_id, "key": key, "userid": admin_id, "version": 1,
           "source": "akshare"}  # fmt: skip
    bodies: dict[tuple[str, str], Any] = {
        ("POST", "/api/backtest/strategies/{strategy_id}"): {"code": "# x\n"},
        ("PUT", "/api/backtest/strategies/{strategy_id}"): {"code": "# x\n"},
        ("PATCH", "/api/backtest/jobs/{job_id}"): {"title": "mine now"},
        ("POST", "/api/data/sources/{source}/update"): {
            "order_book_ids": ["600519.XSHG"],
            "start_date": "2024-01-02",
        },
        ("POST", "/api/backtest/run"): RUN,
        ("POST", "/api/admin/users"): {"mobile": "x", "password": "password-9"},
        ("PATCH", "/api/admin/users/{userid}"): {"disabled": False},
        ("POST", "/api/keys"): {},
        ("POST", "/api/backtest/strategies/{strategy_id}/rename"): {"to_id": "zz"},
        ("POST", "/api/backtest/strategies/{strategy_id}/from-template"): {"template": "x"},
    }
    routes = [
        (method.upper(), path)
        for path, item in client.get("/openapi.json").json()["paths"].items()
        for method in item
        if path.startswith("/api")
    ]
    assert len(routes) >= 20
    checked = {"401": 0, "403-admin": 0, "403-viewer": 0, "404-owner": 0}
    for method, path in routes:
        url = _fill(path, ids)
        body = bodies.get((method, path))
        if (method, path) in PUBLIC:
            continue
        res = client.request(method, url, json=body)
        assert res.status_code == 401, (method, path, res.text)
        checked["401"] += 1
        if path.startswith("/api/admin") or (method, path) in ADMIN_ONLY:
            for who in ("researcher", "viewer"):
                res = client.request(method, url, headers=people[who], json=body)
                assert res.status_code == 403, (who, method, path)
            checked["403-admin"] += 1
            continue
        if method != "GET" and not path.startswith(VIEWER_WRITABLE):
            res = client.request(method, url, headers=people["viewer"], json=body)
            assert res.status_code == 403, ("viewer", method, path, res.text)
            checked["403-viewer"] += 1
        owned = any("{" + name + "}" in path for name in ("strategy_id", "job_id", "key"))
        creates = {
            ("POST", "/api/backtest/strategies/{strategy_id}"),
            ("PUT", "/api/backtest/strategies/{strategy_id}"),
            ("POST", "/api/backtest/strategies/{strategy_id}/from-template"),
        }
        if owned and (method, path) not in creates:  # these create the caller's own strategy
            res = client.request(method, url, headers=people["researcher"], json=body)
            assert res.status_code == 404, ("researcher", method, path, res.text)
            assert res.json()["error"]["code"] == "NOT_FOUND"
            checked["404-owner"] += 1
    assert min(checked.values()) > 0, checked
    # nothing of the admin's was touched by the other users
    assert client.get(f"/api/backtest/jobs/{job_id}", headers=admin).status_code == 200
    assert client.get("/api/backtest/strategies/sma", headers=admin).json()["code"] == SMA
