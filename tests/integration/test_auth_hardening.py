"""Accounts and tokens, through HTTP: required claims and key ids, revocation by token version,
key rotation, secret length in production, login limits (per account with good addresses, per
address, shared through Redis) and 403 ``USER_DISABLED``."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from quantdesk.api import create_app
from quantdesk.core.errors import ConfigurationError
from quantdesk.services.auth import hash_password, key_id
from quantdesk.services.login_limits import REDIS_KEY_PREFIX
from quantdesk.services.platform import bootstrap
from tests.fixtures.platform import TEST_SECRET, make_settings

ADMIN = {"mobile": "13800138000", "password": "pass123456"}
REDIS_URL = os.environ.get("QUANTDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
NEW_SECRET = "rotated-secret-key-for-quantdesk-abcdefghij"


def login(client: TestClient, mobile: str, password: str) -> dict[str, str]:
    res = client.post("/api/login", data={"mobile": mobile, "password": password})
    assert res.status_code == 200, res.text
    return {"Authorization": f"Bearer {res.json()['token']}"}


def assert_error(res: Any, status: int, code: str, fragment: str = "") -> None:
    assert res.status_code == status, res.text
    body = res.json()
    assert body["ok"] is False and body["error"]["code"] == code, body
    assert fragment in body["error"]["message"], body


def make_token(
    key: str, kid: str | None = "auto", drop: tuple[str, ...] = (), **claims: Any
) -> str:
    """A token for the local admin signed with ``key`` (``kid`` defaults to ``key``'s)."""
    now = dt.datetime.now(dt.UTC)
    values: dict[str, Any] = {
        "sub": "1",
        "iat": now,
        "exp": now + dt.timedelta(hours=1),
        "typ": "access",
        "ver": 0,
        **claims,
    }
    for name in drop:
        values.pop(name)
    headers = {} if kid is None else {"kid": key_id(key) if kid == "auto" else kid}
    return jwt.encode(values, key, algorithm="HS256", headers=headers)


def me(client: TestClient, token: str) -> Any:
    return client.get("/api/me", headers={"Authorization": f"Bearer {token}"})


def change_password(client: TestClient, headers: dict[str, str], current: str, new: str) -> Any:
    body = {"current_password": current, "new_password": new}
    return client.post("/api/me/password", headers=headers, json=body)


def from_address(client: TestClient, ip: str) -> TestClient:
    """A client of the same app whose requests come from ``ip``."""
    return TestClient(client.app, client=(ip, 50000), raise_server_exceptions=False)


def add_user(admin: TestClient, mobile: str, password: str, role: str = "researcher") -> int:
    headers = login(admin, **ADMIN)
    body = {"mobile": mobile, "password": password, "role": role}
    res = admin.post("/api/admin/users", headers=headers, json=body)
    assert res.status_code == 200, res.text
    return int(res.json()["data"]["userid"])


@contextlib.contextmanager
def app_client(tmp_path: Path, data_dir: Path, **overrides: Any) -> Iterator[TestClient]:
    """A client of an app on a SQLite database under ``tmp_path`` with ``overrides``."""
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'q.db'}", data_dir, **overrides)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def sqlite_client(tmp_path: Path, demo_data_dir: Path) -> Iterator[TestClient]:
    with app_client(tmp_path, demo_data_dir) as client:
        yield client


# -- item 4: token claims, key ids, rotation --------------------------------------------------


def test_tokens_need_exp_iat_sub_typ_and_a_known_key(sqlite_client: TestClient) -> None:
    issued = sqlite_client.post("/api/login", data=ADMIN).json()["token"]
    header = jwt.get_unverified_header(issued)
    claims = jwt.decode(issued, TEST_SECRET, algorithms=["HS256"])
    assert header["kid"] == key_id(TEST_SECRET)
    assert claims["typ"] == "access" and claims["sub"] == "1" and claims["ver"] == 0
    assert claims["exp"] - claims["iat"] == 24 * 3600
    assert me(sqlite_client, make_token(TEST_SECRET)).status_code == 200
    for claim in ("exp", "iat", "sub", "typ"):
        res = me(sqlite_client, make_token(TEST_SECRET, drop=(claim,)))
        assert_error(res, 401, "UNAUTHORIZED", "invalid token")
    assert_error(me(sqlite_client, make_token(TEST_SECRET, typ="refresh")), 401, "UNAUTHORIZED")
    assert_error(me(sqlite_client, make_token(TEST_SECRET, kid=None)), 401, "UNAUTHORIZED")
    other = "another-secret-key-nobody-configured-000"
    assert_error(me(sqlite_client, make_token(other)), 401, "UNAUTHORIZED")  # unknown kid
    forged = make_token(other, kid=key_id(TEST_SECRET))  # right kid, wrong key
    assert_error(me(sqlite_client, forged), 401, "UNAUTHORIZED", "invalid token")
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    expired = make_token(TEST_SECRET, iat=past - dt.timedelta(hours=1), exp=past)
    assert_error(me(sqlite_client, expired), 401, "UNAUTHORIZED", "expired")


def test_rotation_accepts_the_previous_key_for_one_token_lifetime(
    tmp_path: Path, demo_data_dir: Path
) -> None:
    with app_client(
        tmp_path, demo_data_dir, secret_key=NEW_SECRET, secret_key_previous=TEST_SECRET
    ) as client:
        issued = client.post("/api/login", data=ADMIN).json()["token"]
        assert jwt.get_unverified_header(issued)["kid"] == key_id(NEW_SECRET)  # never the old
        assert me(client, issued).status_code == 200
        assert me(client, make_token(TEST_SECRET)).status_code == 200  # signed before rotation
        now = dt.datetime.now(dt.UTC)
        stale = make_token(
            TEST_SECRET, iat=now - dt.timedelta(hours=25), exp=now + dt.timedelta(hours=1)
        )
        assert_error(me(client, stale), 401, "UNAUTHORIZED", "expired")
        retired = make_token("a-key-retired-two-rotations-ago-0000000")
        assert_error(me(client, retired), 401, "UNAUTHORIZED", "invalid token")
    with app_client(tmp_path, demo_data_dir, secret_key=NEW_SECRET) as client:
        assert_error(me(client, make_token(TEST_SECRET)), 401, "UNAUTHORIZED")  # rotation done


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        ({"secret_key": "x"}, "SECRET_KEY"),
        ({"secret_key": "k" * 31}, "SECRET_KEY"),
        ({"secret_key": "键" * 10}, "SECRET_KEY"),  # 30 bytes of UTF-8
        ({"secret_key": "k" * 32, "secret_key_previous": "p" * 31}, "SECRET_KEY_PREVIOUS"),
        ({"secret_key": "k" * 32, "secret_key_previous": "change-me"}, "SECRET_KEY_PREVIOUS"),
    ],
)
def test_production_refuses_short_secret_keys(
    tmp_path: Path, demo_data_dir: Path, overrides: dict[str, str], name: str
) -> None:
    settings = make_settings(
        tmp_path,
        f"sqlite:///{tmp_path / 'q.db'}",
        demo_data_dir,
        config_env="production",
        **overrides,
    )
    with pytest.raises(ConfigurationError, match=f"^{name} "):
        create_app(settings)


def test_production_accepts_a_32_byte_secret_key(tmp_path: Path, demo_data_dir: Path) -> None:
    with app_client(
        tmp_path,
        demo_data_dir,
        config_env="production",
        secret_key="k" * 32,
        secret_key_previous="p" * 32,
        local_auth_password_hash=hash_password("s3cret-admin"),
    ) as client:
        res = client.post("/api/login", data={**ADMIN, "password": "s3cret-admin"})
        assert res.status_code == 200, res.text
        assert jwt.get_unverified_header(res.json()["token"])["kid"] == key_id("k" * 32)


# -- items 4 and 6: revocation, disabled users -------------------------------------------------


def test_password_role_disable_and_logout_all_revoke_tokens(client: TestClient) -> None:
    admin = login(client, **ADMIN)
    uid = add_user(client, "13911110000", "password-1")
    mobile = "13911110000"

    # own password change: every token goes, the answer carries a fresh one
    old = login(client, mobile, "password-1")
    wrong = change_password(client, old, "nope-nope", "password-2")
    assert_error(wrong, 403, "FORBIDDEN", "current_password")
    short = change_password(client, old, "password-1", "short")
    assert_error(short, 400, "INVALID_ARGUMENT", "password")
    changed = change_password(client, old, "password-1", "password-2")
    assert changed.status_code == 200 and changed.json()["ok"] is True, changed.text
    fresh = {"Authorization": changed.json()["data"]["token"]}
    assert_error(client.get("/api/me", headers=old), 401, "UNAUTHORIZED", "revoked")
    assert client.get("/api/me", headers=fresh).json()["data"]["userid"] == uid
    assert (
        client.post("/api/login", data={"mobile": mobile, "password": "password-1"}).status_code
        == 401
    )

    # admin password reset
    before = login(client, mobile, "password-2")
    reset = client.patch(f"/api/admin/users/{uid}", headers=admin, json={"password": "password-3"})
    assert reset.status_code == 200
    for headers in (before, fresh):
        assert_error(client.get("/api/me", headers=headers), 401, "UNAUTHORIZED", "revoked")

    # role change (the same role again changes nothing)
    before = login(client, mobile, "password-3")
    client.patch(f"/api/admin/users/{uid}", headers=admin, json={"role": "viewer"})
    assert_error(client.get("/api/me", headers=before), 401, "UNAUTHORIZED", "revoked")
    viewer = login(client, mobile, "password-3")
    client.patch(f"/api/admin/users/{uid}", headers=admin, json={"role": "viewer"})
    assert client.get("/api/me", headers=viewer).json()["data"]["role"] == "viewer"

    # log out everywhere (a viewer may): both of its tokens go, other users' stay
    second = login(client, mobile, "password-3")
    out = client.post("/api/logout-all", headers=viewer)
    assert out.status_code == 200, out.text
    assert out.json() == {"ok": True, "data": {"userid": uid, "tokens_revoked": True}}
    for headers in (viewer, second):
        assert_error(client.get("/api/me", headers=headers), 401, "UNAUTHORIZED", "revoked")
    assert client.get("/api/me", headers=admin).status_code == 200

    # disabled: 403 USER_DISABLED for its tokens, API keys and right password; 401 for a wrong one
    before = login(client, mobile, "password-3")
    key = client.post("/api/keys", headers=before, json={}).json()["data"]
    api_key = {"X-API-Key": key["key"], "X-API-Secret": key["secret"]}
    client.patch(f"/api/admin/users/{uid}", headers=admin, json={"disabled": True})
    assert_error(client.get("/api/me", headers=before), 403, "USER_DISABLED", "用户被禁用")
    assert_error(client.get("/api/me", headers=api_key), 403, "USER_DISABLED")
    right = client.post("/api/login", data={"mobile": mobile, "password": "password-3"})
    assert_error(right, 403, "USER_DISABLED", "用户被禁用")
    bad = client.post("/api/login", data={"mobile": mobile, "password": "password-x"})
    assert_error(bad, 401, "UNAUTHORIZED", "invalid mobile or password")
    # enabled again: the tokens from before stay revoked, the API key works again
    client.patch(f"/api/admin/users/{uid}", headers=admin, json={"disabled": False})
    assert_error(client.get("/api/me", headers=before), 401, "UNAUTHORIZED", "revoked")
    assert client.get("/api/me", headers=api_key).status_code == 200
    assert client.get("/api/me", headers=login(client, mobile, "password-3")).status_code == 200


# -- item 5: login limits ----------------------------------------------------------------------


def test_a_locked_account_still_admits_its_owner_from_a_good_address(
    sqlite_client: TestClient,
) -> None:
    add_user(sqlite_client, "13922220000", "password-1")
    owner = {"mobile": "13922220000", "password": "password-1"}
    home = from_address(sqlite_client, "198.51.100.10")
    assert home.post("/api/login", data=owner).status_code == 200  # a good address from now on
    attacker = from_address(sqlite_client, "203.0.113.66")
    for _ in range(5):
        res = attacker.post("/api/login", data={**owner, "password": "guess-guess"})
        assert_error(res, 401, "UNAUTHORIZED")
    locked = attacker.post("/api/login", data=owner)  # even the right password
    assert_error(locked, 429, "TOO_MANY_REQUESTS", "account")
    assert 1 <= int(locked.headers["Retry-After"]) <= 60
    assert home.post("/api/login", data=owner).status_code == 200
    elsewhere = from_address(sqlite_client, "192.0.2.44")  # right password, unknown address
    assert_error(elsewhere.post("/api/login", data=owner), 429, "TOO_MANY_REQUESTS")
    assert sqlite_client.post("/api/login", data=ADMIN).status_code == 200  # other accounts


def test_account_lockout_backs_off_to_the_longer_tier(tmp_path: Path, demo_data_dir: Path) -> None:
    with app_client(
        tmp_path, demo_data_dir, login_account_limits="2 per 1 second; 3 per 1 hour"
    ) as client:
        wrong = {**ADMIN, "password": "wrong-wrong"}
        attacker = from_address(client, "203.0.113.67")
        for _ in range(2):
            assert attacker.post("/api/login", data=wrong).status_code == 401
        first = attacker.post("/api/login", data=ADMIN)
        assert_error(first, 429, "TOO_MANY_REQUESTS")
        assert int(first.headers["Retry-After"]) == 1  # the short tier
        deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3)
        while (res := attacker.post("/api/login", data=wrong)).status_code == 429:
            assert dt.datetime.now(dt.UTC) < deadline, res.text
            time.sleep(0.1)
        assert res.status_code == 401  # the short tier has passed: one more failure...
        second = attacker.post("/api/login", data=ADMIN)  # ...fills the hour tier
        assert_error(second, 429, "TOO_MANY_REQUESTS")
        assert int(second.headers["Retry-After"]) > 3000


def test_one_address_cannot_spray_many_accounts(sqlite_client: TestClient) -> None:
    spray = from_address(sqlite_client, "203.0.113.99")
    for i in range(20):
        res = spray.post("/api/login", data={"mobile": f"1370000{i:04d}", "password": "123456"})
        assert_error(res, 401, "UNAUTHORIZED")
    limited = spray.post("/api/login", data={"mobile": "13700009999", "password": "123456"})
    assert_error(limited, 429, "TOO_MANY_REQUESTS", "address")
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert_error(spray.post("/api/login", data=ADMIN), 429, "TOO_MANY_REQUESTS")
    assert sqlite_client.post("/api/login", data=ADMIN).status_code == 200  # other addresses


def _redis_or_skip() -> Any:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Redis is required in CI but unavailable at {REDIS_URL}: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} is unavailable: {exc}")
    return client


@pytest.mark.redis
def test_limits_are_shared_by_api_processes_through_redis(
    tmp_path: Path, demo_data_dir: Path
) -> None:
    redis_client = _redis_or_skip()
    run = uuid.uuid4()  # keys of this run only: other runs may share the Redis
    mobile = f"139{run.int % 10**8:08d}"
    ips = {
        name: f"10.{run.bytes[0]}.{run.bytes[1]}.{n}"
        for n, name in enumerate(("home", "attacker", "new", "spray"), start=1)
    }
    spray = 8  # a lower per-address limit than the default 20 keeps the test short
    settings = make_settings(
        tmp_path,
        f"sqlite:///{tmp_path / 'q.db'}",
        demo_data_dir,
        redis_url=REDIS_URL,
        login_ip_limits=f"{spray}/minute",
    )
    one, two = bootstrap(settings), bootstrap(settings)  # two API processes, one database
    try:
        a = TestClient(create_app(settings, one), raise_server_exceptions=False)
        b = TestClient(create_app(settings, two), raise_server_exceptions=False)
        add_user(a, mobile, "password-1")
        owner = {"mobile": mobile, "password": "password-1"}
        assert from_address(a, ips["home"]).post("/api/login", data=owner).status_code == 200
        for app in (a, a, a, b, b):  # five failures, split over the two processes
            res = from_address(app, ips["attacker"]).post(
                "/api/login", data={**owner, "password": "guess-guess"}
            )
            assert_error(res, 401, "UNAUTHORIZED")
        locked = from_address(b, ips["new"]).post("/api/login", data=owner)
        assert_error(locked, 429, "TOO_MANY_REQUESTS", "account")
        assert from_address(b, ips["home"]).post("/api/login", data=owner).status_code == 200
        for i in range(spray):
            app = a if i % 2 else b
            res = from_address(app, ips["spray"]).post(
                "/api/login", data={"mobile": f"{mobile}-{i}", "password": "123456"}
            )
            assert_error(res, 401, "UNAUTHORIZED")
        limited = from_address(a, ips["spray"]).post("/api/login", data=owner)
        assert_error(limited, 429, "TOO_MANY_REQUESTS", "address")
    finally:
        one.close()
        two.close()
        marks = [*ips.values()] + [
            hashlib.sha256(m.encode()).hexdigest()[:32]
            for m in [ADMIN["mobile"], mobile, *(f"{mobile}-{i}" for i in range(spray))]
        ]
        for key in redis_client.scan_iter(f"{REDIS_KEY_PREFIX}:*"):
            if any(mark in key.decode() for mark in marks):
                redis_client.delete(key)


def test_logins_stay_answered_and_limited_while_redis_is_down(
    tmp_path: Path, demo_data_dir: Path
) -> None:
    """Regression: an unreachable REDIS_URL made every login a 500; now each process counts
    on its own until Redis answers again."""
    settings = make_settings(
        tmp_path, f"sqlite:///{tmp_path / 'q.db'}", demo_data_dir,
        redis_url="redis://127.0.0.1:1/0", login_account_limits="3/minute",
    )  # fmt: skip
    platform = bootstrap(settings)
    try:
        client = TestClient(create_app(settings, platform), raise_server_exceptions=False)
        assert client.post("/api/login", data=ADMIN).status_code == 200
        for _ in range(3):
            res = client.post("/api/login", data={**ADMIN, "password": "wrong-guess"})
            assert_error(res, 401, "UNAUTHORIZED")
        res = from_address(client, "10.9.9.9").post("/api/login", data=ADMIN)
        assert_error(res, 429, "TOO_MANY_REQUESTS", "account")
    finally:
        platform.close()
