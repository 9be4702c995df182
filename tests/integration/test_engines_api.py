"""``engine`` through the service: ``POST /api/backtest/run`` on native, rqalpha and
backtrader, run by the real worker code in real job subprocesses."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from quantdesk.services.platform import Platform, bootstrap
from tests.fixtures.platform import drain, make_settings
from tests.fixtures.rqalpha import rqalpha_command

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SMA = (EXAMPLES / "sma_crossover.py").read_text()
BT_SMA = (EXAMPLES / "bt_sma_crossover.py").read_text()
RUN = {"strategy_id": "sma", "start_date": "2010-01-04", "end_date": "2010-12-31",
       "universe": ["AAPL"], "benchmark": "SPX"}  # fmt: skip

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _run(client: Any, platform: Platform, **change: Any) -> dict[str, Any]:
    job_id = client.post("/api/backtest/run", json={**RUN, **change}).json()["job_id"]
    drain(platform)
    status = client.get(f"/api/backtest/jobs/{job_id}").json()
    return {"job_id": job_id, "status": status}


@sqlite_only
def test_rqalpha_job_gives_the_native_result(admin_client: Any, platform: Platform) -> None:
    if platform.settings.rqalpha_command is None:
        rqalpha_command()  # skips (or fails under CI) with the reason
    admin_client.post("/api/backtest/strategies/sma", json={"code": SMA})
    rq = _run(admin_client, platform, engine="rqalpha")
    assert rq["status"]["status"] == "FINISHED", rq
    native = _run(admin_client, platform, engine="native")
    got = admin_client.get(f"/api/backtest/jobs/{rq['job_id']}/result").json()
    ref = admin_client.get(f"/api/backtest/jobs/{native['job_id']}/result").json()
    assert got["summary"]["engine"] == "rqalpha"
    assert got["summary"]["engine_version"] == "6.4.2"
    assert ref["summary"]["engine"] == "native"
    assert got["summary"]["total_value"] == pytest.approx(ref["summary"]["total_value"], rel=1e-9)
    assert got["trades_total"] == ref["trades_total"] > 0
    folder = next(platform.settings.backtest_base_dir.resolve().glob(f"runs/*/{rq['job_id']}"))
    assert (folder / "result.pkl").is_file() and (folder / "extracted.json").is_file()
    assert not (folder / "rqalpha" / "bundle").exists()  # rebuilt on demand, not kept
    log = admin_client.get(f"/api/backtest/jobs/{rq['job_id']}/log").text
    assert "finished on rqalpha 6.4.2" in log


@sqlite_only
def test_backtrader_job_runs_in_the_sandbox(admin_client: Any, platform: Platform) -> None:
    """``examples/bt_sma_crossover.py`` on engine backtrader, forked by the worker's fork
    server into the sandbox (the template preloaded backtrader)."""
    admin_client.post("/api/backtest/strategies/bt_sma", json={"code": BT_SMA})
    job = _run(admin_client, platform, strategy_id="bt_sma", engine="backtrader",
               matching="next_bar", params={"fast": 10, "slow": 30})  # fmt: skip
    status = job["status"]
    assert status["status"] == "FINISHED", status
    # The level the worker's self-test found (every layer as root, as CI runs).
    assert status["sandbox_level"] == ("strong" if os.geteuid() == 0 else "standard"), status
    res = admin_client.get(f"/api/backtest/jobs/{job['job_id']}/result").json()
    assert res["summary"]["engine"] == "backtrader"
    assert res["trades_total"] > 0
    log = admin_client.get(f"/api/backtest/jobs/{job['job_id']}/log").text
    assert "finished on backtrader" in log


@sqlite_only
def test_engine_is_auto_detected_and_recorded(admin_client: Any, platform: Platform) -> None:
    admin_client.post("/api/backtest/strategies/sma", json={"code": SMA})
    job = _run(admin_client, platform)
    assert job["status"]["status"] == "FINISHED"
    res = admin_client.get(f"/api/backtest/jobs/{job['job_id']}/result").json()
    assert res["summary"]["engine"] == "native"


@sqlite_only
def test_unknown_engine_is_a_400(admin_client: Any) -> None:
    admin_client.post("/api/backtest/strategies/sma", json={"code": SMA})
    res = admin_client.post("/api/backtest/run", json={**RUN, "engine": "zipline"})
    assert res.status_code == 400
    assert res.json()["error"]["code"] == "INVALID_ARGUMENT"
    assert "zipline" in res.json()["error"]["message"]


@contextlib.contextmanager
def _admin_client(settings: Any) -> Iterator[tuple[Any, Platform]]:
    """A logged-in client over a platform built from ``settings``."""
    from fastapi.testclient import TestClient

    from quantdesk.api import create_app

    platform = bootstrap(settings)
    try:
        with TestClient(create_app(settings, platform), raise_server_exceptions=False) as client:
            login = {"mobile": "13800138000", "password": "pass123456"}
            client.headers["Authorization"] = client.post("/api/login", data=login).json()["token"]
            client.post("/api/backtest/strategies/sma", json={"code": SMA})
            yield client, platform
    finally:
        platform.close()


@sqlite_only
def test_rqalpha_unavailable_fails_the_job_clearly(
    tmp_path: Path, database_url: str, demo_data_dir: Path
) -> None:
    settings = make_settings(
        tmp_path, database_url, demo_data_dir, rqalpha_command="/nonexistent/rqalpha"
    )
    with _admin_client(settings) as (client, platform):
        job = _run(client, platform, engine="rqalpha")
    assert job["status"]["status"] == "FAILED"
    assert job["status"]["error"]["code"] == "ENGINE_UNAVAILABLE"
    assert "RQALPHA_COMMAND" in job["status"]["error"]["message"]


@sqlite_only
def test_rqalpha_timeout_uses_the_contracts_code(
    tmp_path: Path, database_url: str, demo_data_dir: Path
) -> None:
    command = rqalpha_command()
    # RQAlpha alone needs seconds to import: a 1 s budget always runs out.
    settings = make_settings(
        tmp_path, database_url, demo_data_dir, rqalpha_command=command, backtest_timeout=1.0
    )
    with _admin_client(settings) as (client, platform):
        job = _run(client, platform, engine="rqalpha")
    assert job["status"]["status"] == "FAILED"
    assert job["status"]["error"] == {
        "code": "RQALPHA_TIMEOUT",
        "message": "rqalpha timeout after 1s; see run.log",
    }
