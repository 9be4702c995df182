"""The HTTP contract (``../shared/seeds/000_*.txt``): bodies and status codes, on SQLite and
PostgreSQL, with jobs run by the real worker code in real subprocesses."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from quantdesk.core.clock import utcnow
from quantdesk.services.auth import hash_password, key_id
from quantdesk.services.platform import Platform
from quantdesk.storage import users as user_store
from tests.fixtures.platform import TEST_SECRET, drain

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SMA = (EXAMPLES / "sma_crossover.py").read_text()
ADMIN = {"mobile": "13800138000", "password": "pass123456"}
RUN = {"strategy_id": "sma", "start_date": "2010-01-04", "end_date": "2010-12-31",
       "universe": ["AAPL"], "benchmark": "SPX"}  # fmt: skip


def login(
    client: TestClient, mobile: str = ADMIN["mobile"], password: str = ADMIN["password"]
) -> dict[str, str]:
    res = client.post("/api/login", data={"mobile": mobile, "password": password})
    assert res.status_code == 200, res.text
    return {"Authorization": res.json()["token"]}


def assert_error(res: Any, status: int, code: str, fragment: str = "") -> None:
    assert res.status_code == status, res.text
    body = res.json()
    assert body["ok"] is False
    assert body["error"]["code"] == code
    assert fragment in body["error"]["message"]


def add_user(platform: Platform, user_id: int, mobile: str, password: str) -> None:
    with platform.db.write() as session:
        user_store.upsert(session, user_id=user_id, mobile=mobile,
                          password_hash=hash_password(password), is_admin=False,
                          role="researcher", now=utcnow())  # fmt: skip


# -- auth ----------------------------------------------------------------------------------


def test_login_returns_token_userid_is_admin(client: TestClient) -> None:
    res = client.post("/api/login", data=ADMIN)
    assert res.status_code == 200
    body = res.json()
    assert body["userid"] == 1 and body["is_admin"] is True and body["token"]
    token = body["token"]
    for header in (token, f"Bearer {token}"):
        ok = client.get("/api/backtest/strategies", headers={"Authorization": header})
        assert ok.status_code == 200, header
    assert client.post("/api/login", json=ADMIN).status_code == 200  # JSON accepted too


def test_login_and_auth_failures(client: TestClient) -> None:
    assert_error(client.post("/api/login", data={**ADMIN, "password": "nope"}), 401,
                 "UNAUTHORIZED", "invalid mobile or password")  # fmt: skip
    assert_error(client.post("/api/login", data={"mobile": "1"}), 400, "INVALID_ARGUMENT")
    assert_error(client.get("/api/backtest/strategies"), 401, "UNAUTHORIZED", "missing")
    bad = client.get("/api/backtest/strategies", headers={"Authorization": "Bearer xyz"})
    assert_error(bad, 401, "UNAUTHORIZED", "invalid token")
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    claims = {"sub": "1", "iat": past - dt.timedelta(hours=1), "exp": past, "typ": "access",
              "ver": 0}  # fmt: skip
    expired = jwt.encode(claims, TEST_SECRET, algorithm="HS256",
                         headers={"kid": key_id(TEST_SECRET)})  # fmt: skip
    res = client.get("/api/backtest/strategies", headers={"Authorization": expired})
    assert_error(res, 401, "UNAUTHORIZED", "expired")


def test_unknown_routes_and_methods_answer_json(client: TestClient) -> None:
    assert_error(client.get("/api/nope"), 404, "NOT_FOUND", "no route GET /api/nope")
    assert_error(client.delete("/api/login"), 405, "METHOD_NOT_ALLOWED")
    assert client.get("/docs").status_code == 200
    assert "/api/backtest/run" in client.get("/openapi.json").json()["paths"]


# -- strategies ----------------------------------------------------------------------------


def test_strategy_save_list_get(client: TestClient, platform: Platform) -> None:
    h = login(client)
    assert client.get("/api/backtest/strategies", headers=h).json() == {
        "strategies": [],
        "total": 0,
    }
    for sid in ("alpha", "beta", "策略-1"):
        res = client.post(f"/api/backtest/strategies/{sid}", headers=h, json={"code": f"# {sid}\n"})
        assert res.status_code == 200 and res.json()["ok"] is True
        time.sleep(0.01)
    listing = client.get("/api/backtest/strategies", headers=h).json()
    assert listing["total"] == 3
    assert [s["id"] for s in listing["strategies"]] == ["策略-1", "beta", "alpha"]  # updated desc
    assert listing["strategies"][0]["size"] == len("# 策略-1\n".encode())
    client.post("/api/backtest/strategies/alpha", headers=h, json={"code": "# new\n"})
    listing = client.get("/api/backtest/strategies?limit=2&offset=0", headers=h).json()
    assert [s["id"] for s in listing["strategies"]] == ["alpha", "策略-1"] and listing["total"] == 3
    assert client.get("/api/backtest/strategies?q=et", headers=h).json()["total"] == 1
    assert client.get("/api/backtest/strategies?limit=9999", headers=h).status_code == 200
    assert_error(client.get("/api/backtest/strategies?limit=0", headers=h), 400, "INVALID_ARGUMENT")
    got = client.get("/api/backtest/strategies/alpha", headers=h).json()
    assert got["code"] == "# new\n" and got["created_at"] < got["updated_at"]
    code_file = platform.settings.backtest_base_dir / "strategies" / "alpha.py"
    assert code_file.read_text() == "# new\n"  # the contract's layout


def test_legacy_strategy_files_have_null_created_at(client: TestClient, platform: Platform) -> None:
    folder = platform.settings.backtest_base_dir / "strategies"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "legacy.py").write_text("def init(context):\n    pass\n")
    h = login(client)
    (item,) = client.get("/api/backtest/strategies", headers=h).json()["strategies"]
    assert item["id"] == "legacy" and item["created_at"] is None and item["updated_at"]
    assert client.get("/api/backtest/strategies/legacy", headers=h).json()["code"].startswith("def")


def test_strategy_errors(client: TestClient) -> None:
    h = login(client)
    assert_error(client.get("/api/backtest/strategies/missing", headers=h), 404, "NOT_FOUND")
    assert_error(client.post("/api/backtest/strategies/bad%20id", headers=h, json={"code": ""}),
                 400, "INVALID_ARGUMENT", "strategy_id contains invalid characters")  # fmt: skip
    assert_error(client.post(f"/api/backtest/strategies/{'x' * 65}", headers=h, json={"code": ""}),
                 400, "INVALID_ARGUMENT", "at most 64")  # fmt: skip
    assert_error(client.post("/api/backtest/strategies/ok", headers=h, json={"code": 5}),
                 400, "INVALID_ARGUMENT", "code")  # fmt: skip
    broken = client.post(
        "/api/backtest/strategies/ok",
        headers={**h, "Content-Type": "application/json"},
        content=b"{",
    )
    assert_error(broken, 400, "INVALID_ARGUMENT", "not valid JSON")


def test_users_do_not_see_each_other(client: TestClient, platform: Platform) -> None:
    add_user(platform, 2, "13900000000", "other-password")
    admin, other = login(client), login(client, "13900000000", "other-password")
    client.post("/api/backtest/strategies/sma", headers=admin, json={"code": SMA})
    assert client.get("/api/backtest/strategies", headers=other).json()["total"] == 0
    assert_error(client.get("/api/backtest/strategies/sma", headers=other), 404, "NOT_FOUND")
    job_id = client.post("/api/backtest/run", headers=admin, json=RUN).json()["job_id"]
    for path in ("", "/result", "/log"):
        assert_error(
            client.get(f"/api/backtest/jobs/{job_id}{path}", headers=other), 404, "NOT_FOUND"
        )
    assert_error(client.post("/api/backtest/run", headers=other, json=RUN), 404, "NOT_FOUND")
    # the same id is free for the other user, in its own folder
    client.post("/api/backtest/strategies/sma", headers=other, json={"code": "# mine\n"})
    assert client.get("/api/backtest/strategies/sma", headers=admin).json()["code"] == SMA


# -- jobs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "status", "code", "fragment"),
    [
        ({"strategy_id": "bad id"}, 400, "INVALID_ARGUMENT", "strategy_id"),
        ({"strategy_id": "absent"}, 404, "NOT_FOUND", "strategy 'absent' not found"),
        ({"start_date": "2010/01/04"}, 400, "INVALID_ARGUMENT", "start_date"),
        ({"end_date": "2009-12-31"}, 400, "INVALID_ARGUMENT", "end_date must be on or after"),
        ({"frequency": "1m"}, 400, "INVALID_ARGUMENT", "frequency must be one of 1d"),
        ({"cash": 0}, 400, "INVALID_ARGUMENT", "cash: Input should be greater than 0"),
        ({"cash": "lots"}, 400, "INVALID_ARGUMENT", "cash"),
        ({"benchmark": "  "}, 400, "INVALID_ARGUMENT", "benchmark must be a non-empty string"),
        ({"universe": ["AAPX"]}, 400, "INVALID_ARGUMENT", "unknown order_book_id 'AAPX'"),
        (
            {"start_date": "2015-01-05", "end_date": "2015-02-02"},
            400,
            "DATA_UNAVAILABLE",
            "outside",
        ),
        ({"market": "moon"}, 400, "INVALID_ARGUMENT", "unknown market"),
        ({"engine": "zipline"}, 400, "INVALID_ARGUMENT", "unknown engine 'zipline'"),
        ({"colour": "red"}, 400, "INVALID_ARGUMENT", "colour"),
    ],
)
@pytest.mark.usefixtures("platform")
def test_run_validates_before_enqueueing(
    client: TestClient, change: dict[str, Any], status: int, code: str,
    fragment: str,
) -> None:  # fmt: skip
    h = login(client)
    client.post("/api/backtest/strategies/sma", headers=h, json={"code": SMA})
    assert_error(
        client.post("/api/backtest/run", headers=h, json={**RUN, **change}), status, code, fragment
    )
    assert client.get("/api/health").json()["data"]["jobs"] == {}  # nothing was enqueued


@pytest.mark.usefixtures("platform")
def test_dedup_window(client: TestClient) -> None:
    h = login(client)
    client.post("/api/backtest/strategies/sma", headers=h, json={"code": SMA})
    first = client.post("/api/backtest/run", headers=h, json=RUN).json()["job_id"]
    assert client.post("/api/backtest/run", headers=h, json=RUN).json()["job_id"] == first
    other = client.post("/api/backtest/run", headers=h, json={**RUN, "cash": 5e4}).json()["job_id"]
    assert other != first
    client.post("/api/backtest/strategies/sma", headers=h, json={"code": SMA + "\n# v2\n"})
    assert client.post("/api/backtest/run", headers=h, json=RUN).json()["job_id"] != first


def test_job_lifecycle_result_and_log(client: TestClient, platform: Platform) -> None:
    h = login(client)
    client.post("/api/backtest/strategies/sma", headers=h, json={"code": SMA})
    job_id = client.post("/api/backtest/run", headers=h, json=RUN).json()["job_id"]
    assert len(job_id) == 32
    status = client.get(f"/api/backtest/jobs/{job_id}", headers=h).json()
    assert (status["status"], status["error"], status["error_message"]) == ("QUEUED", None, None)
    assert_error(
        client.get(f"/api/backtest/jobs/{job_id}/result", headers=h), 409, "RESULT_NOT_READY"
    )
    folder = next((platform.settings.backtest_base_dir / "runs").glob(f"*/{job_id}"))
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.yml", "job_meta.json", "run.log", "status.json", "strategy.py",
    ]  # fmt: skip
    assert (platform.settings.backtest_base_dir / "runs_index" / f"{job_id}.json").is_file()
    assert drain(platform) == 1
    status = client.get(f"/api/backtest/jobs/{job_id}", headers=h).json()
    assert status["status"] == "FINISHED" and status["progress"] == 100.0
    assert status["attempts"] == 1 and status["total_bars"] == 252
    result = client.get(f"/api/backtest/jobs/{job_id}/result", headers=h).json()
    for key in ("summary", "equity", "trades", "trade_columns", "trades_total", "raw_keys"):
        assert key in result
    assert set(result["equity"]) == {"dates", "nav", "returns", "benchmark_nav"}
    assert len(result["equity"]["dates"]) == 252
    assert result["trades_total"] == len(result["trades"]) == result["summary"]["trade_count"]
    page = client.get(f"/api/backtest/jobs/{job_id}/result?page=2&page_size=3", headers=h).json()
    assert (
        page["trades"] == result["trades"][3:6] and page["trades_total"] == result["trades_total"]
    )
    assert_error(
        client.get(f"/api/backtest/jobs/{job_id}/result?page=0", headers=h), 400, "INVALID_ARGUMENT"
    )
    assert (folder / "extracted.json").is_file() and (folder / "trades.csv").is_file()
    log = client.get(f"/api/backtest/jobs/{job_id}/log", headers=h)
    assert log.headers["content-type"].startswith("text/plain")
    assert "=== attempt 1" in log.text and "finished on native" in log.text
    size = len(log.text.encode())
    part = client.get(f"/api/backtest/jobs/{job_id}/log?offset=10", headers=h).json()
    assert part == {"content": log.text.encode()[10:].decode(), "offset": 10,
                    "next_offset": size, "size": size}  # fmt: skip
    tail = client.get(f"/api/backtest/jobs/{job_id}/log?tail=20", headers=h).json()
    assert tail["offset"] == size - 20 and tail["content"] == log.text.encode()[-20:].decode()
    assert_error(
        client.get(f"/api/backtest/jobs/{job_id}/log?offset=-1", headers=h), 400, "INVALID_ARGUMENT"
    )
    # a corrupt or missing result file is a 500, never a traceback
    (folder / "extracted.json").write_text("{not json")
    assert_error(
        client.get(f"/api/backtest/jobs/{job_id}/result", headers=h),
        500,
        "INTERNAL_ERROR",
        "corrupt",
    )
    (folder / "extracted.json").unlink()
    assert_error(
        client.get(f"/api/backtest/jobs/{job_id}/result", headers=h), 500, "INTERNAL_ERROR"
    )
    assert_error(client.get("/api/backtest/jobs/0123/result", headers=h), 404, "NOT_FOUND")


def test_the_contracts_example_run_body_runs_as_written(
    client: TestClient, platform: Platform
) -> None:
    # Regression: the body of the contract's "提交回测" example (benchmark 000300.XSHG, no
    # market, no universe) was refused with DATA_UNAVAILABLE: the market defaulted to us_stock.
    h = login(client)
    client.post("/api/backtest/strategies/demo", headers=h, json={"code": SMA})
    body = {"strategy_id": "demo", "start_date": "2020-01-01", "end_date": "2020-12-31",
            "cash": 100000, "benchmark": "000300.XSHG", "frequency": "1d"}  # fmt: skip
    res = client.post("/api/backtest/run", headers=h, json=body)
    assert res.status_code == 200, res.text
    job_id = res.json()["job_id"]
    assert drain(platform) == 1
    status = client.get(f"/api/backtest/jobs/{job_id}", headers=h).json()
    assert status["status"] == "FINISHED", status
    result = client.get(f"/api/backtest/jobs/{job_id}/result", headers=h).json()
    summary, dates = result["summary"], result["equity"]["dates"]
    assert summary["market"] == "cn_stock" and summary["benchmark"] == "000300.XSHG"
    assert (dates[0], dates[-1], len(dates)) == ("2020-01-02", "2020-12-31", 243)  # XSHG 2020


def test_a_config_key_the_run_cannot_honour_is_a_400(client: TestClient) -> None:
    h = login(client)
    code = '__config__ = {"mod": {"sys_simulation": {"slippage": 0.01}}}\n' + SMA
    client.post("/api/backtest/strategies/cfg", headers=h, json={"code": code})
    res = client.post("/api/backtest/run", headers=h, json={**RUN, "strategy_id": "cfg"})
    assert_error(res, 400, "INVALID_ARGUMENT", "__config__ key mod.sys_simulation.slippage")


def test_failing_strategy_and_timeout(client: TestClient, platform: Platform) -> None:
    h = login(client)
    boom = "def handle_bar(context, bar_dict):\n    raise ValueError('bad signal')\n"
    client.post("/api/backtest/strategies/boom", headers=h, json={"code": boom})
    job_id = client.post(
        "/api/backtest/run", headers=h, json={**RUN, "strategy_id": "boom"}
    ).json()["job_id"]
    drain(platform)
    status = client.get(f"/api/backtest/jobs/{job_id}", headers=h).json()
    assert status["status"] == "FAILED"
    assert status["error"]["code"] == "STRATEGY_ERROR"
    assert "ValueError: bad signal" in status["error"]["message"]
    assert status["error_message"] == status["error"]["message"]
    log = client.get(f"/api/backtest/jobs/{job_id}/log", headers=h).text
    assert 'File "strategy.py", line 2, in handle_bar' in log and "site-packages" not in log
    # a second submission of a FAILED job is not deduplicated
    again = client.post("/api/backtest/run", headers=h, json={**RUN, "strategy_id": "boom"})
    assert again.json()["job_id"] != job_id
    drain(platform)

    slow = "import time\n\ndef handle_bar(context, bar_dict):\n    time.sleep(0.5)\n"
    client.post("/api/backtest/strategies/slow", headers=h, json={"code": slow})
    job_id = client.post(
        "/api/backtest/run", headers=h, json={**RUN, "strategy_id": "slow"}
    ).json()["job_id"]
    platform.settings = platform.settings.model_copy(update={"backtest_timeout": 1.5})
    started = time.monotonic()
    drain(platform)
    assert time.monotonic() - started < 10
    status = client.get(f"/api/backtest/jobs/{job_id}", headers=h).json()
    assert status["status"] == "FAILED"
    assert status["error"] == {"code": "BACKTEST_TIMEOUT",
                               "message": "backtest timeout after 1.5s; see run.log"}  # fmt: skip
    folder = next((platform.settings.backtest_base_dir / "runs").glob(f"*/{job_id}"))
    assert json.loads((folder / "status.json").read_text())["status"] == "FAILED"


def test_concurrent_identical_submissions_make_one_job(platform: Platform) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from quantdesk.services.auth import Principal
    from quantdesk.services.backtests import RunRequest

    admin = Principal(1, True, "admin")
    platform.strategies.save(admin, "sma", SMA)
    request = RunRequest.model_validate({**RUN, "universe": ["AAPL"], "benchmark": "SPX"})
    with ThreadPoolExecutor(max_workers=50) as pool:
        ids = list(pool.map(lambda _: platform.backtests.submit(admin, request), range(50)))
    assert len(set(ids)) == 1
    assert platform.backtests.counts() == {"QUEUED": 1}
    runs = list((platform.settings.backtest_base_dir / "runs").glob("*/*"))
    index = list((platform.settings.backtest_base_dir / "runs_index").glob("*.json"))
    assert [p.name for p in runs] == [p.stem for p in index] == ids[:1]  # no stray folders
