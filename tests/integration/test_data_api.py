"""The routes the web UI reads (catalog, run options, last runs, positions, trades, files) and
the UI itself served at ``/`` with its SPA fallback."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from quantdesk.api import create_app
from quantdesk.api.web import WebUI
from quantdesk.services.platform import Platform
from tests.fixtures.platform import drain

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RUN = {
    "strategy_id": "sma", "start_date": "2010-01-04", "end_date": "2011-12-30",
    "universe": ["AAPL"], "benchmark": "SPX", "params": {"fast": 5, "slow": 20},
}  # fmt: skip


def _finished_job(client: Any, platform: Platform) -> str:
    code = (EXAMPLES / "sma_crossover.py").read_text()
    assert client.post("/api/backtest/strategies/sma", json={"code": code}).status_code == 200
    job_id: str = client.post("/api/backtest/run", json=RUN).json()["job_id"]
    assert drain(platform) == 1
    assert client.get(f"/api/backtest/jobs/{job_id}").json()["status"] == "FINISHED"
    return job_id


def test_instruments_list_the_catalog_with_ranges_and_counts(admin_client: Any) -> None:
    body = admin_client.get("/api/data/instruments").json()
    assert body["ok"] is True
    rows = {r["order_book_id"]: r for r in body["data"]["instruments"]}
    assert body["data"]["total"] == len(rows) and "AAPL" in rows and "SPX" in rows
    aapl = rows["AAPL"]
    assert aapl["first_bar"] <= "2005-01-03" and aapl["last_bar"] >= "2012-12-31"
    assert aapl["bar_count"] > 2000 and aapl["market"] == "us"


def test_bars_are_columns_in_the_range_and_errors_use_the_contract_body(
    admin_client: Any,
) -> None:
    res = admin_client.get(
        "/api/data/instruments/AAPL/bars", params={"start": "2010-01-04", "end": "2010-01-08"}
    )
    data = res.json()["data"]
    assert data["dates"] == ["2010-01-04", "2010-01-05", "2010-01-06", "2010-01-07", "2010-01-08"]
    assert all(len(data[k]) == 5 for k in ("open", "high", "low", "close", "volume"))
    assert all(lo <= hi for lo, hi in zip(data["low"], data["high"], strict=True))
    adjusted = admin_client.get(
        "/api/data/instruments/AAPL/bars",
        params={"start": "2010-01-04", "end": "2010-01-04", "adjust": "pre"},
    ).json()["data"]
    assert adjusted["adjust"] == "pre" and adjusted["close"][0] != data["close"][0]
    missing = admin_client.get("/api/data/instruments/NOPE/bars")
    assert missing.status_code == 404 and missing.json()["ok"] is False
    assert "unknown order_book_id" in missing.json()["error"]["message"]
    bad = admin_client.get("/api/data/instruments/AAPL/bars", params={"start": "2010-13-01"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "INVALID_ARGUMENT"
    assert admin_client.get("/api/data/instruments/AAPL/bars?adjust=x").status_code == 400


def test_reads_need_a_login(client: Any) -> None:
    for path in ("/api/data/instruments", "/api/backtest/options", "/api/backtest/last-runs"):
        res = client.get(path)
        assert res.status_code == 401 and res.json()["error"]["code"] == "UNAUTHORIZED"


def test_run_options_name_markets_engines_and_frequencies(admin_client: Any) -> None:
    data = admin_client.get("/api/backtest/options").json()["data"]
    assert data["frequencies"] == ["1d"]
    assert data["engines"][0] == "auto" and "native" in data["engines"]
    markets = {m["name"]: m for m in data["markets"]}
    assert markets["us_stock"]["benchmark"] == "SPX"
    assert markets["cn_stock"]["min_commission"] == 5.0
    assert data["matchings"] == ["current_bar", "next_bar"]


def test_a_finished_job_serves_last_runs_positions_trades_and_files(
    admin_client: Any, platform: Platform
) -> None:
    assert admin_client.get("/api/backtest/last-runs").json()["data"] == {"last_runs": {}}
    job_id = _finished_job(admin_client, platform)
    last = admin_client.get("/api/backtest/last-runs").json()["data"]["last_runs"]
    assert last["sma"]["job_id"] == job_id and last["sma"]["status"] == "FINISHED"

    info = admin_client.get(f"/api/backtest/jobs/{job_id}/run-info").json()["data"]
    assert info["request"]["universe"] == ["AAPL"] and info["symbols"] == ["AAPL"]
    assert info["config"]["matching"] == "current_bar" and "sharpe" in info["conventions"]

    result = admin_client.get(f"/api/backtest/jobs/{job_id}/result").json()
    pos = admin_client.get(f"/api/backtest/jobs/{job_id}/positions?page_size=5").json()["data"]
    assert pos["total"] > 5 and len(pos["positions"]) == 5 and "order_book_id" in pos["columns"]
    assert pos["positions"][0]["date"] >= pos["positions"][-1]["date"]  # newest first
    one_day = pos["positions"][0]["date"]
    only = admin_client.get(f"/api/backtest/jobs/{job_id}/positions?date={one_day}").json()
    assert {p["date"] for p in only["data"]["positions"]} == {one_day}

    trades = admin_client.get(f"/api/backtest/jobs/{job_id}/trades?symbol=AAPL&page_size=3")
    page = trades.json()["data"]
    assert page["total"] == result["trades_total"] > 3 and len(page["trades"]) == 3
    assert page["trades"] == result["trades"][:3]
    none = admin_client.get(f"/api/backtest/jobs/{job_id}/trades?symbol=IBM").json()["data"]
    assert none["total"] == 0

    res = admin_client.get(f"/api/backtest/jobs/{job_id}/files/trades.csv")
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/csv")
    assert "attachment" in res.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(res.text)))
    assert len(rows) == result["trades_total"] and rows[0]["order_book_id"] == "AAPL"
    full = admin_client.get(f"/api/backtest/jobs/{job_id}/files/result.json")
    assert json.loads(full.content)["summary"] == result["summary"]


@pytest.mark.usefixtures("platform")
def test_job_reads_are_per_user_and_wait_for_the_result(admin_client: Any, client: Any) -> None:
    code = (EXAMPLES / "sma_crossover.py").read_text()
    admin_client.post("/api/backtest/strategies/sma", json={"code": code})
    job_id = admin_client.post("/api/backtest/run", json=RUN).json()["job_id"]
    queued = admin_client.get(f"/api/backtest/jobs/{job_id}/positions")
    assert queued.status_code == 409 and queued.json()["error"]["code"] == "RESULT_NOT_READY"
    info = admin_client.get(f"/api/backtest/jobs/{job_id}/run-info").json()["data"]
    assert info["status"] == "QUEUED" and info["config"] is None
    admin_client.post(
        "/api/admin/users",
        json={"mobile": "13900000001", "password": "other-pass-1", "role": "researcher"},
    )
    other = TestClient(client.app, raise_server_exceptions=False)
    login = other.post("/api/login", data={"mobile": "13900000001", "password": "other-pass-1"})
    other.headers["Authorization"] = login.json()["token"]
    for path in ("run-info", "positions", "trades", "files/trades.csv", "files/result.json"):
        res = other.get(f"/api/backtest/jobs/{job_id}/{path}")
        assert res.status_code == 404, path
    assert other.get("/api/backtest/last-runs").json()["data"]["last_runs"] == {}


@pytest.fixture
def built_ui(tmp_path: Path) -> Path:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><div id=root></div>")
    (dist / "assets" / "app.js").write_text("console.log(1)")
    return dist


def test_the_ui_is_served_at_root_with_spa_fallback(client: Any, built_ui: Path) -> None:
    ui = TestClient(WebUI(client.app, built_ui), raise_server_exceptions=False)
    for path in ("/", "/strategies/sma", "/jobs/abc/result"):
        res = ui.get(path)
        assert res.status_code == 200 and "<div id=root>" in res.text, path
    asset = ui.get("/assets/app.js")
    assert asset.text == "console.log(1)" and "immutable" in asset.headers["cache-control"]
    assert ui.get("/../../etc/passwd").text.startswith("<!doctype html>")
    # The API keeps its JSON errors: unknown routes 404, wrong methods 405.
    res = ui.get("/api/nope")
    assert res.status_code == 404 and res.json()["error"]["code"] == "NOT_FOUND"
    assert ui.post("/api/nope").status_code == 404
    assert ui.post("/api/backtest/jobs/x").status_code == 405
    assert ui.get("/api/health").json()["ok"] is True
    assert ui.get("/openapi.json").json()["info"]["title"] == "quantdesk"


def test_without_a_build_the_page_says_how_to_build(platform: Platform, tmp_path: Path) -> None:
    app = create_app(platform.settings, platform)
    ui = TestClient(WebUI(app, tmp_path / "nothing"), raise_server_exceptions=False)
    res = ui.get("/strategies")
    assert res.status_code == 503 and "make web" in res.text and "npm" in res.text
