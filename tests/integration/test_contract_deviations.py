"""The contract's last deviations and the small asks of seeds 001/003, one HTTP test each.

Every test runs on SQLite and PostgreSQL (the ``database_url`` fixture) through the real
worker code (``drain``: each job forked into the sandbox).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from quantdesk.api import create_app
from quantdesk.backtest.engines.rqalpha.bundle import build_bundle
from quantdesk.backtest.engines.rqalpha.convert import load_result
from quantdesk.backtest.run import prepare_backtest
from quantdesk.core.settings import Settings
from quantdesk.engine import BarSeries
from quantdesk.services.platform import Platform, bootstrap
from tests.fixtures.platform import drain, logged_in, make_settings
from tests.fixtures.rqalpha import rqalpha_command

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SMA = (EXAMPLES / "sma_crossover.py").read_text()
BT_SMA = (EXAMPLES / "bt_sma_crossover.py").read_text()
RUN = {"strategy_id": "sma", "start_date": "2010-01-04", "end_date": "2010-12-31",
       "universe": ["AAPL"], "benchmark": "SPX"}  # fmt: skip


def run_job(client: TestClient, platform: Platform, **body: Any) -> dict[str, Any]:
    """Submit ``RUN`` with ``body``'s changes, run it, return its status."""
    res = client.post("/api/backtest/run", json={**RUN, **body})
    assert res.status_code == 200, res.text
    drain(platform)
    status: dict[str, Any] = client.get(f"/api/backtest/jobs/{res.json()['job_id']}").json()
    return status


def job_folder(platform: Platform, job_id: str) -> Path:
    base = platform.settings.backtest_base_dir.resolve()
    return next(base.glob(f"runs/*/{job_id}"))


# -- 1. result.pkl for every engine ----------------------------------------------------------


@pytest.mark.parametrize(("engine", "code"), [("native", SMA), ("backtrader", BT_SMA)])
def test_every_engine_writes_an_rqalpha_shaped_result_pkl(
    admin_client: TestClient, platform: Platform, engine: str, code: str
) -> None:
    admin_client.post("/api/backtest/strategies/sma", json={"code": code})
    job = run_job(admin_client, platform, engine=engine)
    assert job["status"] == "FINISHED", job
    result = admin_client.get(f"/api/backtest/jobs/{job['job_id']}/result").json()
    pkl = job_folder(platform, job["job_id"]) / "result.pkl"
    data = load_result(pkl)  # the allow-list unpickler: pandas, numpy and builtins only
    assert {"summary", "portfolio", "trades", "stock_account", "stock_positions"} <= set(data)
    assert "benchmark_portfolio" in data
    summary = data["summary"]
    assert summary["engine"] == engine == result["summary"]["engine"]
    assert summary["total_returns"] == pytest.approx(result["summary"]["total_returns"])
    portfolio = data["portfolio"]
    assert isinstance(portfolio.index, pd.DatetimeIndex)
    assert {"cash", "total_value", "market_value", "unit_net_value", "units",
            "static_unit_net_value"} <= set(portfolio.columns)  # fmt: skip
    assert len(portfolio) == result["summary"]["trading_days"]
    assert portfolio["unit_net_value"].iloc[-1] == pytest.approx(
        result["summary"]["unit_net_value"]
    )
    trades = data["trades"]
    assert len(trades) == result["trades_total"] > 0
    assert {"order_book_id", "side", "last_price", "last_quantity", "commission", "tax",
            "transaction_cost", "position_effect", "exec_id"} <= set(trades.columns)  # fmt: skip
    assert set(trades["side"]) <= {"BUY", "SELL"}
    fills = admin_client.get(f"/api/backtest/jobs/{job['job_id']}/result").json()["trades"]
    assert trades["last_price"].tolist() == pytest.approx([f["price"] for f in fills])


# -- 2. cleanup on every creation: tests/integration/test_task_management.py --------------------


# -- 3. RQALPHA_BUNDLE_PATH --------------------------------------------------------------------


class _DoubledPrices:
    """A bar source whose prices are twice the catalog's (a bundle that is visibly not ours)."""

    def __init__(self, source: Any) -> None:
        self._source = source

    def __getattr__(self, name: str) -> Any:
        return getattr(self._source, name)

    def bars(self, order_book_id: str, end: Any) -> BarSeries:
        bars: BarSeries = self._source.bars(order_book_id, end)
        two = {k: np.asarray(getattr(bars, k)) * 2.0 for k in ("open", "high", "low", "close")}
        return BarSeries(
            order_book_id=bars.order_book_id, dates=bars.dates, volume=bars.volume,
            factor=bars.factor, limit_up=None, limit_down=None, **two,
        )  # fmt: skip


def test_rqalpha_runs_on_the_bundle_named_by_rqalpha_bundle_path(
    tmp_path: Path, database_url: str, demo_data_dir: Path, demo_catalog: Any
) -> None:
    command = rqalpha_command()
    prepared = prepare_backtest(
        SMA, catalog=demo_catalog, start="2010-01-04", end="2010-12-31", universe=["AAPL"],
        benchmark="SPX", engine="rqalpha",
    )  # fmt: skip
    bundle = tmp_path / "downloaded-bundle"
    ids = [*prepared.config.universe, "SPX"]
    build_bundle(bundle, _DoubledPrices(prepared.bar_source()), prepared.config, ids)
    settings = make_settings(
        tmp_path, database_url, demo_data_dir, rqalpha_command=command,
        rqalpha_bundle_path=bundle,
    )  # fmt: skip
    with logged_in(settings) as (client, platform):
        client.post("/api/backtest/strategies/sma", json={"code": SMA})
        rq = run_job(client, platform, engine="rqalpha")
        native = run_job(client, platform, engine="native")
        assert rq["status"] == native["status"] == "FINISHED", rq
        got = client.get(f"/api/backtest/jobs/{rq['job_id']}/result").json()
        ref = client.get(f"/api/backtest/jobs/{native['job_id']}/result").json()
        assert got["summary"]["rqalpha_bundle"] == str(bundle)
        assert "rqalpha_bundle" not in ref["summary"]
        # the same signals on prices twice as high: RQAlpha read the given bundle
        first, base = got["trades"][0], ref["trades"][0]
        assert first["datetime"][:10] == base["datetime"][:10]
        assert first["price"] == pytest.approx(2 * base["price"], rel=1e-4)
        log = client.get(f"/api/backtest/jobs/{rq['job_id']}/log").text
        assert f"rqalpha data bundle: {bundle}" in log

    broken = make_settings(
        tmp_path / "b", database_url, demo_data_dir, rqalpha_command=command,
        rqalpha_bundle_path=tmp_path / "no-bundle-here",
    )  # fmt: skip
    with logged_in(broken) as (client, platform):
        client.post("/api/backtest/strategies/sma", json={"code": SMA})
        failed = run_job(client, platform, engine="rqalpha", cash=123456)
    assert failed["status"] == "FAILED"
    assert failed["error"]["code"] == "ENGINE_UNAVAILABLE"
    assert "RQALPHA_BUNDLE_PATH" in failed["error"]["message"]


# -- 4. BACKTEST_RENAME_DB_PATH ---------------------------------------------------------------


def test_rename_db_path_is_accepted_and_logged_once(
    tmp_path: Path, database_url: str, demo_data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(
        tmp_path, database_url, demo_data_dir, backtest_rename_db_path=str(tmp_path / "m.db")
    )
    with caplog.at_level(logging.INFO), logged_in(settings) as (client, _platform):
        client.post("/api/backtest/strategies/old", json={"code": SMA})
        res = client.post("/api/backtest/strategies/old/rename", json={"to_id": "new"})
        assert res.status_code == 200, res.text
        assert client.get("/api/backtest/strategy-renames").json()["data"]["map"] == {"old": "new"}
    notes = [r.getMessage() for r in caplog.records if "BACKTEST_RENAME_DB_PATH" in r.getMessage()]
    assert len(notes) == 1 and "main database" in notes[0]
    assert not (tmp_path / "m.db").exists()


# -- 5. compile: one body shape, a malformed body included -----------------------------------


@pytest.mark.parametrize("raw", [b"zzz", b"[1]", b"1", b'"code"', b"{"])
def test_compile_with_a_malformed_body_has_the_unified_shape(
    admin_client: TestClient, raw: bytes
) -> None:
    admin_client.post("/api/backtest/strategies/demo", json={"code": SMA})
    res = admin_client.post(
        "/api/backtest/strategies/demo/compile",
        content=raw, headers={"Content-Type": "application/json"},
    )  # fmt: skip
    body = res.json()
    assert res.status_code == 400
    assert {"ok", "stdout", "stderr", "diagnostics", "error"} <= set(body)
    assert body["ok"] is False and body["diagnostics"] == [] and body["stdout"] == ""
    assert body["error"]["code"] == "INVALID_ARGUMENT" and body["stderr"]


# -- 6. a result file without some fields ----------------------------------------------------


def test_a_result_lacking_fields_answers_empty_structures(
    admin_client: TestClient, platform: Platform
) -> None:
    admin_client.post("/api/backtest/strategies/sma", json={"code": SMA})
    job = run_job(admin_client, platform)
    extracted = job_folder(platform, job["job_id"]) / "extracted.json"
    extracted.write_text(json.dumps({"summary": {"total_returns": 0.1}}), encoding="utf-8")
    res = admin_client.get(f"/api/backtest/jobs/{job['job_id']}/result")
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["summary"] == {"total_returns": 0.1}
    assert body["trades"] == [] and body["trades_total"] == 0
    assert body["equity"] == {"dates": [], "nav": [], "returns": [], "benchmark_nav": []}
    assert body["trade_columns"] == [] and body["raw_keys"] == []
    paged = admin_client.get(f"/api/backtest/jobs/{job['job_id']}/result?page=1&page_size=5")
    assert paged.status_code == 200 and paged.json()["trades"] == []
    extracted.write_text(json.dumps({"trades": {"not": "a list"}, "equity": [1]}), "utf-8")
    body = admin_client.get(f"/api/backtest/jobs/{job['job_id']}/result").json()
    assert body["summary"] == {} and body["trades"] == [] and body["equity"]["nav"] == []
    (job_folder(platform, job["job_id"]) / "result.json").write_text("{}", encoding="utf-8")
    perf = admin_client.get(f"/api/backtest/jobs/{job['job_id']}/performance")
    assert perf.status_code == 200, perf.text
    assert perf.json()["trades"] == [] and perf.json()["portfolio"] == []
    # a missing or unreadable file stays a 500
    extracted.write_text("{not json", encoding="utf-8")
    res = admin_client.get(f"/api/backtest/jobs/{job['job_id']}/result")
    assert res.status_code == 500 and res.json()["error"]["code"] == "INTERNAL_ERROR"
    extracted.unlink()
    assert admin_client.get(f"/api/backtest/jobs/{job['job_id']}/result").status_code == 500


# -- 7. CJK ids: every CJK Unified Ideographs block -------------------------------------------


@pytest.mark.parametrize(
    "strategy_id",
    [
        "\U00020000ext",  # Extension B
        "\u3400\u4e00\u9fff",  # Extension A, the main block
        "\U0002a700\U0002b740\U0002b820\U0002ceb0\U0002ebf0",  # Extensions C, D, E, F, I
        "\U00030000\U00031350",  # Extensions G, H
        "\U00020000" * 64,  # 64 characters of 4 UTF-8 bytes: longer than a file name may be
    ],
)
def test_ids_from_every_cjk_block_are_accepted(
    admin_client: TestClient, platform: Platform, strategy_id: str
) -> None:
    res = admin_client.post(f"/api/backtest/strategies/{strategy_id}", json={"code": SMA})
    assert res.status_code == 200, res.text
    got = admin_client.get(f"/api/backtest/strategies/{strategy_id}")
    assert got.status_code == 200 and got.json()["code"] == SMA
    job = run_job(admin_client, platform, strategy_id=strategy_id)
    assert job["status"] == "FINISHED" and job["strategy_id"] == strategy_id
    renamed = admin_client.post(
        f"/api/backtest/strategies/{strategy_id}/rename", json={"to_id": f"{strategy_id[:60]}-v2"}
    )
    assert renamed.status_code == 200, renamed.text
    listed = admin_client.get("/api/backtest/strategies").json()["strategies"]
    assert f"{strategy_id[:60]}-v2" in [s["id"] for s in listed]


@pytest.mark.parametrize("strategy_id", ["a b", "\u20ac", "\U0001f600", "\U00020000" * 65])
def test_non_cjk_symbols_and_long_ids_are_still_refused(
    admin_client: TestClient, strategy_id: str
) -> None:
    res = admin_client.post(f"/api/backtest/strategies/{strategy_id}", json={"code": SMA})
    assert res.status_code == 400 and res.json()["error"]["code"] == "INVALID_ARGUMENT"


# -- 8. .env.wsgi ------------------------------------------------------------------------------


def test_settings_are_read_from_env_wsgi_after_env(
    tmp_path: Path,
    database_url: str,
    demo_data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("LOCAL_AUTH_MOBILE", "LOCAL_AUTH_PASSWORD", "BACKTEST_KEEP_DAYS"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / ".env").write_text(
        "LOCAL_AUTH_MOBILE=13900000000\nBACKTEST_KEEP_DAYS=5\n", encoding="utf-8"
    )
    (tmp_path / ".env.wsgi").write_text(
        "LOCAL_AUTH_MOBILE=13911112222\nLOCAL_AUTH_PASSWORD=wsgi-pass-123\n", encoding="utf-8"
    )
    base = make_settings(tmp_path, database_url, demo_data_dir)
    from_files = ("local_auth_mobile", "local_auth_password", "backtest_keep_days")
    explicit = {k: v for k, v in base.model_dump().items() if k not in from_files}
    settings = Settings(**explicit)  # reads ./.env, then ./.env.wsgi
    assert settings.local_auth_mobile == "13911112222"  # .env.wsgi wins over .env
    assert settings.backtest_keep_days == 5  # what only .env sets still applies
    platform = bootstrap(settings)
    try:
        with TestClient(create_app(settings, platform), raise_server_exceptions=False) as client:
            res = client.post(
                "/api/login", data={"mobile": "13911112222", "password": "wsgi-pass-123"}
            )
            assert res.status_code == 200, res.text
    finally:
        platform.close()


# -- seed 001: inline strategy_code ------------------------------------------------------------


def test_inline_strategy_code_runs_as_a_snapshotted_inline_job(
    admin_client: TestClient, platform: Platform
) -> None:
    body = {k: v for k, v in RUN.items() if k != "strategy_id"}
    res = admin_client.post(
        "/api/backtest/run", json={**body, "strategy_code": SMA, "strategy_name": "快速 SMA"}
    )
    assert res.status_code == 200, res.text
    job_id = res.json()["job_id"]
    drain(platform)
    status = admin_client.get(f"/api/backtest/jobs/{job_id}").json()
    assert status["status"] == "FINISHED", status
    assert status["inline"] is True and status["strategy_id"] is None
    assert status["strategy_name"] == "快速 SMA"
    assert (job_folder(platform, job_id) / "strategy.py").read_text(encoding="utf-8") == SMA
    listed = admin_client.get("/api/backtest/jobs").json()["data"]["jobs"]
    assert [j["inline"] for j in listed if j["job_id"] == job_id] == [True]
    assert admin_client.get("/api/backtest/strategies").json()["total"] == 0  # not saved
    result = admin_client.get(f"/api/backtest/jobs/{job_id}/result").json()
    assert result["summary"]["strategy_name"] == "快速 SMA" and result["trades_total"] > 0
    retried = admin_client.post(f"/api/backtest/jobs/{job_id}/retry")
    assert retried.status_code == 200, retried.text
    drain(platform)
    again = admin_client.get(f"/api/backtest/jobs/{retried.json()['job_id']}").json()
    assert again["status"] == "FINISHED" and again["inline"] is True

    refused = [
        ({**body, "strategy_code": "def init(context):\n    x = (\n"}, "syntax error at line"),
        ({**body, "strategy_code": "   "}, "strategy_code is empty"),
        ({**body, "strategy_code": "#" * 1_000_001}, "larger than"),
        ({**RUN, "strategy_code": SMA}, "not both"),
        (body, "strategy_id is required"),
    ]
    for payload, message in refused:
        res = admin_client.post("/api/backtest/run", json=payload)
        assert res.status_code == 400, (message, res.text)
        assert message in res.json()["error"]["message"]


# -- seed 003: sort by name, params schema, PUT ------------------------------------------------


def test_job_list_sorts_by_strategy_name_then_id(admin_client: TestClient) -> None:
    for sid, name in (("s1", "Zeta"), ("s2", "alpha"), ("s3", ""), ("s4", "Beta")):
        res = admin_client.post(f"/api/backtest/strategies/{sid}", json={"code": SMA, "name": name})
        assert res.status_code == 200, res.text
    ids = {}
    for sid in ("s1", "s2", "s3", "s4"):
        ids[sid] = admin_client.post("/api/backtest/run", json={**RUN, "strategy_id": sid}).json()[
            "job_id"
        ]
    jobs = admin_client.get("/api/backtest/jobs?order_by=name&order=asc").json()["data"]["jobs"]
    # names compare as text ("Beta" < "Zeta" < "alpha"); unnamed s3 sorts by its id
    assert [j["strategy_id"] for j in jobs] == ["s4", "s1", "s2", "s3"]
    assert [j["strategy_name"] for j in jobs] == ["Beta", "Zeta", "alpha", ""]
    desc = admin_client.get("/api/backtest/jobs?order_by=name&order=desc").json()["data"]["jobs"]
    assert [j["strategy_id"] for j in desc] == ["s3", "s2", "s1", "s4"]


def test_params_schema_endpoint_and_put_update(admin_client: TestClient) -> None:
    code = 'PARAMS = {"fast": 10, "slow": 30, "name": "x"}\n\ndef init(context):\n    pass\n'
    res = admin_client.put("/api/backtest/strategies/p1", json={"code": code, "name": "P"})
    assert res.status_code == 200, res.text
    params = admin_client.get("/api/backtest/strategies/p1/params")
    assert params.status_code == 200, params.text
    schema = params.json()["data"]
    assert schema["strategy_id"] == "p1"
    assert [p["name"] for p in schema["params"]] == ["fast", "slow", "name"]
    assert schema["params"][0]["default"] == 10 and schema["params"][0]["type"] == "int"
    res = admin_client.put(
        "/api/backtest/strategies/p1", json={"code": "def init(context):\n    pass\n"}
    )
    assert res.status_code == 200
    assert admin_client.get("/api/backtest/strategies/p1/params").json()["data"]["params"] == []
    got = admin_client.get("/api/backtest/strategies/p1").json()
    assert got["version"] == 2 and got["name"] == "P"
    assert admin_client.get("/api/backtest/strategies/nope/params").status_code == 404
    bad = admin_client.put("/api/backtest/strategies/p1", json={"code": 5})
    assert bad.status_code == 400
