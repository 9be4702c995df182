"""The API boundary under bad input (issue 11): no 500s, a body size cap, honest
Idempotency-Keys, sane numbers, security headers, CORS and gzip. Each test is a regression of
a failure found by hand or by schemathesis against a real server."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterator, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from quantdesk.api import create_app
from quantdesk.services import backtests as backtest_service
from quantdesk.services.platform import Platform, bootstrap
from tests.fixtures.platform import ADMIN_LOGIN, make_settings

CODE = "def handle_bar(context, bar_dict):\n    pass\n"
RUN = {"strategy_id": "quick", "start_date": "2010-02-01", "end_date": "2010-02-26",
       "universe": ["IBM"], "benchmark": "SPX"}  # fmt: skip
HUGE = "96630412773199743559811943366656"


@pytest.fixture
def platform(tmp_path: Path, database_url: str, demo_data_dir: Path) -> Iterator[Platform]:
    p = bootstrap(make_settings(tmp_path, database_url, demo_data_dir, max_request_mb=1.0,
                                cors_origins="https://lab.example.com"))  # fmt: skip
    yield p
    p.close()


@pytest.fixture
def app(platform: Platform) -> FastAPI:
    return create_app(platform.settings, platform)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=True) as c:  # an escaping exception fails
        token = c.post("/api/login", data=ADMIN_LOGIN).json()["token"]
        c.headers["Authorization"] = token
        assert c.post("/api/backtest/strategies/quick", json={"code": CODE}).status_code == 200
        yield c


def _error(res: Any, status: int, code: str = "INVALID_ARGUMENT") -> str:
    assert res.status_code == status, res.text
    body = res.json()
    assert body["ok"] is False and body["error"]["code"] == code, body
    return str(body["error"]["message"])


# -- 1. no 500 on bad input ----------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        f"/api/backtest/jobs?offset={HUGE}",
        f"/api/backtest/strategies?offset={HUGE}",
        f"/api/backtest/strategies/quick/jobs?offset={HUGE}",
        f"/api/backtest/jobs?limit={HUGE}",
        "/api/backtest/strategies/quick/versions/99999999999999999999",
        f"/api/backtest/jobs/abc/log?offset={HUGE}",
        f"/api/backtest/jobs/abc/result?page={HUGE}",
    ],
)
def test_out_of_range_integers_are_a_400_naming_the_range(client: TestClient, url: str) -> None:
    message = _error(client.get(url), 400)
    assert "less than or equal to" in message


def test_a_lone_surrogate_in_code_is_a_400(client: TestClient) -> None:
    body = '{"code": "x = \\"\\ud800\\"\\n"}'
    res = client.post("/api/backtest/strategies/bad", content=body,
                      headers={"Content-Type": "application/json"})  # fmt: skip
    assert "not valid Unicode" in _error(res, 400)
    assert client.get("/api/backtest/strategies/bad").status_code == 404  # nothing was saved


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ('{"n": 1e400}', "finite"),
        ('{"n": ' + "9" * 401 + "}", "within"),
        ('{"n": NaN}', "not valid JSON"),
        ('{"n": ' + "[" * 40 + "1" + "]" * 40 + "}", "nested"),
        ('{"\\udfff": 1}', "not valid Unicode"),
    ],
)
def test_params_that_no_job_could_use_are_refused_at_submit(
    client: TestClient, params: str, expected: str
) -> None:
    body = json.dumps(RUN)[:-1] + ', "params": ' + params + "}"
    res = client.post("/api/backtest/run", content=body,
                      headers={"Content-Type": "application/json"})  # fmt: skip
    assert expected in _error(res, 400)
    assert client.get("/api/backtest/jobs").json()["data"]["total"] == 0


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("cash", 1e308, "less than or equal to 1000000000000"),
        ("cash", 0, "greater than 0"),
        ("commission", 1.5, "less than 1"),
        ("min_commission", 1e300, "less than or equal to 1000000000000"),
        ("slippage", -0.1, "greater than or equal to 0"),
    ],
)
def test_numbers_that_make_no_sense_are_a_400_with_the_accepted_range(
    client: TestClient, field: str, value: float, expected: str
) -> None:
    res = client.post("/api/backtest/run", json={**RUN, field: value})
    assert expected in _error(res, 400)


def test_cash_is_checked_by_the_engine_too() -> None:
    from quantdesk.backtest.run import prepare_backtest
    from quantdesk.core.errors import InvalidArgument

    with pytest.raises(
        InvalidArgument, match=r"cash must be a positive number up to 1e\+12, got 1e\+308"
    ):
        prepare_backtest(CODE, start="2010-02-01", end="2010-02-26", cash=1e308)


def test_an_unexpected_error_is_a_500_body_and_never_reaches_the_server(app: FastAPI) -> None:
    """Regression: Starlette re-raised after its 500, and uvicorn then closed the client's
    keep-alive connection."""

    @app.get("/api/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=True) as c:  # would raise if it escaped
        assert _error(c.get("/api/boom"), 500, "INTERNAL_ERROR") == "internal server error"


# -- 2. the request size cap ---------------------------------------------------------------


def test_a_declared_oversize_body_is_refused_before_it_is_read(app: FastAPI) -> None:
    read = []

    async def receive() -> dict[str, Any]:
        read.append(1)
        return {"type": "http.request", "body": b"", "more_body": False}

    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/backtest/strategies/big",
             "raw_path": b"/api/backtest/strategies/big", "query_string": b"",
             "headers": [(b"content-length", str(200 * 2**20).encode()),
                         (b"content-type", b"application/json")],
             "http_version": "1.1", "scheme": "http", "server": ("t", 80), "client": ("c", 1),
             "root_path": "", "app": app}  # fmt: skip
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 413 and read == []
    body = json.loads(sent[1]["body"])
    assert (
        body["error"]["code"] == "PAYLOAD_TOO_LARGE"
        and "MAX_REQUEST_MB=1" in body["error"]["message"]
    )


def test_an_oversize_body_is_413_with_or_without_content_length(client: TestClient) -> None:
    code = "x = 1\n" * (200 * 1024)  # 1.2 MB > MAX_REQUEST_MB=1
    res = client.post("/api/backtest/strategies/big", json={"code": code})
    _error(res, 413, "PAYLOAD_TOO_LARGE")

    def chunks() -> Iterator[bytes]:  # chunked: no Content-Length to trust
        yield b'{"code": "'
        for _ in range(300):
            yield b"x" * 4096
        yield b'"}'

    res = client.post("/api/backtest/strategies/big", content=chunks(),
                      headers={"Content-Type": "application/json"})  # fmt: skip
    _error(res, 413, "PAYLOAD_TOO_LARGE")
    assert client.get("/api/backtest/strategies/big").status_code == 404


# -- 3. honest Idempotency-Keys ------------------------------------------------------------


def _later(monkeypatch: pytest.MonkeyPatch, **delta: float) -> None:
    moved = dt.datetime.now(dt.UTC) + dt.timedelta(**delta)
    monkeypatch.setattr(backtest_service, "utcnow", lambda: moved)


def _run(client: TestClient, key: str | None, **change: Any) -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    return client.post("/api/backtest/run", json={**RUN, **change}, headers=headers)


def test_keys_are_never_collapsed_by_the_dedup_window_and_outlive_it(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: two keys with one body collapsed into one job through the 30 s window, and
    a key replayed after it made a new job."""
    a, b = _run(client, "key-a").json()["job_id"], _run(client, "key-b").json()["job_id"]
    assert a != b
    _later(monkeypatch, seconds=32)
    assert _run(client, "key-a").json()["job_id"] == a
    assert _run(client, "key-b").json()["job_id"] == b
    _later(monkeypatch, hours=23, minutes=59)
    assert _run(client, "key-a").json()["job_id"] == a
    _later(monkeypatch, hours=24, minutes=1)  # forgotten after 24 h: a new job
    assert _run(client, "key-a").json()["job_id"] not in (a, b)


def test_a_key_with_another_body_is_422_and_keys_are_per_user(client: TestClient) -> None:
    first = _run(client, "shared").json()["job_id"]
    message = _error(_run(client, "shared", cash=50_000), 422, "UNPROCESSABLE_ENTITY")
    assert "Idempotency-Key" in message
    assert client.get("/api/backtest/jobs").json()["data"]["total"] == 1
    user = {"mobile": "13900000011", "password": "researcher-11", "role": "researcher"}
    assert client.post("/api/admin/users", json=user).status_code == 200
    token = client.post("/api/login", data=user).json()["token"]
    client.headers["Authorization"] = token
    assert client.post("/api/backtest/strategies/quick", json={"code": CODE}).status_code == 200
    theirs = _run(client, "shared").json()["job_id"]
    assert theirs != first


def test_a_thousand_concurrent_submissions_with_fifty_keys_make_fifty_jobs(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = [f"batch-{i}" for i in range(50)]

    def submit(i: int) -> tuple[str, str]:
        res = _run(client, keys[i % 50])
        assert res.status_code == 200, res.text
        return keys[i % 50], str(res.json()["job_id"])

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(submit, range(1000)))
    by_key: dict[str, set[str]] = {}
    for key, job_id in answers:
        by_key.setdefault(key, set()).add(job_id)
    assert all(len(ids) == 1 for ids in by_key.values()), by_key
    jobs = {next(iter(ids)) for ids in by_key.values()}
    assert len(jobs) == 50
    assert client.get("/api/backtest/jobs", params={"limit": 1000}).json()["data"]["total"] == 50
    _later(monkeypatch, seconds=60)  # past the 30 s dedup window
    for key in keys:
        assert _run(client, key).json()["job_id"] == next(iter(by_key[key]))


# -- 7. headers, CORS, gzip ----------------------------------------------------------------


def test_security_headers_on_api_and_ui_answers(client: TestClient) -> None:
    api = client.get("/api/health")
    assert api.headers["x-content-type-options"] == "nosniff"
    assert api.headers["referrer-policy"] == "no-referrer"
    assert api.headers["content-security-policy"].startswith("default-src 'none'")
    error = client.get("/api/nowhere")
    assert error.status_code == 404 and error.headers["x-content-type-options"] == "nosniff"
    ui = client.get("/")
    if ui.headers.get("content-type", "").startswith("text/html"):
        csp = ui.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp


def test_cors_answers_only_the_allowed_origins(client: TestClient) -> None:
    preflight = {"Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "Authorization, Idempotency-Key"}  # fmt: skip
    ok = client.options("/api/backtest/run",
                        headers={"Origin": "https://lab.example.com", **preflight})  # fmt: skip
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "https://lab.example.com"
    evil = client.get("/api/health", headers={"Origin": "https://evil.example.com"})
    assert "access-control-allow-origin" not in evil.headers


def test_no_cors_by_default(tmp_path: Path, demo_data_dir: Path) -> None:
    p = bootstrap(make_settings(tmp_path, f"sqlite:///{tmp_path}/q.db", demo_data_dir))
    try:
        with TestClient(create_app(p.settings, p)) as c:
            res = c.get("/api/health", headers={"Origin": "https://lab.example.com"})
            assert "access-control-allow-origin" not in res.headers
    finally:
        p.close()


def test_large_json_is_gzipped(client: TestClient) -> None:
    for i in range(40):
        client.post(f"/api/backtest/strategies/s{i}", json={"code": CODE, "description": "d" * 50})
    res = client.get("/api/backtest/strategies", headers={"Accept-Encoding": "gzip"})
    assert res.headers["content-encoding"] == "gzip"
    assert res.json()["total"] == 41  # (httpx decoded it)
    assert int(res.headers["content-length"]) < len(res.content) / 3


def test_operation_ids_are_the_route_names(app: FastAPI) -> None:
    ids = [op["operationId"] for path in app.openapi()["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids)) > 25
    assert {"run", "job_status", "job_result", "login", "list_strategies"} <= set(ids)
    assert not [i for i in ids if "_api_" in i]


def test_a_huge_user_id_is_a_400(client: TestClient) -> None:
    res = client.patch("/api/admin/users/99999999999999999999", json={"disabled": True})
    assert "less than or equal to" in _error(res, 400)
