"""Strategy metadata, versions (pinned runs), parameter schema and the template library."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from quantdesk.services.platform import Platform
from tests.fixtures.platform import drain

RUN = {"start_date": "2010-01-04", "end_date": "2010-06-30", "universe": ["AAPL"]}


@pytest.fixture
def client(admin_client: TestClient) -> TestClient:
    """Every test here acts as the local admin."""
    return admin_client


def test_templates_metadata_versions_and_pinned_runs(
    client: TestClient, platform: Platform
) -> None:
    templates = client.get("/api/backtest/templates").json()["data"]["templates"]
    ids = [t["id"] for t in templates]
    assert ids == [
        "bt_sma_crossover", "buy_and_hold", "csi300_timing", "momentum_rotation",
        "sma_crossover", "sma_crossover_fast",
    ]  # fmt: skip
    sma = next(t for t in templates if t["id"] == "sma_crossover")
    assert sma["params_schema"] == [{"name": "fast", "type": "int", "default": 10},
                                    {"name": "slow", "type": "int", "default": 30}]  # fmt: skip
    made = client.post(
        "/api/backtest/strategies/mine/from-template", json={"template": "sma_crossover"}
    )
    assert made.status_code == 200 and made.json()["data"]["version"] == 1
    again = client.post(
        "/api/backtest/strategies/mine/from-template", json={"template": "sma_crossover"}
    )
    assert again.status_code == 409
    unknown = client.post("/api/backtest/strategies/x/from-template", json={"template": "nope"})
    assert unknown.status_code == 400 and "sma_crossover" in unknown.json()["error"]["message"]

    v2_code = sma["code"].replace(
        'PARAMS = {"fast": 10, "slow": 30}', 'PARAMS = {"fast": 5, "slow": 20}'
    )
    meta = {"name": "My SMA", "description": "faster", "tags": ["trend", "demo"]}
    saved = client.post("/api/backtest/strategies/mine", json={"code": v2_code, **meta})
    assert saved.json()["data"]["version"] == 2
    got = client.get("/api/backtest/strategies/mine").json()
    assert (got["name"], got["description"], got["tags"]) == ("My SMA", "faster", ["demo", "trend"])
    assert got["params_schema"][0] == {"name": "fast", "type": "int", "default": 5}
    listing = client.get("/api/backtest/strategies").json()["strategies"][0]
    assert listing["name"] == "My SMA" and listing["version"] == 2
    versions = client.get("/api/backtest/strategies/mine/versions").json()["data"]["versions"]
    assert [v["version"] for v in versions] == [2, 1]
    old = client.get("/api/backtest/strategies/mine/versions/1").json()["data"]
    assert old["code"] == sma["code"] and old["params_schema"][0]["default"] == 10
    assert client.get("/api/backtest/strategies/mine/versions/9").status_code == 404
    bad = client.post("/api/backtest/strategies/mine", json={"code": "#", "tags": "x"})
    assert bad.status_code == 400

    pinned = client.post(
        "/api/backtest/run", json={**RUN, "strategy_id": "mine", "version": 1}
    ).json()["job_id"]
    latest = client.post("/api/backtest/run", json={**RUN, "strategy_id": "mine"}).json()["job_id"]
    assert pinned != latest
    drain(platform)
    fast10 = client.get(f"/api/backtest/jobs/{pinned}/result").json()["summary"]
    fast5 = client.get(f"/api/backtest/jobs/{latest}/result").json()["summary"]
    assert fast10["trade_count"] != fast5["trade_count"]  # the pinned code really ran
    missing = client.post("/api/backtest/run", json={**RUN, "strategy_id": "mine", "version": 7})
    assert missing.status_code == 404
    client.post("/api/backtest/strategies/mine/rename", json={"to_id": "renamed"})
    assert [
        v["version"]
        for v in client.get("/api/backtest/strategies/renamed/versions").json()["data"]["versions"]
    ] == [2, 1]
